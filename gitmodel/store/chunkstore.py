"""Chunked files in the cache: storing a large file as chunks, reading a
chunk back, rebuilding the file (verified), and reading a range of it.

The cache (store/cache.py) holds a `ChunkStore` and asks it whenever an oid
has a chunk list instead of an object; this module sees the cache only
through the few methods of `Objects`, so it does not import it.

Order on the way in, as everywhere in the store: the chunks' pack is
published (pack, then index, both flushed) before the chunk list that
names them, so a chunk list in the cache always means a complete file.
"""

from __future__ import annotations

import io
import os
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Protocol

from gitmodel.errors import CorruptObjectError, GitmodelError, ObjectMissingError, PointerError
from gitmodel.platform import faults
from gitmodel.platform.atomic import SaveFile
from gitmodel.store import chunker, chunks
from gitmodel.store import oid as oidmod
from gitmodel.store import pack as packmod
from gitmodel.store.chunks import Chunk, ChunkList

LIST_MODE = 0o444
# A chunk whose encoding saves less than this fraction is stored as it is.
# Every read of an encoded chunk pays its decode (zstd, then regrouping the
# bytes: ~1.5 s/GiB of CPU here), so a saving must be worth it: float32
# weights save ~12% byte-grouped, not enough; text saves 70-80%, a delta of
# a fine-tune ~65%.  Measured on bench W6's 275 MiB checkpoint series: 0.2
# stores 8% more than 0.03 over the five versions, and checks out the first
# version 2.6x faster (0.59 s against 1.54 s; cp takes 0.4 s).  A delta may
# still use such a raw chunk as its base (method y).
MIN_SAVING = 0.2
# A delta is kept only when it is this much smaller than the chunk encoded
# alone: a chain costs a decode per link on every read.
DELTA_GAIN = 0.9
DEFAULT_THRESHOLD = 16 << 20  # files this large or larger are chunked (docs/architecture.md)
ENCODERS = 2  # threads encoding chunks while the adding thread reads and writes (measured: docs/architecture.md)
IN_FLIGHT = 16  # pieces read ahead of the pack writer: at most a few MiB held
MIN_THRESHOLD = 1 << 20  # no smaller: fetch asks for a chunk list only for files this large


# (the chain of a new chunk, the objects to store for it)
Encoded = tuple[tuple[str, ...], list[tuple[str, bytes | memoryview]]]
Tried = tuple[Encoded, bool | None]  # and whether encoding it alone saved (None: not tried)
FIRST_TRIES = 8
SAMPLE_EVERY = 16


class Objects(Protocol):
    """What the chunk store needs of the cache."""

    packs: str
    tmp: str

    def has(self, oid: str) -> bool: ...
    def read_bytes(self, oid: str, verify: bool = True) -> bytes: ...
    def read_stored(self, oid: str) -> bytes: ...
    def packed(self) -> dict[str, packmod.Loc]: ...
    def loose_exists(self, oid: str) -> bool: ...
    def has_list(self, oid: str) -> bool: ...
    def publish_pack(self, writer: packmod.PackWriter) -> None: ...
    def writable(self) -> None: ...


