"""Packs: many small objects in one file, with a sorted index beside it.

Creating a file costs 20-200 µs of kernel time on ext4 (docs/architecture.md,
"Packs: a measured change"), so one file per 2 KiB object makes `add` and
`push` of 20,000 small files cost as much as `cp -r`.  A pack stores the
small objects of one `add` in one file:

    packs/pack-<id>.pack   the objects' bytes, back to back, nothing else
    packs/pack-<id>.idx    "gitmodel-idx 1\\n", then one 32-byte record per
                           object sorted by digest (16-byte xxh128 digest,
                           u64 offset, u64 size, little-endian), then the
                           xxh128 digest of everything before it

`<id>` is the xxh128 of the records, so the same set of objects always makes
the same pack name: two processes writing it at once write the same bytes.
The index is written (durably) after the pack and is what makes the pack's
objects exist; a pack without its index is a leftover for gc.  Every object
is still named by the hash of its own bytes and verified against it when it
matters (fsck, downloads); the index's own digest catches a damaged index.
The same two files are what a remote stores under `packs/`.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterable, Iterator
from typing import NamedTuple

import xxhash

from gitmodel.errors import CorruptObjectError
from gitmodel.platform import atomic, faults
from gitmodel.platform.atomic import SaveFile
from gitmodel.store import oid as oidmod

MAGIC = b"gitmodel-idx 1\n"
RECORD = struct.Struct("<16sQQ")
PREFIX = "pack-"
PACK_MIN_COUNT = 16  # fewer new small objects than this stay loose: a pack would save nothing
PACK_MAX_BYTES = 512 << 20  # a pack is closed at this size and the next one started
# ... or at this many objects: the writer holds a record per object until it
# publishes the index, and an add of a million small files must not hold a
# million (docs/architecture.md, "A million files").
PACK_MAX_OBJECTS = 100_000
WRITE_BATCH = 4 << 20
DIRECT = 64 << 10  # objects this large skip the batch buffer (one copy less per byte)
PACK_MODE = 0o444  # a pack and its index are never written again once named
# The end of the last object an index may name: far above any pack gitmodel
# writes (closed at PACK_MAX_BYTES, plus one small object), far below offsets
# and sizes that no read can serve.  An index is a remote's or a stranger's
# bytes with a digest anyone can compute: a record reaching past this
# (sizes near 2^64) is damage, refused before anything reads or allocates it.
MAX_INDEXED = 1 << 32


class Loc(NamedTuple):
    """Where a packed object lives (a tuple: an index holds one per object)."""
    pack: str  # path of the .pack file
    offset: int
    size: int


def name_of(packid: str, ext: str) -> str:
    return f"{PREFIX}{packid}.{ext}"


def packid_of(filename: str) -> str | None:
    """`pack-<32 hex>.idx` -> the id; anything else -> None."""
    if filename.startswith(PREFIX) and filename.endswith(".idx") and len(filename) == len(PREFIX) + 32 + 4:
        return filename[len(PREFIX):-4]
    return None


def split_name(filename: str) -> tuple[str, str] | None:
    """`pack-<id>.pack` or `pack-<id>.idx` -> (id, "pack" or "idx"); anything else -> None."""
    base, _, ext = filename.rpartition(".")
    if ext in ("pack", "idx"):
        packid = packid_of(base + ".idx")
        if packid is not None:
            return packid, ext
    return None


def encode_index(entries: Iterable[tuple[str, int, int]]) -> tuple[str, bytes]:
    """(oid, offset, size) triples -> (pack id, index bytes)."""
    records = sorted((bytes.fromhex(o.split(":", 1)[1]), off, size) for o, off, size in entries)
    body = b"".join(RECORD.pack(*r) for r in records)
    packid = xxhash.xxh3_128_hexdigest(body)
    head = MAGIC + body
    return packid, head + xxhash.xxh3_128_digest(head)


def decode_index(data: bytes, where: str) -> Iterator[tuple[str, int, int]]:
    """Index bytes -> (oid, offset, size); a damaged index is an error naming `where`."""
    body = data[len(MAGIC):-16]
    if not data.startswith(MAGIC) or len(body) % RECORD.size or \
            xxhash.xxh3_128_digest(data[:-16]) != data[-16:]:
        raise CorruptObjectError(f"pack index {where} is damaged", hint="run `gitmodel fsck`")
    prefix = oidmod.ALGO + ":"
    for digest, off, size in RECORD.iter_unpack(body):
        if off + size > MAX_INDEXED:
            raise CorruptObjectError(f"pack index {where} is damaged (an object at offset {off} of {size} bytes)",
                                     hint="run `gitmodel fsck`")
        yield prefix + digest.hex(), off, size


def read_index(path: str) -> list[tuple[str, int, int]]:
    with open(path, "rb") as f:
        return list(decode_index(f.read(), path))


def list_ids(folder: str) -> list[str]:
    try:
        names = os.listdir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted(i for i in map(packid_of, names) if i is not None)


class PackWriter:
    """Appends objects to a temp file in `folder`; `finish` publishes the pack
    (fsync, rename) and then its index (fsync, rename, fsync of the folder):
    objects before the index that names them."""

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self.file = SaveFile(folder, PACK_MODE, umask=True)
        self.entries: list[tuple[str, int, int]] = []
        self.offset = 0
        self._buf = bytearray()  # small objects are written a few MiB at a time, not one syscall each

    def write(self, oid: str, data: bytes | memoryview) -> None:
        size = len(data)
        if size >= DIRECT:  # a chunk of a large file: written as it is, not copied into the batch first
            self._flush()
            self.file.write(data)
        else:
            self._buf += data
            if len(self._buf) >= WRITE_BATCH:
                self._flush()
        self.entries.append((oid, self.offset, size))
        self.offset += size

    def _flush(self) -> None:
        self.file.write(self._buf)
        self._buf.clear()

    def finish(self) -> str | None:
        """Publish; returns the pack id (None when nothing was written)."""
        try:
            if not self.entries:
                self.abort()
                return None
            self._flush()
            packid, idx = encode_index(self.entries)
            idx_path = os.path.join(self.folder, name_of(packid, "idx"))
            if os.path.exists(idx_path):  # the same pack exists already
                self.abort()
                return packid
            # The folder is flushed once, after the index's rename in the
            # same folder: that makes the pack's rename durable with it.
            self.file.commit(os.path.join(self.folder, name_of(packid, "pack")), sync_folder=False)
            faults.point("pack:before-index")
            atomic.write_atomic(idx_path, idx, mode=PACK_MODE)
            return packid
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        self.file.abort()


def repack(folder: str, pack_path: str, keep: Iterable[tuple[str, int, int]]) -> str | None:
    """A new pack in `folder` holding only the `keep` entries of `pack_path`,
    published (pack, then index); the caller deletes the old one after.
    Returns the new pack id (None when nothing was kept)."""
    writer = PackWriter(folder)
    try:
        fd = os.open(pack_path, os.O_RDONLY)
        try:
            for o, off, size in keep:
                writer.write(o, os.pread(fd, size, off))
        finally:
            os.close(fd)
    except BaseException:
        writer.abort()
        raise
    return writer.finish()


def install(folder: str, pack_src: str, idx_data: bytes, link: bool = False) -> str:
    """Put a verified pack (a downloaded temp file, or another store's pack
    when `link`) into `folder` under its own name, pack before index.
    Returns the pack id.  The caller has checked every object's hash."""
    packid = xxhash.xxh3_128_hexdigest(idx_data[len(MAGIC):-16])
    pack_path = os.path.join(folder, name_of(packid, "pack"))
    idx_path = os.path.join(folder, name_of(packid, "idx"))
    if os.path.exists(idx_path):
        return packid
    if link:
        tmp = atomic.tmp_name(folder)
        try:
            os.link(pack_src, tmp)
            os.replace(tmp, pack_path)
        except BaseException:
            atomic.unlink_quiet(tmp)
            raise
    else:
        os.replace(pack_src, pack_path)
    atomic.write_atomic(idx_path, idx_data, mode=PACK_MODE)
    return packid


def verify(pack_path: str, entries: Iterable[tuple[str, int, int]]) -> list[str]:
    """Oids whose bytes in the pack do not hash to their name (or are cut short)."""
    bad: list[str] = []
    fd = os.open(pack_path, os.O_RDONLY)
    try:
        end = os.fstat(fd).st_size
        for o, off, size in entries:
            if off + size > end:  # cut short: never ask the kernel for bytes that are not there
                bad.append(o)
                continue
            data = os.pread(fd, size, off)
            if len(data) != size or oidmod.of_bytes(data) != o:
                bad.append(o)
    finally:
        os.close(fd)
    return bad
