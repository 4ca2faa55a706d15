"""What a remote's keys mean, written once above every backend.

A remote stores objects under the same layout as the cache:

    <root>/objects/xxh128/ab/cdef...

so a remote is a plain copy of (part of) a cache, readable with `ls` and
`aws s3 ls`.  `packs/pack-<id>.pack` and `.idx` beside `objects/` hold
small objects many to a file, the same two files the cache keeps
(gitmodel/store/pack.py); an object counts as on the remote when it is
there loose or named by a pack index.  `meta/` holds small control files
(gc's lock, the gc marker, one record per repository that pushes here).

`Remote` is what push, fetch, fsck and gc talk to; a `Backend`
(gitmodel/remote/base.py) is what it talks to.  A remote's listing is
untrusted input: every key is parsed and checked here, sizes and times
too, and whatever does not parse is skipped.
"""

from __future__ import annotations

import math
import os
import random
import time
from collections.abc import Collection, Iterator

from gitmodel.errors import GitmodelError, ObjectMissingError
from gitmodel.platform import faults
from gitmodel.remote.base import Backend, KeyMissingError, Sink, Stat
from gitmodel.store import chunks
from gitmodel.store import oid as oidmod
from gitmodel.store import pack as packmod

OBJECTS = "objects"
PACKS = "packs"
META = "meta"  # small control files beside objects/ (the remote gc lock): meta/<name>
# Written on the remote by `gitmodel gc -r` after it deletes; a push that sees it
# change drops its local record of what the remote holds (known.KnownObjects).
GC_MARKER = "gc/last.json"
# One small file per repository that pushes here (gitmodel.remote.sharing):
# meta/repos/<id>.json.  gc -r reads them all and refuses a shared remote.
REPOS = "repos"
SHARDS = 256  # objects/<algo>/<00..ff>/: one shard's listing estimates the whole


def object_key(oid: str) -> str:
    """`objects/xxh128/ab/cdef...`: the object's key below a remote root."""
    # Plain concatenation for xxh128 oids: this runs once per object, 20,000 times for a dataset.
    return f"{OBJECTS}/{oid[:6]}/{oid[7:9]}/{oid[9:]}" if oid[6:7] == ":" else f"{OBJECTS}/{oidmod.relpath(oid)}"


def list_key(oid: str) -> str:
    """`chunked/xxh128/ab/cdef...`: the key of a chunked file's chunk list."""
    return f"{chunks.FOLDER}/{oidmod.relpath(oid)}"


def pack_key(packid: str, ext: str) -> str:
    """`packs/pack-<id>.pack` or `.idx`: a pack file's key below a remote root."""
    return f"{PACKS}/{packmod.name_of(packid, ext)}"


def meta_key(name: str) -> str:
    if not name or name.startswith("/") or ".." in name.split("/"):
        raise ValueError(f"bad meta name {name!r}")
    return f"{META}/{name}"


def is_repository_id(repo_id: str) -> bool:
    """32 lowercase hex digits: what gitmodel.remote.sharing makes."""
    return len(repo_id) == 32 and all(c in "0123456789abcdef" for c in repo_id)


def repository_name(repo_id: str) -> str:
    """The meta name of a repository's record (`repos/<id>.json`)."""
    if not is_repository_id(repo_id):
        raise ValueError(f"bad repository id {repo_id!r}")
    return f"{REPOS}/{repo_id}.json"


def oid_from_key(key: str) -> str | None:
    """The oid stored under `.../objects/<algo>/ab/cdef...`, or None for
    anything else (temp files, foreign files)."""
    parts = key.rsplit("/", 3)
    if len(parts) < 3:
        return None
    algo, shard, rest = parts[-3], parts[-2], parts[-1]
    oid = f"{algo}:{shard}{rest}"
    return oid if len(shard) == 2 and oidmod.is_valid(oid) else None


def _checked(st: Stat, now: float) -> tuple[int, float] | None:
    """(size, mtime) of a listed key, or None when the listing makes no sense.
    A store that gives no time, or a time that is not a number, gets `now`:
    gc's grace period then keeps the key rather than guess it old."""
    if not isinstance(st.size, int) or st.size < 0:
        return None
    mtime = st.mtime
    if mtime is None or not isinstance(mtime, (int, float)) or not math.isfinite(mtime) or mtime <= 0:
        mtime = now
    return st.size, float(mtime)