class ChunkStore:
    def __init__(self, objects: Objects, folder: str) -> None:
        self.objects = objects
        self.folder = folder  # the cache's chunked/ (Cache.chunked: one spelling of where lists live)

    # -- chunk lists -------------------------------------------------------------------
    def path(self, oid: str) -> str:
        return os.path.join(self.folder, oidmod.relpath(oid))

    def has_list(self, oid: str) -> bool:
        return self.objects.has_list(oid)  # the cache's one test, which needs no import of this module

    def read_list(self, oid: str, size: int | None = None, where: str = "the cache") -> ChunkList:
        """The chunk list of `oid`, checked (ObjectMissingError when there is none)."""
        path = self.path(oid)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except FileNotFoundError:
            raise ObjectMissingError(f"object {oid} is not in the cache", hint="run `gitmodel fetch`") from None
        except OSError as e:
            raise CorruptObjectError(f"chunk list {path}: {e.strerror}", hint="run `gitmodel fsck`") from None
        try:
            n = os.fstat(fd).st_size
            if n > chunks.max_bytes(size if size is not None else chunks.MAX_CHUNK * (n + 1)):
                raise PointerError(f"{where}: chunk list of {oid} is larger than its file could need")
            data = os.read(fd, n + 1)
        finally:
            os.close(fd)
        return chunks.loads(data, oid, where, size)

    def size_of(self, oid: str) -> int | None:
        """The file's size, from the second line of its chunk list."""
        try:
            with open(self.path(oid), "rb") as f:
                head = f.read(200).split(b"\n")
        except OSError:
            return None
        if len(head) > 1 and head[1].startswith(b"file "):
            parts = head[1].split()
            if len(parts) == 4 and parts[2].isdigit() and len(parts[2]) < 20:
                return int(parts[2])
        return None

    def write_list(self, cl: ChunkList) -> None:
        """Publish a chunk list (durably: it is what makes the file exist)."""
        final = self.path(cl.oid)
        os.makedirs(os.path.dirname(final), exist_ok=True)
        with SaveFile(os.path.dirname(final), LIST_MODE, umask=True) as f:
            f.write(chunks.dumps(cl))
            f.commit(final, fault="chunks:before-list")

    def freshen(self, oid: str) -> None:
        """Stored again: restart gc's grace period for the list, and so for
        the chunks it names (gc keeps a young list's chunks), as the cache
        does for an object written twice.  Best effort (a shared cache)."""
        try:
            os.utime(self.path(oid))
        except OSError:
            pass

    def install_list(self, data: bytes, oid: str, size: int | None, where: str) -> ChunkList:
        """A chunk list from a remote: parsed and checked, then published
        only when every object it names is in the cache and the file it
        rebuilds hashes to `oid` (so a chunk list in the cache always means
        a complete, verified file).  Raises ObjectMissingError naming what
        is still missing."""
        cl = chunks.loads(data, oid, where, size)
        lacking = self.missing_objects(cl)
        if lacking:
            raise ObjectMissingError(f"{where}: {len(lacking)} chunk(s) of {oid} are not in the cache",
                                     hint="run `gitmodel fetch`")
        self.rebuild(cl, lambda _: None, where)
        if not self.has_list(oid):
            self.write_list(cl)
        else:
            self.freshen(oid)
        return cl

    def missing_objects(self, cl: ChunkList) -> list[str]:
        packed = self.objects.packed()
        return sorted(o for o in cl.objects() if o not in packed and not self.objects.loose_exists(o))

    # -- reading -------------------------------------------------------------------------
    def raw(self, c: Chunk, where: str = "") -> bytes:
        """One chunk's bytes, rebuilt through its chain and checked against its raw oid."""
        try:
            data = decode_chain(c, self.objects.read_stored, where)
        except ObjectMissingError:
            raise ObjectMissingError(f"{where or 'a chunked file'}: chunk {c.raw} is not in the cache",
                                     hint="run `gitmodel fetch`") from None
        if len(data) != c.size or oidmod.of_bytes(data) != c.raw:
            raise CorruptObjectError(f"{where or 'a chunked file'}: chunk {c.raw} is corrupt in the cache",
                                     hint="run `gitmodel fsck`")
        return data

    def rebuild(self, cl: ChunkList, write: Callable[[bytes], object], where: str = "") -> None:
        """Every byte of the file, in order, into `write`; raises
        CorruptObjectError when they do not hash to the file's oid (the
        caller must not name what it wrote before this returns)."""
        hasher = oidmod.new_hasher()
        if len(cl.chunks) <= 2:
            for c in cl.chunks:
                data = self.raw(c, where)
                hasher.update(data)
                write(data)
        else:
            # Chunks are decoded on a pool (zstd and the hash release the GIL)
            # while this thread writes them in order; a few in flight bound
            # the memory.
            self.objects.packed()  # the pack index, read once before the threads share it
            with ThreadPoolExecutor(ENCODERS) as pool:
                flight: deque[Future[bytes]] = deque()
                try:
                    for c in cl.chunks:
                        flight.append(pool.submit(self.raw, c, where))
                        if len(flight) > IN_FLIGHT:
                            data = flight.popleft().result()
                            hasher.update(data)
                            write(data)
                    while flight:
                        data = flight.popleft().result()
                        hasher.update(data)
                        write(data)
                finally:
                    for f in flight:
                        f.cancel()
        if oidmod.from_hasher(hasher) != cl.oid:
            raise CorruptObjectError(f"{where or cl.oid}: chunks rebuild a different file than {cl.oid}",
                                     hint="run `gitmodel fsck`")

    def read_all(self, oid: str) -> bytes:
        out = bytearray()
        self.rebuild(self.read_list(oid), out.extend, oid)
        return bytes(out)

    def hash_of(self, oid: str) -> str:
        """The hash of the rebuilt file (fsck): `oid` when intact."""
        try:
            self.rebuild(self.read_list(oid), lambda _: None, oid)
        except CorruptObjectError:
            return "corrupt"
        return oid

    def open(self, oid: str) -> ChunkedReader:
        return ChunkedReader(self, self.read_list(oid))

    # -- writing -------------------------------------------------------------------------
    def add(self, src: str, base: str | None = None) -> tuple[str, int]:
        """Store the file `src` as chunks; returns (oid, size).  `base`: the
        oid of its previous version, whose chunks are reused where they are
        the same bytes and are delta bases where they are not."""
        self.objects.writable()
        prev = self._base(base)
        by_raw = {c.raw: c for c in prev.chunks} if prev else {}
        by_key = {c.key: c for c in prev.chunks if c.key} if prev else {}
        fd = os.open(src, os.O_RDONLY)
        writer: packmod.PackWriter | None = None
        try:
            before = os.fstat(fd)
            hasher = oidmod.new_hasher()
            packed = self.objects.packed()
            written: set[str] = set()
            out: list[Chunk] = []

            def store(oid: str, data: bytes | memoryview) -> None:
                nonlocal writer
                # A loose copy is not looked for (chunks live in packs): a stat
                # per chunk measured 0.9 s for a 1 GiB file on a busy disk.
                if oid in written or oid in packed:
                    return
                if writer is None:
                    writer = packmod.PackWriter(self.objects.packs)
                writer.write(oid, data)
                written.add(oid)
                if writer.offset >= packmod.PACK_MAX_BYTES:
                    self.objects.publish_pack(writer)
                    writer = None

            sampler = _Sampler()

            def settle(piece: chunker.Piece, raw: str, chain: tuple[str, ...] | Future[Tried]) -> None:
                if not isinstance(chain, tuple):
                    (chain, blobs), saved = chain.result()
                    sampler.record(piece, saved)
                    for o, blob in blobs:
                        store(o, blob)
                out.append(Chunk(piece.size, raw, chain, piece.key))

            # Encoding (zstd releases the GIL) runs on a pool while this
            # thread reads, hashes and writes the pack, in file order; a few
            # pieces in flight bound the memory.
            with ThreadPoolExecutor(ENCODERS) as pool:
                flight: deque[tuple[chunker.Piece, str, tuple[str, ...] | Future[Tried]]] = deque()
                try:
                    for piece, data in chunker.pieces(fd, before.st_size):
                        hasher.update(data)
                        raw = oidmod.of_bytes(data)
                        same = by_raw.get(raw)
                        if same is not None and same.size == piece.size:
                            flight.append((piece, raw, same.chain))
                        else:
                            flight.append((piece, raw, pool.submit(self._encode, data, raw, piece,
                                                                   by_key.get(piece.key), sampler.should_try(piece))))
                        while len(flight) > IN_FLIGHT:
                            settle(*flight.popleft())
                    while flight:
                        settle(*flight.popleft())
                except chunker.FileChangedError:
                    raise GitmodelError(f"{src} changed size while it was being added",
                                        hint="run the command again") from None
                finally:
                    for _, _, f in flight:
                        if not isinstance(f, tuple):
                            f.cancel()
            after = os.fstat(fd)
            if (after.st_mtime_ns, after.st_size) != (before.st_mtime_ns, before.st_size):
                raise GitmodelError(f"{src} changed while it was being added", hint="run the command again")
            faults.point("chunks:pack-filled")
            if writer is not None:
                self.objects.publish_pack(writer)
                writer = None
            oid = oidmod.from_hasher(hasher)
            cl = ChunkList(oid, before.st_size, tuple(out))
            if not self.has_list(oid):
                self.write_list(cl)
            else:
                self.freshen(oid)
            return oid, before.st_size
        except BaseException:
            if writer is not None:
                writer.abort()
            raise
        finally:
            os.close(fd)

    def _base(self, base: str | None) -> ChunkList | None:
        if base is None or not self.has_list(base):
            return None
        try:
            return self.read_list(base)
        except GitmodelError:
            return None  # a damaged previous version: chunk without it

    def _encode(self, data: bytes | memoryview, raw: str, piece: chunker.Piece, base: Chunk | None,
                alone: bool = True) -> Tried:
        """((chain, objects to store), whether encoding it alone saved) for
        one new chunk: encoded alone (when `alone`: else not tried, None),
        or as a delta against `base` when that is clearly smaller, or as it is."""
        best: Encoded = ((raw,), [(raw, data)])
        size = len(data)
        saved: bool | None = None
        if alone:
            encoded = chunks.encode(data, piece.elem)
            saved = len(encoded) <= len(data) * (1 - MIN_SAVING)
            if saved:
                o = oidmod.of_bytes(encoded)
                best, size = ((o,), [(o, encoded)]), len(encoded)
        if base is not None and base.size == piece.size and len(base.chain) < chunks.MAX_CHAIN:
            try:
                base_raw = self.raw(base)
            except GitmodelError:
                return best, saved  # the base is damaged or gone: no delta against it
            delta = chunks.encode(data, piece.elem, base_raw, raw_base=not base.encoded)
            if len(delta) < size * DELTA_GAIN:
                o = oidmod.of_bytes(delta)
                best = ((o, *base.chain), [(o, delta)])
        return best, saved


