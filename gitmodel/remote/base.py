"""The one small byte-level interface every remote backend implements.

A backend is a key store: it puts, gets, stats, lists and deletes byte
strings under `/`-separated keys below its root, and knows nothing of
objects, packs or gc.  What the keys mean (gitmodel/remote/layout.py: the
object and pack keys, when to list instead of probe, the gc marker) is
written once above every backend, as in restic.  One conformance suite
(tests/test_remote_conformance.py) runs every case against every backend.

The contract:
- `put_file` / `put_bytes` make a key visible only when its value is
  complete (temp + rename on a filesystem; a single PUT or a completed
  multipart upload on an object store).  A backend may defer publication
  to `flush()` (batched durability on a filesystem) unless `sync` is set,
  in which case the key is visible and durable when the call returns (the
  layout relies on that to publish a pack before its index).
- `put_bytes(..., exclusive=True)` writes only when the key does not exist
  and returns False when it does, as atomically as the store allows.
- `get` streams a value into a sink (the cache's ObjectWriter, which
  hashes while it writes and refuses a mismatch); `get_range` returns a
  slice, cut short (not an error) at the value's end.  Neither verifies or
  names anything.
- `list(prefix)` yields every complete key under `prefix` (never a temp
  file) with its size and modification time (None when the store cannot
  tell; never a made-up 0).  Its output is untrusted: the layout checks
  every key it parses.
- `delete` of an absent key is not an error.
- An absent key raises `KeyMissingError`; failures worth retrying raise
  `TransientRemoteError`; a problem the user must fix (bad credentials, no
  such bucket, unreachable endpoint) raises `RemoteError` with one line
  saying which and how to fix it.

Methods are called from many threads at once.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

from gitmodel.errors import ObjectMissingError, RemoteError


class Sink(Protocol):
    """Where `get` streams a value (gitmodel.store.cache.ObjectWriter)."""

    def write(self, data: bytes | memoryview) -> None: ...


class TransientRemoteError(RemoteError):
    """A failure that may pass on its own (a dropped connection, a timeout,
    a throttled request): the transfer retries the object with backoff."""


class KeyMissingError(ObjectMissingError):
    """The key is not in the store (the layout names what it meant by it)."""


@dataclass(frozen=True)
class Stat:
    key: str  # below the backend's root, `/`-separated
    size: int
    mtime: float | None  # seconds since the epoch; None: the store does not say


class Backend(ABC):
    """One key store (a folder, an S3 prefix, an fsspec filesystem)."""

    kind: str = ""
    default_jobs: int = 8
    # The layout's list-or-probe decision (layout.Remote.exists_many) uses these:
    probe_limit: int = 64  # up to this many keys, probe each without estimating the store's size
    keys_per_probe: float = 500.0  # keys one listing request yields for the cost of one probe
    probes_overlap: bool = True  # probes run `jobs` at a time (a network store), not one after another

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
    def put_file(self, key: str, path: str, size: int, *, sync: bool = False) -> None:
        """Store the (complete, verified) local file `path` under `key`."""

    @abstractmethod
    def put_bytes(self, key: str, data: bytes, *, sync: bool = False, exclusive: bool = False) -> bool:
        """Store `data` under `key`; with `exclusive`, only when the key is
        absent (returns False when it exists; callers that need certainty
        read it back).  Returns True when written."""

    def flush(self) -> None:  # noqa: B027 (a no-op for backends that never defer a put)
        """Publish and make durable whatever a put deferred."""

    @abstractmethod
    def get(self, key: str, sink: Sink) -> None:
        """Stream the value of `key` into `sink`."""

    @abstractmethod
    def get_range(self, key: str, offset: int, size: int) -> bytes:
        """`size` bytes of `key` from `offset` (fewer at the value's end)."""

    @abstractmethod
    def stat(self, key: str) -> Stat | None:
        """The key's size and modification time, or None when absent."""

    def exists_many(self, keys: Collection[str], jobs: int) -> set[str]:
        """Which of `keys` exist, one probe each (`jobs` at a time)."""
        keys = list(keys)
        if len(keys) <= 1:
            return {k for k in keys if self.stat(k) is not None}
        with ThreadPoolExecutor(max(1, min(jobs, len(keys)))) as pool:
            return {k for k, st in zip(keys, pool.map(self.stat, keys)) if st is not None}

    @abstractmethod
    def list(self, prefix: str, limit: int | None = None) -> Iterator[Stat]:
        """Every complete key under `prefix` (`limit`: at most about that many)."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove `key` (absent is fine)."""

    def local_file(self, key: str) -> str | None:
        """A path the value can be copied from in the kernel (a folder
        remote), or None; large downloads then take the cache's in-kernel
        copy, verified before the object gets its name."""
        return None

    def close(self) -> None:  # noqa: B027 (a no-op for backends that hold nothing open)
        """Drop connections and temp files."""