class Remote:
    """One remote: the layout over one backend.  Called from many threads."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.name = backend.name
        self.display = backend.display
        self.kind = backend.kind
        self.default_jobs = backend.default_jobs

    @property
    def where(self) -> str:
        return self.backend.where

    @property
    def identity(self) -> str:
        return self.backend.identity

    # -- loose objects ----------------------------------------------------------------
    def exists_many(self, oids: Collection[str], jobs: int) -> set[str]:
        """Which of `oids` the remote holds loose: a probe per object, or one
        listing of the remote, whichever costs fewer requests for the count
        (one shard's listing estimates the remote's size)."""
        oids = list(oids)
        if not oids:
            return set()
        b = self.backend
        if len(oids) > b.probe_limit:
            shard = f"{OBJECTS}/{oidmod.ALGO}/{random.randrange(SHARDS):02x}/"
            estimate = sum(1 for _ in b.list(shard, limit=1000)) * SHARDS
            probe_rounds = len(oids) / (max(jobs, 1) if b.probes_overlap else 1)
            if estimate / b.keys_per_probe + 1 <= probe_rounds:
                have = set(self.list_oids())
                return {o for o in oids if o in have}
        keys = {object_key(o): o for o in oids}
        return {keys[k] for k in b.exists_many(list(keys), jobs) if k in keys}

    def list_oids(self) -> Iterator[str]:
        """Every object the remote holds loose."""
        for st in self.backend.list(f"{OBJECTS}/"):
            oid = oid_from_key(st.key)
            if oid:
                yield oid

    def list_stats(self) -> Iterator[tuple[str, int, float]]:
        """(oid, size, modification time) of every loose object (gc's grace period)."""
        now = time.time()
        for st in self.backend.list(f"{OBJECTS}/"):
            oid = oid_from_key(st.key)
            checked = _checked(st, now) if oid else None
            if oid and checked:
                yield oid, *checked

    def put(self, oid: str, path: str, size: int) -> None:
        """Upload the (complete, verified) cache file `path` as `oid`; `flush` publishes it."""
        self.backend.put_file(object_key(oid), path, size)

    def put_bytes(self, oid: str, data: bytes) -> None:
        """Upload a small object held in memory (one read out of a local pack)."""
        self.backend.put_bytes(object_key(oid), data)

    def flush(self) -> None:
        """Publish and make durable whatever `put` deferred: the caller calls
        it before it relies on what it put, and before it uploads a manifest."""
        self.backend.flush()

    def get(self, oid: str, sink: Sink) -> None:
        """Stream the object's bytes into `sink` (which verifies them)."""
        try:
            self.backend.get(object_key(oid), sink)
        except KeyMissingError:
            raise ObjectMissingError(f"object {oid} is not on {self.where}") from None

    def local_file(self, oid: str) -> str | None:
        return self.backend.local_file(object_key(oid))

    def delete(self, oid: str) -> None:
        """Remove one object (gc of the remote; never driven by the local record)."""
        self.backend.delete(object_key(oid))

    # -- packs (store/pack.py): uploaded whole, the index last ---------------------------
    def list_pack_stats(self) -> Iterator[tuple[str, str, int, float]]:
        """(pack id, "pack" or "idx", size, modification time) of every pack
        file, indexed or not (gc: the grace period, unfinished uploads)."""
        now = time.time()
        for st in self.backend.list(f"{PACKS}/"):
            head, _, name = st.key.rpartition("/")
            named = packmod.split_name(name) if head == PACKS else None
            checked = _checked(st, now) if named else None
            if named and checked:
                yield *named, *checked

    def list_packs(self) -> list[str]:
        """Ids of the packs whose index is on the remote (a pack without its
        index is an unfinished upload and does not count)."""
        return sorted({p for p, ext, _, _ in self.list_pack_stats() if ext == "idx"})

    def read_pack_index(self, packid: str) -> bytes:
        """The index file of one pack (ObjectMissingError when absent)."""
        try:
            return self._read_whole(pack_key(packid, "idx"))
        except KeyMissingError:
            raise ObjectMissingError(f"pack {packid} is not on {self.where}") from None

    def put_pack(self, packid: str, pack_path: str, idx_data: bytes) -> None:
        """The .pack complete and durable under its final name, then the
        index: a pack without its index does not count, so a killed upload
        is redone by the next push."""
        b = self.backend
        idx = pack_key(packid, "idx")
        if b.stat(idx) is not None:
            return  # complete already (another clone pushed the same objects)
        b.put_file(pack_key(packid, "pack"), pack_path, os.stat(pack_path).st_size, sync=True)
        faults.point("remote:pack-before-index")
        b.put_bytes(idx, idx_data, sync=True)

    def get_range(self, packid: str, offset: int, size: int) -> bytes:
        """`size` bytes of a pack from `offset` (one object, a span, or the
        whole pack); cut short at the pack's end, which the caller's hash
        check refuses."""
        if size <= 0:
            return b""
        try:
            return self.backend.get_range(pack_key(packid, "pack"), offset, size)
        except KeyMissingError:
            raise ObjectMissingError(f"pack {packid} is not on {self.where}") from None

    def delete_pack(self, packid: str) -> None:
        """Remove a pack, index first: its objects stop counting before the bytes go."""
        self.backend.delete(pack_key(packid, "idx"))
        self.backend.delete(pack_key(packid, "pack"))

    # -- chunk lists (store/chunks.py): uploaded after every chunk they name ---------------
    def lists_exist(self, oids: Collection[str], jobs: int) -> set[str]:
        """Which of `oids` the remote holds as a chunk list."""
        keys = {list_key(o): o for o in oids}
        return {keys[k] for k in self.backend.exists_many(list(keys), jobs) if k in keys} if keys else set()

    def put_list(self, oid: str, data: bytes) -> None:
        """A chunk list, durable: the caller has flushed every chunk it names first."""
        self.backend.put_bytes(list_key(oid), data, sync=True)

    def get_list(self, oid: str, size: int | None) -> bytes | None:
        """The chunk list of `oid`, or None when the remote has none.  A
        remote's bytes: one longer than a file of `size` could need is cut
        off there (and then refused by the parser), never read whole."""
        sink = _Buffer(chunks.max_bytes(size if size is not None else chunks.MAX_CHUNK * 1_000_000))
        try:
            self.backend.get(list_key(oid), sink)
        except KeyMissingError:
            return None
        return bytes(sink.data)

    def list_lists(self) -> Iterator[tuple[str, int, float]]:
        """(oid, size, modification time) of every chunk list (gc)."""
        now = time.time()
        for st in self.backend.list(f"{chunks.FOLDER}/"):
            oid = oid_from_key(st.key)
            checked = _checked(st, now) if oid else None
            if oid and checked and st.key == list_key(oid):
                yield oid, *checked

    def delete_list(self, oid: str) -> None:
        self.backend.delete(list_key(oid))

    # -- control files ---------------------------------------------------------------------
    def read_meta(self, name: str) -> bytes | None:
        """The control file `meta/<name>`, or None when there is none."""
        try:
            return self._read_whole(meta_key(name))
        except KeyMissingError:
            return None

    def write_meta(self, name: str, data: bytes, exclusive: bool = False) -> bool:
        """Write `meta/<name>` whole.  With `exclusive`, only when it does not
        exist yet: returns False when it does."""
        return self.backend.put_bytes(meta_key(name), data, sync=True, exclusive=exclusive)

    def delete_meta(self, name: str) -> None:
        self.backend.delete(meta_key(name))

    # -- the repositories that push here (gitmodel.remote.sharing) ---------------------------
    def write_repository(self, repo_id: str, data: bytes) -> None:
        """This repository's record, `meta/repos/<id>.json`, written whole."""
        self.write_meta(repository_name(repo_id), data)

    def read_repository(self, repo_id: str) -> bytes | None:
        return self.read_meta(repository_name(repo_id))

    def repositories(self) -> Iterator[tuple[str, bytes | None]]:
        """(id, record) of every repository that recorded itself here; a
        record that cannot be read is None (it still counts as a repository).
        Keys that are not `<id>.json` are somebody else's files: skipped."""
        prefix = f"{META}/{REPOS}/"
        for st in self.backend.list(prefix):
            name = st.key[len(prefix):] if st.key.startswith(prefix) else ""
            repo_id = name[:-len(".json")] if name.endswith(".json") else ""
            if not is_repository_id(repo_id):
                continue
            try:
                yield repo_id, self.read_meta(repository_name(repo_id))
            except GitmodelError:
                yield repo_id, None

    def close(self) -> None:
        self.backend.close()

    def _read_whole(self, key: str) -> bytes:
        sink = _Buffer()
        self.backend.get(key, sink)
        return bytes(sink.data)


class _Buffer:
    def __init__(self, limit: int | None = None) -> None:
        self.data = bytearray()
        self.limit = limit

    def write(self, data: bytes | memoryview) -> None:
        if self.limit is not None and len(self.data) + len(data) > self.limit:
            data = memoryview(data)[: max(self.limit + 1 - len(self.data), 0)]  # one byte over: refused later
        self.data += data
