"""The one small interface every remote backend implements.

A remote stores objects under the same layout as the cache:

    <root>/objects/xxh128/ab/cdef...

so a remote is a plain copy of (part of) a cache, readable with `ls` and
`aws s3 ls`.  `packs/pack-<id>.pack` and `.idx` beside `objects/` hold
small objects many to a file, the same two files the cache keeps
(gitmodel/pack.py); an object counts as on the remote when it is there
loose or named by a pack index.  `meta/` holds small control files (gc's lock).

The rules every backend keeps:
- `put` makes an object visible under its final name only when it is
  complete (temp + rename on a filesystem; a single PUT or a completed
  multipart upload on S3).  A backend may defer publication to `flush()`
  (batched durability on a filesystem); the caller calls `flush()` before it
  relies on what it put, and before it uploads a manifest.
- `get` streams the object's bytes into a sink (the cache's ObjectWriter,
  which hashes while it writes and refuses a mismatch); it never verifies or
  names anything itself.
- Failures worth retrying raise `TransientRemoteError`; an absent object
  raises `ObjectMissingError`; a problem the user must fix (bad credentials,
  no such bucket, unreachable endpoint) raises `RemoteError` with one line
  saying which and how to fix it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Iterator
from typing import Protocol

from gitmodel.store import oid as oidmod
from gitmodel.errors import RemoteError

OBJECTS = "objects"
PACKS = "packs"
META = "meta"  # small control files beside objects/ (the remote gc lock): meta/<name>


class Sink(Protocol):
    """Where `get` streams an object (gitmodel.cache.ObjectWriter)."""

    def write(self, data: bytes | memoryview) -> None: ...


class TransientRemoteError(RemoteError):
    """A failure that may pass on its own (a dropped connection, a timeout,
    a throttled request): the transfer retries the object with backoff."""
# Written on the remote by `gitmodel gc -r` after it deletes; a push that sees it
# change drops its local record of what the remote holds (known.KnownObjects).
GC_MARKER = "gc/last.json"


def object_key(oid: str) -> str:
    """`objects/xxh128/ab/cdef...`: the object's path below a remote root."""
    return f"{OBJECTS}/{oidmod.relpath(oid)}"


def pack_key(packid: str, ext: str) -> str:
    """`packs/pack-<id>.pack` or `.idx`: a pack file's path below a remote root."""
    return f"{PACKS}/pack-{packid}.{ext}"


def oid_from_key(key: str) -> str | None:
    """The oid stored under `.../objects/<algo>/ab/cdef...`, or None for
    anything else (temp files, foreign files)."""
    parts = key.rsplit("/", 3)
    if len(parts) < 3:
        return None
    algo, shard, rest = parts[-3], parts[-2], parts[-1]
    oid = f"{algo}:{shard}{rest}"
    return oid if len(shard) == 2 and oidmod.is_valid(oid) else None


class Remote(ABC):
    """One remote store.  Methods are called from many threads at once."""

    kind: str = ""
    default_jobs: int = 8

    def __init__(self, name: str, display: str) -> None:
        self.name = name  # the name in the config ("origin")
        self.display = display  # the URL with any credentials redacted

    @property
    def where(self) -> str:
        """How messages name this remote."""
        return f"remote '{self.name}' ({self.display})"

    @property
    @abstractmethod
    def identity(self) -> str:
        """What makes two configurations the same store (URL, endpoint):
        the local record of known objects is dropped when it changes."""

    @abstractmethod
    def exists_many(self, oids: Collection[str], jobs: int) -> set[str]:
        """Which of `oids` the remote holds (batched: per-object queries or a
        listing, whichever is cheaper for the count)."""

    @abstractmethod
    def list_oids(self) -> Iterator[str]:
        """Every object the remote holds."""

    @abstractmethod
    def put(self, oid: str, path: str, size: int) -> None:
        """Upload the (complete, verified) cache file `path` as `oid`."""

    @abstractmethod
    def put_bytes(self, oid: str, data: bytes) -> None:
        """Upload a small object held in memory (one read out of a local pack),
        the same way `put` uploads a small file: `flush` publishes it."""

    def flush(self) -> None:
        """Publish and make durable whatever `put` deferred."""

    @abstractmethod
    def get(self, oid: str, sink: Sink) -> None:
        """Stream the object's bytes into `sink`."""

    def local_file(self, oid: str) -> str | None:
        """A path the object can be copied from in the kernel (a folder
        remote), or None; large downloads then take the cache's in-kernel
        copy, verified before the object gets its name."""
        return None

    # -- packs (pack.py): a pack is uploaded whole, its index last ----------
    @abstractmethod
    def list_packs(self) -> list[str]:
        """Ids of the packs whose index is on the remote (a pack without its
        index is an unfinished upload and does not count)."""

    @abstractmethod
    def read_pack_index(self, packid: str) -> bytes:
        """The index file of one pack (raises ObjectMissingError when absent)."""

    @abstractmethod
    def put_pack(self, packid: str, pack_path: str, idx_data: bytes) -> None:
        """Upload a local pack: the .pack first, complete under its final name,
        then the index; each visible only when complete."""

    @abstractmethod
    def get_range(self, packid: str, offset: int, size: int) -> bytes:
        """`size` bytes of a pack from `offset` (one object, or the whole pack)."""

    @abstractmethod
    def delete_pack(self, packid: str) -> None:
        """Remove a pack, index first (gc of the remote)."""

    @abstractmethod
    def list_pack_stats(self) -> Iterator[tuple[str, str, int, float]]:
        """(pack id, "pack" or "idx", size, modification time) of every pack
        file, indexed or not (gc: the grace period, unfinished uploads)."""

    @abstractmethod
    def delete(self, oid: str) -> None:
        """Remove one object (gc of the remote; never driven by the local record)."""

    @abstractmethod
    def list_stats(self) -> Iterator[tuple[str, int, float]]:
        """(oid, size, modification time) of every object (gc's grace period)."""

    @abstractmethod
    def read_meta(self, name: str) -> bytes | None:
        """The control file `meta/<name>`, or None when there is none."""

    @abstractmethod
    def write_meta(self, name: str, data: bytes, exclusive: bool = False) -> bool:
        """Write `meta/<name>` whole.  With `exclusive`, only when it does not
        exist yet: returns False when it does (as atomically as the store allows;
        callers that need certainty read it back)."""

    @abstractmethod
    def delete_meta(self, name: str) -> None:
        """Remove `meta/<name>` (absent is fine)."""

    def close(self) -> None:
        """Drop connections and temp files."""
