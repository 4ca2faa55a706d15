"""The content-addressed object store in `<git-common-dir>/gitmodel/`.

Layout (see docs/architecture.md):

    objects/xxh128/ab/cdef...   read-only loose objects, named by their content hash
    packs/pack-<id>.pack|.idx   small objects, many to a file (pack.py)
    chunked/xxh128/ab/cdef...   chunk lists of large files stored as chunks (chunks.py)
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
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from functools import cached_property
from types import TracebackType
from typing import TYPE_CHECKING, BinaryIO

from gitmodel.errors import CorruptObjectError, GitmodelError, ObjectMissingError, PointerError
from gitmodel.platform import atomic, copy, faults
from gitmodel.platform.atomic import SaveFile
from gitmodel.store import manifest
from gitmodel.store import oid as oidmod
from gitmodel.store import pack as packmod
from gitmodel.store.pointer import SUFFIX, Pointer

if TYPE_CHECKING:
    from gitmodel.store.chunkstore import ChunkStore

SMALL = 1 << 20  # files below this are read whole and written in batches
READ_CHUNK = 8 << 20
ADD_CHUNK = 16 << 20  # add_file's copy/hash pipeline step (measured: 8-16 MiB beat 32 MiB and 64 MiB)
OBJECT_MODE = 0o444  # objects are never written again once named
DEFAULT_THREADS = min(8, (os.cpu_count() or 2) * 2)


class Cache:
    def __init__(self, root: str) -> None:
        self.root = root
        self.objects = os.path.join(root, "objects")
        self.packs = os.path.join(root, "packs")
        self.tmp = os.path.join(root, "tmp")
        self._index: dict[str, packmod.Loc] | None = None  # packed oid -> where; loaded on first use
        self._maps: dict[str, memoryview] = {}  # pack path -> its mapped bytes
        self._fds: dict[str, int] = {}  # pack path -> an open fd, for chunk reads (read_stored)
        self._ensured = False  # the folders were checked (and made) by this Cache's first write
        self.chunked = os.path.join(root, "chunked")  # chunk lists (store/chunks.FOLDER)
        # Files this large or larger are stored as chunks by add_many (the
        # add command sets it from the config); None: never.
        self.chunk_threshold: int | None = None
        self._batch: _Batch | None = None  # while `batch()` is open

    # -- layout -----------------------------------------------------------
    def ensure(self) -> None:
        """Create the folders (idempotent).  All 256 shards up front, so the
        hot path never has to check for a missing folder."""
        base = os.path.join(self.objects, oidmod.ALGO)
        if os.path.isdir(os.path.join(base, "ff")) and os.path.isdir(self.tmp) and os.path.isdir(self.packs):
            return
        try:
            for i in range(256):
                os.makedirs(os.path.join(base, f"{i:02x}"), exist_ok=True)
            os.makedirs(self.tmp, exist_ok=True)
            os.makedirs(self.packs, exist_ok=True)
        except (FileExistsError, NotADirectoryError) as e:  # a file where a cache folder belongs
            raise GitmodelError(f"{e.filename or self.root}: is a file where the cache needs a folder",
                                hint="move it away and run the command again") from None

    def path(self, oid: str) -> str:
        """Where the loose copy of an object lives (it may be packed instead:
        use `has`, `read_bytes`, `open`, or `materialize` for a real file)."""
        return os.path.join(self.objects, oidmod.relpath(oid))

    # -- packs --------------------------------------------------------------
    def packed(self) -> dict[str, packmod.Loc]:
        """Every packed object, from the pack indexes (read once per Cache)."""
        if self._index is None:
            index: dict[str, packmod.Loc] = {}
            for packid in packmod.list_ids(self.packs):
                self._load_pack(packid, index)
            self._index = index
        return self._index

    def _load_pack(self, packid: str, index: dict[str, packmod.Loc]) -> None:
        pack_path = os.path.join(self.packs, packmod.name_of(packid, "pack"))
        try:
            entries = packmod.read_index(os.path.join(self.packs, packmod.name_of(packid, "idx")))
        except FileNotFoundError:  # removed by a gc since we listed the folder
            return
        if not os.path.exists(pack_path):
            return  # an index without its pack holds nothing (fsck reports it)
        for o, off, size in entries:
            index.setdefault(o, packmod.Loc(pack_path, off, size))

    def reload_packs(self) -> None:
        """Forget the packs read so far (another process added or removed some)."""
        self._index = None
        self._maps.clear()
        self.close_packs()

    def close_packs(self) -> None:
        while self._fds:  # each forgotten before it is closed (see SaveFile._release)
            os.close(self._fds.popitem()[1])

    def locate(self, oid: str) -> packmod.Loc | None:
        return self.packed().get(oid)

    def has(self, oid: str) -> bool:
        # Loose first: one stat answers for manifests and large files without
        # reading every pack index (`missing` does the reverse for batches).
        return os.path.exists(self.path(oid)) or oid in self.packed() or self.has_list(oid)

    @cached_property
    def chunks(self) -> ChunkStore:
        """The chunked files (imported on first use: most commands never meet one)."""
        from gitmodel.store.chunkstore import ChunkStore

        return ChunkStore(self, self.chunked)

    def has_list(self, oid: str) -> bool:
        """A chunk list stands for `oid` (one stat; the chunk store is not loaded)."""
        return os.path.exists(os.path.join(self.chunked, oidmod.relpath(oid)))

    def loose_exists(self, oid: str) -> bool:
        return os.path.exists(self.path(oid))

    def is_chunked(self, oid: str) -> bool:
        """Stored as chunks (a chunk list, and no whole copy loose or packed)."""
        return self.has_list(oid) and not os.path.exists(self.path(oid)) and oid not in self.packed()

    def missing(self, oids: Iterable[str]) -> list[str]:
        packed = self.packed()
        return [o for o in oids if o not in packed and not os.path.exists(self.path(o))
                and not self.has_list(o)]

    def view(self, loc: packmod.Loc) -> memoryview:
        """A packed object's bytes, straight from the mapped pack (no copy)."""
        whole = self._maps.get(loc.pack)
        if whole is None:
            import mmap  # only commands that read packs pay for it

            fd = os.open(loc.pack, os.O_RDONLY)
            try:
                size = os.fstat(fd).st_size
                whole = memoryview(mmap.mmap(fd, size, prot=mmap.PROT_READ)) if size else memoryview(b"")
            finally:
                os.close(fd)
            self._maps[loc.pack] = whole
        if loc.offset + loc.size > len(whole):
            raise CorruptObjectError(f"pack {loc.pack} is cut short", hint="run `gitmodel fsck`")
        return whole[loc.offset:loc.offset + loc.size]

    def read_stored(self, oid: str) -> bytes:
        """An object's bytes, unverified (the chunk store checks what it
        decodes from them).  Packed ones by pread, not through the map: a
        1 GiB file rebuilt from its chunks would otherwise count every page
        of its packs in this process's memory."""
        loc = self.locate(oid)
        if loc is None:
            return self.read_bytes(oid, verify=False)
        fd = self._fds.get(loc.pack)
        if fd is None:
            fd = self._fds[loc.pack] = os.open(loc.pack, os.O_RDONLY)
        data = os.pread(fd, loc.size, loc.offset)
        if len(data) != loc.size:
            raise CorruptObjectError(f"pack {loc.pack} is cut short", hint="run `gitmodel fsck`")
        return data

    def size_of(self, oid: str) -> int | None:
        loc = self.locate(oid)
        if loc is not None:
            return loc.size
        try:
            return os.stat(self.path(oid)).st_size
        except OSError:
            return self.chunks.size_of(oid)

    def read_manifest(self, pointer: Pointer, where: str, shown: str | None = None) -> list[manifest.Entry]:
        """The manifest a folder pointer names, held to what the pointer says:
        one bigger than `files` entries can take is refused before it is read,
        one whose count or total size differs after (the pointer was edited,
        or names another folder's manifest).  The one reader for every caller
        that has the pointer.  `where` names the pointer file in errors
        (`data.gm`, `HEAD:data.gm`); `shown`, the folder (default: from `where`).
        Raises ObjectMissingError when the manifest is not here."""
        shown = shown or (where[: -len(SUFFIX)] if where.endswith(SUFFIX) else where)
        restore = f"restore the pointer with `git checkout -- {where.rpartition(':')[2]}`"
        files = pointer.files or 0
        size = self.size_of(pointer.oid)
        if size is not None and size > manifest.max_bytes(files):
            raise PointerError(f"{where}: says {files:,} files, but its manifest is {size:,} bytes, more than "
                               f"that many entries take ({pointer.oid})", hint=restore)
        entries, _ = manifest.expand(self.read_bytes, pointer.oid, f"manifest of {shown}", files)
        total = sum(e.size for e in entries)
        if total != pointer.size:
            raise PointerError(f"{where}: says {pointer.size:,} bytes, but its manifest lists {total:,} "
                               f"({pointer.oid})", hint=restore)
        return entries

    def open(self, oid: str) -> BinaryIO:
        """A readable, seekable stream of an object, loose, packed or chunked
        (then each read rebuilds only the chunks it covers)."""
        loc = self.locate(oid)
        if loc is not None:
            import io

            return io.BytesIO(self.view(loc))
        try:
            return open(self.path(oid), "rb")  # objects are immutable once named
        except FileNotFoundError:
            if self.has_list(oid):
                import io

                return io.BufferedReader(self.chunks.open(oid), 1 << 20)
            raise ObjectMissingError(f"object {oid} is not in the cache", hint="run `gitmodel fetch`") from None

    def materialize(self, oid: str) -> str:
        """A loose file for an object (written from its pack when packed), for
        the callers that need a path: hard links, symlinks, renames."""
        final = self.path(oid)
        if os.path.exists(final):
            return final
        loc = self.locate(oid)
        if loc is None:
            raise ObjectMissingError(f"object {oid} is not in the cache", hint="run `gitmodel fetch`")
        data = bytes(self.view(loc))
        if oidmod.of_bytes(data) != oid:
            raise CorruptObjectError(f"cache object {oid} is corrupt", hint="run `gitmodel fsck`")
        self.add_bytes(data, durable=True, loose=True)
        return final

    def writable(self) -> None:
        self._writable()

    def _writable(self) -> None:
        """Before any write: the folders exist (a `packs/`, `tmp/` or
        `objects/` deleted by hand is made again, once per Cache, rather than
        failing the rename at the end), and tmp/ can be written."""
        if not self._ensured:
            try:
                self.ensure()
            except PermissionError:
                pass  # said just below, in the words for a read-only cache
            self._ensured = True
        if not os.access(self.tmp, os.W_OK):
            raise GitmodelError(f"the cache folder {self.tmp} is not writable",
                                hint="fix its permissions (chmod u+w) and run the command again")

    # -- writing ------------------------------------------------------------
    def _new_object(self, durable: bool = True, readable: bool = False) -> SaveFile:
        """A temp file in tmp/ for an object whose name (its hash) is known
        once its bytes are in.  Read-only, the umask applying: no chmod."""
        return SaveFile(self.tmp, OBJECT_MODE, durable=durable, umask=True, readable=readable)

    def _publish(self, f: SaveFile, oid: str, fault: str | None = None, sync_folder: bool | None = None) -> None:
        """Give a finished object file its final name (its shard folder
        recreated if it was deleted by hand, say `rm -rf objects/xx`)."""
        final = self.path(oid)
        f.close()
        if fault is not None:
            faults.point(fault)
        if os.path.exists(final):  # deduplicated: somebody stored it already
            f.abort()
            _freshen(final)
            return
        f.commit(final, makedirs=True, sync_folder=sync_folder)

    @contextmanager
    def batch(self, pack: bool = True) -> Iterator[None]:
        """Many `add_many` and `add_tree` calls as one: an add that walks a
        large folder one subfolder at a time stores every small file into
        one pack (not one per subfolder) and writes its trees without a
        flush each.  At the end, when nothing raised: the pack is published,
        then one syncfs, the trees' renames, one more syncfs.  An object is
        named only once durable, as everywhere; the caller names nothing
        that points at a batched object (a pointer, a completeness mark)
        before the batch has closed.  `pack=False` (a folder of a few
        files): they stay loose, as `add_many` keeps a few files, where
        link modes can link to them."""
        self._writable()
        b = self._batch = _Batch(pack)
        try:
            yield
            if b.writer is not None:
                self._publish_pack(b.writer)
                b.writer = None
            faults.point("cache:batch-pack-published")
            self._publish_all(b.loose)
        finally:
            self._batch = None
            if b.writer is not None:
                b.writer.abort()
            for f, _ in b.loose:
                f.abort()

    def add_tree(self, data: bytes) -> str:
        """Store a tree (or any small object that must stay loose: push
        sends trees loose, after their files); inside `batch()`, durable
        once the batch closes."""
        if self._batch is None:
            return self.add_bytes(data)
        oid = oidmod.of_bytes(data)
        if oid not in self._batch.trees and not os.path.exists(self.path(oid)):
            self._batch.trees.add(oid)
            self._batch.loose.append((self._temp_beside(oid, data), oid))
        return oid

    def add_bytes(self, data: bytes, durable: bool = True, loose: bool = False) -> str:
        """Store `data` as a loose object (manifests always are); `loose`: even
        when a pack holds it already."""
        oid = oidmod.of_bytes(data)
        if not (os.path.exists(self.path(oid)) if loose else self.has(oid)):
            self._writable()
            with self._new_object(durable) as f:
                f.write(data)
                self._publish(f, oid)
        return oid

    def add_file(self, src: str, expected: str | None = None, where: str = "",
                 tee: Callable[[int, int, int], None] | None = None) -> tuple[str, int]:
        """Copy one file into the cache, hashing what lands there; one pass
        over the data (in-kernel copy, then a hash of the copy from the page
        cache, pipelined chunk by chunk on a second thread).

        With `expected` (a download from a folder remote), a copy that does
        not hash to it is refused before it gets a name.

        `tee(fd, offset, length)` is called on a third thread for each chunk
        once it has landed in the object's temp file `fd` (pull passes each
        chunk on into a workspace temp file, so that copy overlaps this one
        and its flush).  The caller may use what tee wrote only after this
        returns: only then are the bytes verified."""
        self._writable()
        sfd = os.open(src, os.O_RDONLY)
        try:
            before = os.fstat(sfd)
            with self._new_object(readable=True) as f:
                size, oid = self._copy_hashed(sfd, f, before.st_size, src, tee)
                after = os.fstat(sfd)
                if (after.st_mtime_ns, after.st_size) != (before.st_mtime_ns, before.st_size):
                    raise GitmodelError(f"{src} changed while it was being added", hint="run the command again")
                if expected is not None and oid != expected:
                    raise CorruptObjectError(f"object {expected} from {where or src} is corrupt (its content "
                                             f"hashes to {oid}); it was not stored. Run `gitmodel fsck` on the "
                                             f"remote side")
                # Any failure from here on (Ctrl-C included) removes the temp
                # file: a whole file's copy must not linger in tmp/.
                self._publish(f, oid, fault="cache:large-before-rename")
        finally:
            os.close(sfd)
        return oid, size

    def _copy_hashed(self, sfd: int, f: SaveFile, expect: int, src: str,
                     tee: Callable[[int, int, int], None] | None) -> tuple[int, str]:
        """add_file's pipeline: copy `sfd` into `f` chunk by chunk, hash what
        landed, start its writeback, flush; returns (size, oid)."""
        dfd = f.fd
        hasher = oidmod.new_hasher()
        import mmap  # imported when a large file is stored

        def digest(offset: int, length: int) -> None:
            # Hashed straight from the temp file's page-cache pages
            # through a mapping: the bytes that landed, without the
            # copy into a buffer that preadv costs (measured ~6% of
            # add's time, more when other work competes for the CPU).
            start = offset - offset % mmap.ALLOCATIONGRANULARITY  # a short copy can leave offsets unaligned
            with mmap.mmap(dfd, offset + length - start, prot=mmap.PROT_READ, offset=start) as m:
                with memoryview(m) as whole, whole[offset - start:] as chunk:
                    hasher.update(chunk)
            copy.start_writeback(dfd, offset, length)

        from concurrent.futures import Future, ThreadPoolExecutor  # imported when threads are used

        with ThreadPoolExecutor(1) as pool, ThreadPoolExecutor(1) as tee_pool:
            pending: list[Future[None]] = []
            teed: list[Future[None]] = []

            def on_chunk(offset: int, length: int) -> None:
                if tee is not None:
                    teed.append(tee_pool.submit(tee, dfd, offset, length))
                if pending:
                    pending.pop().result()
                pending.append(pool.submit(digest, offset, length))

            try:
                size = copy.copy_fd(sfd, dfd, expect, on_chunk, ADD_CHUNK)
                if pending:
                    pending.pop().result()
                if os.fstat(dfd).st_size != size or os.fstat(sfd).st_size != size:
                    raise GitmodelError(f"{src} changed size while it was being added",
                                        hint="run the command again")
                f.sync()  # while tee's last chunks are still being copied
                for fut in teed:
                    fut.result()
            except BaseException:
                for fut in teed:  # tee reads dfd: none may still run once it is closed
                    fut.cancel()
                raise
        return size, oidmod.from_hasher(hasher)

    def add_many(self, paths: list[str], sizes: list[int], bases: list[str | None] | None = None) -> list[str]:
        """Store many files; returns their oids in order.

        Small files are read whole and hashed.  Many of them (PACK_MIN_COUNT
        or more) go into one new pack: one file, one fdatasync and one index
        instead of a file each (pack.py says why).  A few go loose, written
        without a per-file fsync; one syncfs then flushes them all before any
        is renamed to its final name, and one more makes the renames durable.
        Large files take add_file's streaming path, or are chunked
        (add_large; `bases`: each file's previous version, when known)."""
        if not paths:
            return []
        self._writable()
        oids: list[str] = [""] * len(paths)
        small_idx = [i for i, s in enumerate(sizes) if s < SMALL]
        if len(small_idx) >= packmod.PACK_MIN_COUNT or (self._batch is not None and self._batch.pack and small_idx):
            self._pack_small(paths, sizes, small_idx, oids)
        elif small_idx:
            self._loose_small(paths, small_idx, oids)
        for i, s in enumerate(sizes):
            if s >= SMALL:
                oids[i], _ = self.add_large(paths[i], s, bases[i] if bases else None)
        return oids

    def add_large(self, src: str, size: int, base: str | None = None) -> tuple[str, int]:
        """One large file: as chunks from `chunk_threshold` up (`base`, its
        previous version, lends unchanged chunks and delta bases), else whole."""
        if self.chunk_threshold is not None and size >= self.chunk_threshold:
            return self.chunks.add(src, base)
        return self.add_file(src)

    def _pack_small(self, paths: list[str], sizes: list[int], small_idx: list[int], oids: list[str]) -> None:
        # Objects already packed, or met earlier in this batch, are not
        # written twice.  A loose copy is not looked for: a stat per file
        # would cost more than the few bytes a duplicate takes.
        packed = self.packed()
        b = self._batch
        seen: set[str] = set() if b is None else b.names
        writer: packmod.PackWriter | None = None if b is None else b.writer
        try:
            for i in small_idx:
                data = _read_all(paths[i], sizes[i])
                oid = oidmod.of_bytes(data)
                oids[i] = oid
                if oid in seen or oid in packed:
                    continue
                seen.add(oid)
                if writer is None:
                    writer = packmod.PackWriter(self.packs)
                writer.write(oid, data)
                if writer.offset >= packmod.PACK_MAX_BYTES or len(writer.entries) >= packmod.PACK_MAX_OBJECTS:
                    self._publish_pack(writer)
                    writer = None
                    seen.clear()  # (the published ones are in `packed` now)
            faults.point("cache:pack-filled")
            if b is not None:
                b.writer, writer = writer, None  # published when the batch closes
            elif writer is not None:
                self._publish_pack(writer)
                writer = None
        except BaseException:
            if writer is not None:
                writer.abort()
                if b is not None:
                    b.writer = None
            raise

    def publish_pack(self, writer: packmod.PackWriter) -> None:
        self._publish_pack(writer)

    def _publish_pack(self, writer: packmod.PackWriter) -> None:
        packid = writer.finish()
        if packid is not None and self._index is not None:
            pack_path = os.path.join(self.packs, packmod.name_of(packid, "pack"))
            for o, off, size in writer.entries:
                self._index.setdefault(o, packmod.Loc(pack_path, off, size))

    def add_pack(self, pack_src: str, idx_data: bytes, link: bool = False) -> str:
        """Install a pack whose objects the caller has verified (a download,
        or another store's pack hard-linked when `link`)."""
        self._writable()
        packid = packmod.install(self.packs, pack_src, idx_data, link=link)
        if self._index is not None:
            self._load_pack(packid, self._index)
        return packid

    def _loose_small(self, paths: list[str], small_idx: list[int], oids: list[str]) -> None:
        # Durability is batched: each file is written without an fsync, one
        # syncfs flushes them all before any is renamed, one more the renames.
        pending: list[tuple[SaveFile, str]] = []  # (written temp, oid) waiting for the flush
        try:
            for i in small_idx:
                data = _read_all(paths[i])
                oid = oidmod.of_bytes(data)
                oids[i] = oid
                if os.path.exists(self.path(oid)):
                    continue
                pending.append((self._temp_beside(oid, data), oid))
            faults.point("cache:temps-written")
            self._publish_all(pending)
        finally:
            for f, _ in pending:  # nothing once published: abort is a no-op then
                f.abort()

    def _temp_beside(self, oid: str, data: bytes) -> SaveFile:
        """`data` in a closed, unflushed temp file beside the object's final
        name: a rename within one folder is the cheapest atomic publish
        there is (`_publish_all` makes it durable)."""
        folder = os.path.dirname(self.path(oid))
        try:
            f = SaveFile(folder, OBJECT_MODE, durable=False, umask=True)
        except FileNotFoundError:  # a shard folder deleted by hand
            os.makedirs(folder, exist_ok=True)
            f = SaveFile(folder, OBJECT_MODE, durable=False, umask=True)
        try:
            f.write(data)
            f.close()
        except BaseException:
            f.abort()
            raise
        return f

    def _publish_all(self, pending: list[tuple[SaveFile, str]]) -> None:
        """Name unflushed temps (`_temp_beside`): one syncfs flushes them
        all before any is renamed, one more makes the renames durable."""
        if not pending:
            return
        atomic.syncfs(self.objects)
        seen: set[str] = set()
        for f, oid in pending:
            if oid in seen:
                f.abort()
            else:
                seen.add(oid)
                self._publish(f, oid)
                faults.point("cache:object-renamed")
        pending.clear()
        atomic.syncfs(self.objects)

    def writer(self, expected: str) -> ObjectWriter:
        """A sink for a download: hashed while it streams, checked before it
        gets its final name."""
        self._writable()
        return ObjectWriter(self, expected)

    # -- reading ------------------------------------------------------------
    def read_bytes(self, oid: str, verify: bool = True) -> bytes:
        loc = self.locate(oid)
        try:
            data = bytes(self.view(loc)) if loc is not None else _read_all(self.path(oid))
        except FileNotFoundError:
            if self.has_list(oid):
                return self.chunks.read_all(oid)  # verified as it is rebuilt
            raise ObjectMissingError(f"object {oid} is not in the cache", hint="run `gitmodel fetch`") from None
        if verify and oidmod.of_bytes(data) != oid:
            raise CorruptObjectError(f"cache object {oid} is corrupt", hint="run `gitmodel fsck`")
        return data

    def hash_of(self, oid: str) -> str:
        loc = self.locate(oid)
        if loc is None and not os.path.exists(self.path(oid)) and self.has_list(oid):
            return self.chunks.hash_of(oid)
        return oidmod.of_bytes(self.view(loc)) if loc is not None else hash_path(self.path(oid))