class _Sampler:
    """Whether a new piece is worth trying to encode alone.  Pieces of one
    kind (tensor pieces of one element size, or content-cut bytes) mostly
    compress alike: once the first FIRST_TRIES of a kind have mostly not
    saved MIN_SAVING, only one in SAMPLE_EVERY is tried (so a kind that
    starts compressing is noticed).  Trying costs a zstd pass and a byte
    regrouping per piece: ~1 s of CPU for a 1 GiB float32 checkpoint whose
    pieces all end up stored as they are."""

    def __init__(self) -> None:
        self.kinds: dict[tuple[bool, int], list[int]] = {}  # kind -> [tried, saved, skipped]

    @staticmethod
    def _kind(piece: chunker.Piece) -> tuple[bool, int]:
        return bool(piece.key), piece.elem

    def should_try(self, piece: chunker.Piece) -> bool:
        k = self.kinds.setdefault(self._kind(piece), [0, 0, 0])
        if k[0] < FIRST_TRIES or 4 * k[1] >= k[0]:  # few tries yet, or a quarter of them saved
            return True
        k[2] += 1
        return k[2] % SAMPLE_EVERY == 0

    def record(self, piece: chunker.Piece, saved: bool | None) -> None:
        if saved is not None:
            k = self.kinds.setdefault(self._kind(piece), [0, 0, 0])
            k[0] += 1
            k[1] += saved


