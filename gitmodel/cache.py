"""The content-addressed object store in `<git-common-dir>/gitmodel/`.

Layout (see docs/architecture.md):

    objects/xxh128/ab/cdef...   read-only objects, named by their content hash
    tmp/                        temp files on their way into objects/
    state.db                    the stat cache (statcache.py)
    lock                        the repository lock (lock.py)

Living in the git common dir, the cache is shared by linked worktrees, is
never committed, and `git clean -fdx` cannot reach it.

An object only ever appears under its final name complete and durable: it is
written to tmp/, hashed from what was written (not from a second read of the
source, which might have changed), flushed, and renamed.  The name is the
hash of the bytes in the cache by construction.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from types import TracebackType

from . import faults, fsutil
from . import oid as oidmod
from .errors import CorruptObjectError, GitmodelError, ObjectMissingError

SMALL = 1 << 20  # files below this are read whole and written in batches
READ_CHUNK = 8 << 20
DEFAULT_THREADS = min(8, (os.cpu_count() or 2) * 2)


class Cache:
    def __init__(self, root: str) -> None:
        self.root = root
        self.objects = os.path.join(root, "objects")
        self.tmp = os.path.join(root, "tmp")

    # -- layout -----------------------------------------------------------
    def ensure(self) -> None:
        """Create the folders (idempotent).  All 256 shards up front, so the
        hot path never has to check for a missing folder."""
        base = os.path.join(self.objects, oidmod.ALGO)
        if os.path.isdir(os.path.join(base, "ff")) and os.path.isdir(self.tmp):
            return
        for i in range(256):
            os.makedirs(os.path.join(base, f"{i:02x}"), exist_ok=True)
        os.makedirs(self.tmp, exist_ok=True)

    def path(self, oid: str) -> str:
        return os.path.join(self.objects, oidmod.relpath(oid))

    def has(self, oid: str) -> bool:
        return os.path.exists(self.path(oid))

    def missing(self, oids: Iterable[str]) -> list[str]:
        return [o for o in oids if not os.path.exists(self.path(o))]

    def _writable(self) -> None:
        if not os.access(self.tmp, os.W_OK):
            raise GitmodelError(f"the cache folder {self.tmp} is not writable; "
                                f"fix its permissions (chmod u+w) and run the command again")

    # -- writing ------------------------------------------------------------
    def _commit(self, tmp: str, oid: str) -> None:
        """Give a complete, flushed temp file its final name."""
        final = self.path(oid)
        if os.path.exists(final):  # deduplicated: somebody stored it already
            os.unlink(tmp)
            _freshen(final)
            return
        try:
            os.replace(tmp, final)
        except FileNotFoundError:
            if not os.path.exists(tmp):
                raise
            # Its shard folder was deleted by hand (say `rm -rf objects/xx`): recreate it.
            os.makedirs(os.path.dirname(final), exist_ok=True)
            os.replace(tmp, final)

    def add_bytes(self, data: bytes, durable: bool = True) -> str:
        oid = oidmod.of_bytes(data)
        if not self.has(oid):
            self._writable()
            tmp = fsutil.tmp_name(self.tmp)
            fsutil.write_new(tmp, data, durable=durable)
            self._commit(tmp, oid)
            if durable:
                fsutil.fsync_dir(os.path.dirname(self.path(oid)))
        return oid

    def add_file(self, src: str, expected: str | None = None, where: str = "") -> tuple[str, int]:
        """Copy one file into the cache, hashing what lands there; one pass
        over the data (in-kernel copy, then a hash of the copy from the page
        cache, pipelined chunk by chunk on a second thread).

        With `expected` (a download from a folder remote), a copy that does
        not hash to it is refused before it gets a name."""
        self._writable()
        tmp = fsutil.tmp_name(self.tmp)
        sfd = os.open(src, os.O_RDONLY)
        try:
            before = os.fstat(sfd)
            dfd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o444)
            try:
                hasher = oidmod.new_hasher()
                buf = bytearray(min(fsutil.COPY_CHUNK, max(before.st_size, 1)))
                view = memoryview(buf)

                def digest(offset: int, length: int) -> None:
                    n = os.preadv(dfd, [view[:length]], offset)
                    hasher.update(view[:n])
                    fsutil.start_writeback(dfd, offset, length)

                from concurrent.futures import Future, ThreadPoolExecutor  # imported when threads are used

                with ThreadPoolExecutor(1) as pool:
                    pending: list[Future[None]] = []

                    def on_chunk(offset: int, length: int) -> None:
                        if pending:
                            pending.pop().result()
                        pending.append(pool.submit(digest, offset, length))

                    size = fsutil.copy_fd(sfd, dfd, before.st_size, on_chunk)
                    if pending:
                        pending.pop().result()
                if os.fstat(dfd).st_size != size or os.fstat(sfd).st_size != size:
                    raise GitmodelError(f"{src} changed size while it was being added; run the command again")
                os.fsync(dfd)
            finally:
                os.close(dfd)
            after = os.fstat(sfd)
        except BaseException:
            fsutil.unlink_quiet(tmp)
            raise
        finally:
            os.close(sfd)
        if (after.st_mtime_ns, after.st_size) != (before.st_mtime_ns, before.st_size):
            fsutil.unlink_quiet(tmp)
            raise GitmodelError(f"{src} changed while it was being added; run the command again")
        oid = oidmod.from_hasher(hasher)
        if expected is not None and oid != expected:
            fsutil.unlink_quiet(tmp)
            raise CorruptObjectError(f"object {expected} from {where or src} is corrupt (its content hashes to "
                                     f"{oid}); it was not stored. Run `gitmodel fsck` on the remote side")
        try:
            faults.point("cache:large-before-rename")
            self._commit(tmp, oid)
        except BaseException:
            fsutil.unlink_quiet(tmp)  # Ctrl-C here must not leave a whole file's copy in tmp/
            raise
        fsutil.fsync_dir(os.path.dirname(self.path(oid)))
        return oid, size

    def add_many(self, paths: list[str], sizes: list[int], threads: int = DEFAULT_THREADS) -> list[str]:
        """Store many files; returns their oids in order.

        Small files are read whole, hashed, and written to temp files without
        a per-file fsync; one syncfs then flushes them all before any is
        renamed to its final name, and one more makes the renames durable.
        Large files take add_file's streaming path."""
        if not paths:
            return []
        self._writable()
        oids: list[str] = [""] * len(paths)
        pending: list[tuple[str, str]] = []  # (tmp, oid) waiting for the flush
        has = os.path.exists
        objpath = self.path

        def small(chunk: list[int]) -> list[tuple[str, str]]:
            out: list[tuple[str, str]] = []
            try:
                _small(chunk, out)
            except BaseException:
                for tmp, _ in out:  # a read or write failed mid-batch: no temp outlives it
                    fsutil.unlink_quiet(tmp)
                raise
            return out

        def _small(chunk: list[int], out: list[tuple[str, str]]) -> None:
            for i in chunk:
                data = _read_all(paths[i])
                oid = oidmod.of_bytes(data)
                oids[i] = oid
                final = objpath(oid)
                if has(final):
                    continue
                # The temp file sits beside its final name: a rename within
                # one folder is the cheapest atomic publish there is.
                tmp = fsutil.tmp_name(os.path.dirname(final))
                try:
                    fsutil.write_new(tmp, data)
                except FileNotFoundError:  # a shard folder deleted by hand
                    os.makedirs(os.path.dirname(final), exist_ok=True)
                    fsutil.write_new(tmp, data)
                out.append((tmp, oid))

        small_idx = [i for i, s in enumerate(sizes) if s < SMALL]
        try:
            # Threads only pay off when each has a long run of files: the
            # kernel's file creation is the cost, and it releases the GIL.
            n = max(1, min(threads, len(small_idx) // 2000))
            if n > 1:
                from concurrent.futures import ThreadPoolExecutor  # imported when threads are used

                with ThreadPoolExecutor(n) as pool:
                    parts = [pool.submit(small, small_idx[k::n]) for k in range(n)]
                failed: BaseException | None = None
                for part in parts:  # every finished part's temps reach `pending`, even after a failure
                    try:
                        pending += part.result()
                    except BaseException as e:  # noqa: BLE001 - raised below, once all are collected
                        failed = failed or e
                if failed is not None:
                    raise failed
            else:
                pending += small(small_idx)
            faults.point("cache:temps-written")
            if pending:
                fsutil.syncfs(self.objects)
                seen: set[str] = set()
                for tmp, oid in pending:
                    if oid in seen:
                        os.unlink(tmp)
                    else:
                        seen.add(oid)
                        self._commit(tmp, oid)
                        faults.point("cache:object-renamed")
                pending.clear()
                fsutil.syncfs(self.objects)
        except BaseException:
            for tmp, _ in pending:
                fsutil.unlink_quiet(tmp)
            raise
        for i, s in enumerate(sizes):
            if s >= SMALL:
                oids[i], _ = self.add_file(paths[i])
        return oids

    def writer(self, expected: str) -> ObjectWriter:
        """A sink for a download: hashed while it streams, checked before it
        gets its final name."""
        self._writable()
        return ObjectWriter(self, expected)

    # -- reading ------------------------------------------------------------
    def read_bytes(self, oid: str, verify: bool = True) -> bytes:
        try:
            data = _read_all(self.path(oid))
        except FileNotFoundError:
            raise ObjectMissingError(f"object {oid} is not in the cache; run `gitmodel fetch`") from None
        if verify and oidmod.of_bytes(data) != oid:
            raise CorruptObjectError(f"cache object {oid} is corrupt; run `gitmodel fsck`")
        return data

    def hash_of(self, oid: str) -> str:
        return hash_path(self.path(oid))


class ObjectWriter:
    def __init__(self, cache: Cache, expected: str) -> None:
        self.cache = cache
        self.expected = expected
        self.tmp = fsutil.tmp_name(cache.tmp)
        self.fd = os.open(self.tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
        self.hasher = oidmod.new_hasher()
        self.size = 0

    def write(self, data: bytes | memoryview) -> None:
        self.hasher.update(data)
        view = memoryview(data)
        while view:
            n = os.write(self.fd, view)
            view = view[n:]
        self.size += len(data)

    def commit(self, where: str) -> None:
        """Verify and publish; `where` names the source in a mismatch error."""
        try:
            got = oidmod.from_hasher(self.hasher)
            if got != self.expected:
                fsutil.unlink_quiet(self.tmp)  # the rejected bytes must not linger in tmp/
                raise CorruptObjectError(
                    f"object {self.expected} from {where} is corrupt (its content hashes to {got}); "
                    f"it was not stored. Run `gitmodel fsck -r` on the remote side")
            os.fsync(self.fd)
        finally:
            os.close(self.fd)
            self.fd = -1
        try:
            self.cache._commit(self.tmp, self.expected)
        except BaseException:
            fsutil.unlink_quiet(self.tmp)
            raise

    def abort(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
        fsutil.unlink_quiet(self.tmp)

    def __enter__(self) -> ObjectWriter:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        if self.fd >= 0:
            self.abort()


def _read_all(path: str) -> bytes:
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        chunks = []
        data = os.read(fd, size + 1 if size < SMALL else READ_CHUNK)
        while data:
            chunks.append(data)
            data = os.read(fd, READ_CHUNK)
        return chunks[0] if len(chunks) == 1 else b"".join(chunks)
    finally:
        os.close(fd)


def _freshen(path: str) -> None:
    """Stored again: restart gc's grace period (it counts from the mtime), as
    git does for an object written twice.  Best effort: in a cache shared by
    several users the object may belong to another one."""
    try:
        os.utime(path)
    except OSError:
        pass


def hash_path(path: str) -> str:
    """Hash a file without storing it (status, fsck)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        if size < SMALL:
            return oidmod.of_bytes(os.read(fd, size + 1) + _drain(fd))
        h = oidmod.new_hasher()
        buf = bytearray(READ_CHUNK)
        view = memoryview(buf)
        while n := os.readv(fd, [buf]):
            h.update(view[:n])
        return oidmod.from_hasher(h)
    finally:
        os.close(fd)


def _drain(fd: int) -> bytes:
    rest = os.read(fd, READ_CHUNK)
    return rest + _drain(fd) if rest else b""


def is_object_mode(st: os.stat_result) -> bool:
    return stat.S_ISREG(st.st_mode)