class ObjectWriter:
    """A download on its way into the cache: hashed while it streams,
    named only once its hash is the one expected."""

    def __init__(self, cache: Cache, expected: str) -> None:
        self.cache = cache
        self.expected = expected
        self.file = cache._new_object()
        self.hasher = oidmod.new_hasher()
        self.size = 0

    def write(self, data: bytes | memoryview) -> None:
        self.hasher.update(data)
        self.file.write(data)
        self.size += len(data)

    def commit(self, where: str) -> None:
        """Verify and publish; `where` names the source in a mismatch error.
        Rejected bytes do not linger in tmp/."""
        got = oidmod.from_hasher(self.hasher)
        if got != self.expected:
            self.file.abort()
            raise CorruptObjectError(
                f"object {self.expected} from {where} is corrupt (its content hashes to {got}); "
                f"it was not stored. Run `gitmodel fsck -r` on the remote side")
        # The folder is not flushed (it never was for downloads): a name lost
        # to a crash costs a download again, never a wrong object.
        self.cache._publish(self.file, self.expected, sync_folder=False)

    def abort(self) -> None:
        self.file.abort()

    def __enter__(self) -> ObjectWriter:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.abort()


def _read_all(path: str, size: int | None = None) -> bytes:
    """A whole file.  `size`, when a walk has just seen it, saves the fstat."""
    fd = os.open(path, os.O_RDONLY)
    try:
        return _read_fd(fd, os.fstat(fd).st_size if size is None else size)
    finally:
        os.close(fd)