class ChunkedReader(io.RawIOBase):
    """A seekable read-only stream over a chunked file that rebuilds only
    the chunks a read covers (each checked against its raw oid).  A range
    read cannot check the whole file's hash: it trusts the chunk list as far
    as the raw oids it names (docs/architecture.md)."""

    def __init__(self, store: ChunkStore, cl: ChunkList) -> None:
        super().__init__()
        self.store = store
        self.list = cl
        self.starts = cl.offsets()
        self.pos = 0
        self._cached: tuple[int, bytes] | None = None  # (chunk index, its bytes)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.pos, io.SEEK_END: self.list.size}[whence]
        if base + offset < 0:
            raise ValueError("negative seek position")
        self.pos = base + offset
        return self.pos

    def tell(self) -> int:
        return self.pos

    def chunks_for(self, start: int, end: int) -> list[Chunk]:
        """The chunks that cover `[start, end)` (what a range read needs)."""
        import bisect

        first = max(bisect.bisect_right(self.starts, start) - 1, 0)
        out = []
        for i in range(first, len(self.list.chunks)):
            if self.starts[i] >= end:
                break
            out.append(self.list.chunks[i])
        return out

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        import bisect

        view = memoryview(buffer).cast("B")
        n = 0
        while n < len(view) and self.pos < self.list.size:
            i = bisect.bisect_right(self.starts, self.pos) - 1
            if self._cached is None or self._cached[0] != i:
                self._cached = (i, self.store.raw(self.list.chunks[i], self.list.oid))
            data = self._cached[1]
            off = self.pos - self.starts[i]
            take = min(len(view) - n, len(data) - off)
            view[n:n + take] = data[off:off + take]
            n += take
            self.pos += take
        return n


def decode_chain(c: Chunk, read: Callable[[str], bytes], where: str = "") -> bytes:
    """A chunk's raw bytes from the stored objects of its chain (`read(oid)`
    gives each), bases first; not checked against its raw oid (the caller
    does, wherever the objects came from: the cache, or a remote for fsck).
    The last base is stored unencoded when the link before it is a `y` delta."""
    if not c.encoded:
        return read(c.stored)
    blobs = [read(o) for o in c.chain]
    last = len(blobs) - 1
    base: bytes | None = None
    for i in range(last, -1, -1):
        if i == last and i > 0 and blobs[i - 1][4:5] == b"y":
            base = bytes(blobs[i])  # a raw base: its object is its bytes
            continue
        base = chunks.decode(blobs[i], c.size, base, where or c.chain[i])
    return base or b""
