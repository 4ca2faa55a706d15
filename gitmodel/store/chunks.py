"""Chunked files: the chunk list that stands for a large file, and the
encodings of its chunks.

A file at or above the chunk threshold is stored as chunks, not whole.  Its
oid stays the xxh128 of the whole file (pointers, old commits and
`git diff` do not change); what the cache and remotes keep under that oid
is a *chunk list* in `chunked/xxh128/ab/cdef...`:

    gitmodel-chunks 1
    file xxh128:<whole file> <size> <count>
    <raw size> <raw oid> <stored oid>[,<base oid>...] [<key>]
    ...

one line per chunk, in file order.  `raw oid` is the xxh128 of the chunk's
bytes; `stored oid` names the object that holds them (an ordinary object,
packed like any small one), which is the raw bytes themselves when the two
oids are equal, and otherwise an *encoded* chunk:

    b"GMC1" + method + element size + payload

    method z   zstd of the bytes
    method g   zstd of the bytes grouped by byte position within elements
               (all first bytes of each float, then all second bytes, ...):
               a float's sign and exponent bytes compress, its low mantissa
               bytes do not, and grouped they stop diluting each other
    method x   as g, of the bytes XOR those of a base chunk: the same piece
               of the same tensor in an earlier version.  A fine-tune moves
               every weight a little; sign, exponent and the top of the
               mantissa mostly stay, so the XOR is mostly zeros.
    method y   as x, against a base stored as it is (unencoded): the base's
               object is its raw bytes.  Only the last link of a chain can
               be such a base, and the link before it says so.

A delta's base is the next oid on its line, whose own base is the one after
it: the whole chain needed to rebuild a chunk is on its line, so
reachability (gc) and transfers never read a chunk to learn what it needs,
and MAX_CHAIN bounds the work of a read.  `key` names the piece for the next
version's deltas (a tensor's name and piece number, percent-encoded).

A chunk list is untrusted input (it comes from remotes): every line is
parsed strictly, the sizes must add up to the file's, and the file is
verified against its oid whenever it is rebuilt whole.  The list is named
by the file's oid rather than its own hash, so it is checked by that
rebuild, not by its name (docs/architecture.md, "Chunked files").
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote

from gitmodel.errors import CorruptObjectError, PointerError
from gitmodel.store import oid as oidmod
from gitmodel.store.pointer import MAX_SIZE

if TYPE_CHECKING:
    import zstandard

HEADER = "gitmodel-chunks 1"
FOLDER = "chunked"  # below the cache root and a remote's root, sharded like objects/
MAGIC = b"GMC1"
MAX_CHAIN = 4  # a chunk's chain (itself and its bases): at most this many decodes to rebuild it
MAX_CHUNK = 16 << 20  # no chunk is larger: a bound on what one decode allocates
# zstd's level.  bench/ W6 (2 cores): level 1 halves the CPU time of adding a
# float32 checkpoint against level 3 (0.95 s against 1.9 s for 275 MiB) and
# stores 1.2% more (0.886 against 0.874 of the file; the series 429.6 MB
# against 424.5 MB, 0.59 of FastCDC-64 KiB either way).  Level -1 saves a
# further 0.15 s but stores 0.908.
LEVEL = 1

_FILE = re.compile(r"^file (xxh128:[0-9a-f]{32}) ([0-9]{1,19}) ([0-9]{1,9})$")
_OID = "xxh128:[0-9a-f]{32}"
_LINE = re.compile(rf"^([0-9]{{1,9}}) ({_OID}) ({_OID}(?:,{_OID}){{0,{MAX_CHAIN - 1}}})"
                   r"(?: ([A-Za-z0-9%._~/#:+-]{1,1024}))?$")
# The longest line a chunk takes: a size, MAX_CHAIN + 2 oids, a key.
MAX_LINE_BYTES = 10 + 40 * (MAX_CHAIN + 2) + 1026


@dataclass(frozen=True, slots=True)
class Chunk:
    size: int  # raw bytes
    raw: str  # oid of the raw bytes
    chain: tuple[str, ...]  # the stored object, then its bases, nearest first
    key: str = ""  # what the next version's delta pairs it with ("" for none)

    @property
    def stored(self) -> str:
        return self.chain[0]

    @property
    def encoded(self) -> bool:
        return self.chain[0] != self.raw


@dataclass(frozen=True, slots=True)
class ChunkList:
    oid: str  # the whole file's
    size: int
    chunks: tuple[Chunk, ...]

    def objects(self) -> set[str]:
        """Every stored object the file needs (chains included)."""
        return {o for c in self.chunks for o in c.chain}

    def offsets(self) -> list[int]:
        """Where each chunk starts in the file."""
        out, pos = [], 0
        for c in self.chunks:
            out.append(pos)
            pos += c.size
        return out


def relpath(oid: str) -> str:
    return f"{FOLDER}/{oidmod.relpath(oid)}"


def dumps(cl: ChunkList) -> bytes:
    out = [HEADER, f"file {cl.oid} {cl.size} {len(cl.chunks)}"]
    for c in cl.chunks:
        line = f"{c.size} {c.raw} {','.join(c.chain)}"
        out.append(f"{line} {quote(c.key, safe='/#:+')}" if c.key else line)
    return ("\n".join(out) + "\n").encode()


def max_bytes(size: int) -> int:
    """The largest chunk list a file of `size` bytes can have (its chunks
    are at least one byte each; in practice ~64 KiB)."""
    return len(HEADER) + 80 + min(size, MAX_SIZE) * MAX_LINE_BYTES


def loads(data: bytes, oid: str, where: str, size: int | None = None) -> ChunkList:
    """Parse and check a chunk list said to be that of `oid` (of `size`
    bytes, when a pointer says).  Refuses anything that does not add up."""
    bad = f"{where}: chunk list of {oid}"
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise PointerError(f"{bad} is not ASCII text") from None
    lines = text.split("\n")
    if len(lines) < 3 or lines[0] != HEADER or lines[-1] != "":
        raise PointerError(f"{bad} is not a gitmodel chunk list (bad header or end)")
    m = _FILE.match(lines[1])
    if m is None:
        raise PointerError(f"{bad}: malformed second line")
    if m.group(1) != oid:
        raise PointerError(f"{bad} is the list of another file ({m.group(1)})")
    total, count = int(m.group(2)), int(m.group(3))
    if total > MAX_SIZE or (size is not None and total != size):
        raise PointerError(f"{bad} says {total:,} bytes" + (f", its pointer {size:,}" if size is not None else ""))
    body = lines[2:-1]
    if len(body) != count:
        raise PointerError(f"{bad} says {count:,} chunks but lists {len(body):,}")
    chunks: list[Chunk] = []
    pos = 0
    for lineno, line in enumerate(body, 3):
        cm = _LINE.match(line)
        if cm is None:
            raise PointerError(f"{bad}:{lineno}: malformed line")
        n = int(cm.group(1))
        chain = tuple(cm.group(3).split(","))
        raw = cm.group(2)
        if n == 0 or n > MAX_CHUNK or len(set(chain)) != len(chain) or raw in chain[1:]:
            raise PointerError(f"{bad}:{lineno}: impossible chunk (size {n}, chain of {len(chain)})")
        if len(chain) > 1 and chain[0] == raw:
            raise PointerError(f"{bad}:{lineno}: a raw chunk cannot have a base")
        pos += n
        chunks.append(Chunk(n, raw, chain, unquote(cm.group(4) or "")))
    if pos != total:
        raise PointerError(f"{bad}: chunks add up to {pos:,} bytes, not {total:,}")
    return ChunkList(oid, total, tuple(chunks))


# -- encodings ------------------------------------------------------------------------------
_local = threading.local()  # zstandard's (de)compressors are not thread-safe: one per thread


def _zstd() -> tuple[zstandard.ZstdCompressor, zstandard.ZstdDecompressor]:
    pair = getattr(_local, "zstd", None)
    if pair is None:
        import zstandard  # imported when a chunk is encoded or decoded

        pair = (zstandard.ZstdCompressor(level=LEVEL), zstandard.ZstdDecompressor())
        _local.zstd = pair
    return pair


def group(data: bytes | memoryview, elem: int) -> bytes:
    """Byte planes: every element's first byte, then every second byte, ...
    A tail shorter than an element stays at the end as it was."""
    if elem <= 1:
        return bytes(data)
    raw = bytes(data)
    whole = len(raw) - len(raw) % elem
    return b"".join(raw[i:whole:elem] for i in range(elem)) + raw[whole:]


def ungroup(data: bytes, elem: int) -> bytes:
    if elem <= 1:
        return data
    whole = len(data) - len(data) % elem
    n = whole // elem
    out = bytearray(len(data))
    for i in range(elem):
        out[i:whole:elem] = data[i * n:(i + 1) * n]
    out[whole:] = data[whole:]
    return bytes(out)


def xor(a: bytes, b: bytes) -> bytes:
    """Byte-wise XOR of two equal-length buffers (as two big integers: one
    C loop each way, no numpy)."""
    n = len(a)
    return (int.from_bytes(a, "little") ^ int.from_bytes(b, "little")).to_bytes(n, "little")


def encode(raw: bytes | memoryview, elem: int, base: bytes | None = None, raw_base: bool = False) -> bytes:
    """The encoded form of a chunk (method g or z, or x against `base`; y
    when that base is stored as it is, unencoded)."""
    comp, _ = _zstd()
    if base is not None:
        payload = group(xor(bytes(raw), base), elem)
        method = b"y" if raw_base else b"x"
    elif elem > 1:
        payload = group(raw, elem)
        method = b"g"
    else:
        payload = bytes(raw)
        method = b"z"
    return MAGIC + method + bytes([min(max(elem, 1), 255)]) + comp.compress(payload)


def decode(stored: bytes | memoryview, size: int, base: bytes | None, where: str) -> bytes:
    """The raw bytes of a chunk from its stored object (and, for a delta,
    its base's raw bytes).  Never allocates more than `size`."""
    head = bytes(stored[:6])
    if len(head) < 6 or head[:4] != MAGIC or head[4:5] not in (b"z", b"g", b"x", b"y"):
        raise CorruptObjectError(f"{where}: not an encoded chunk", hint="run `gitmodel fsck`")
    method, elem = head[4:5], head[5]
    if (method in (b"x", b"y")) != (base is not None):
        raise CorruptObjectError(f"{where}: a delta chunk without its base, or a base for a whole one",
                                 hint="run `gitmodel fsck`")
    _, dec = _zstd()
    try:
        payload = dec.decompress(bytes(stored[6:]), max_output_size=size)
    except Exception as e:  # zstandard.ZstdError, or a frame that does not say its size
        raise CorruptObjectError(f"{where}: chunk does not decompress ({e})", hint="run `gitmodel fsck`") from None
    if len(payload) != size or (base is not None and len(base) != size):
        raise CorruptObjectError(f"{where}: chunk decodes to {len(payload):,} bytes, not {size:,}",
                                 hint="run `gitmodel fsck`")
    if method == b"z":
        return bytes(payload)
    raw = ungroup(payload, elem)
    return xor(raw, base) if base is not None else raw