def _read_fd(fd: int, size: int) -> bytes:
    """The rest of an open file expected to hold `size` bytes.  A small file
    costs one read: a short read of a regular file is its end (one that grew
    meanwhile is read to its end)."""
    data = os.read(fd, size + 1 if size < SMALL else READ_CHUNK)
    if size < SMALL and len(data) <= size:
        return data
    chunks = [data]
    while data:
        data = os.read(fd, READ_CHUNK)
        chunks.append(data)
    return b"".join(chunks)


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
            return oidmod.of_bytes(_read_fd(fd, size))
        h = oidmod.new_hasher()
        buf = bytearray(READ_CHUNK)
        view = memoryview(buf)
        while n := os.readv(fd, [buf]):
            h.update(view[:n])
        return oidmod.from_hasher(h)
    finally:
        os.close(fd)


class _Batch:
    """What `Cache.batch()` holds until it closes."""

    def __init__(self, pack: bool) -> None:
        self.pack = pack  # small files go into one pack (else as add_many stores them alone)
        self.writer: packmod.PackWriter | None = None  # the pack small files go into
        self.names: set[str] = set()  # objects written into it
        self.trees: set[str] = set()  # trees waiting loose
        self.loose: list[tuple[SaveFile, str]] = []  # their (unflushed temp, oid)
