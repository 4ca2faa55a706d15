"""Where the arrays are in model files other than safetensors, for the
chunker (store/chunker.py), which cuts at array boundaries and pieces each
array from its own start, as it does safetensors' tensors:

- NumPy `.npy`: one array after a small header (its dtype gives the element size);
- zip archives with *stored* (uncompressed) entries: NumPy `.npz` written by
  `np.savez` (each entry an `.npy`) and PyTorch's checkpoints (`torch.save`
  writes `archive/data/<n>`, one per tensor storage, aligned and stored);
  entries compressed by deflate are cut by content like any bytes;
- GGUF (llama.cpp): typed metadata, then tensor infos with their offsets
  into an aligned data section.

Each reader takes `read(offset, n) -> bytes` and returns the arrays as
(name, start, end, element size) in file offsets, sorted and
non-overlapping, or None when the file is not that format or does not add
up: a file is never refused for being odd, only cut by content instead.
Every number read is bounded before it is used (the bytes are a stranger's).
"""

from __future__ import annotations

import ast
import struct
from collections.abc import Callable

Read = Callable[[int, int], bytes]
Array = tuple[str, int, int, int]

MAX_ENTRIES = 1_000_000  # zip entries, GGUF tensors and metadata pairs read at most
MAX_HEADER = 16 << 20  # metadata a reader walks through at most

# dtype sizes by the codes each format uses
_NPY_KIND = {"f", "i", "u", "c", "b", "?"}
_GGUF_FLOAT = {0: 4, 1: 2, 30: 2, 24: 1, 25: 2, 26: 4, 27: 8, 28: 8}  # F32, F16, BF16, I8, I16, I32, I64, F64


def detect(read: Read, size: int) -> list[Array] | None:
    """The arrays of a .npy, zip-of-stored-entries or GGUF file, or None."""
    try:
        head = read(0, 8)
    except OSError:
        return None
    try:
        if head.startswith(b"\x93NUMPY"):
            return _sorted(npy(read, 0, size, "array"), size)
        if head.startswith(b"PK\x03\x04"):
            return _sorted(zip_stored(read, size), size)
        if head.startswith(b"GGUF"):
            return _sorted(gguf(read, size), size)
    except (struct.error, ValueError, UnicodeDecodeError, IndexError):
        return None
    return None


def _sorted(arrays: list[Array] | None, size: int) -> list[Array] | None:
    if not arrays:
        return None
    arrays.sort(key=lambda a: (a[1], a[2]))
    pos = 0
    for _, start, end, _ in arrays:
        if start < pos or end > size or start > end:
            return None
        pos = end
    return arrays


def npy(read: Read, offset: int, end: int, name: str) -> list[Array] | None:
    """The one array of an .npy file (or zip entry) at `offset`..`end`."""
    head = read(offset, 12)
    if not head.startswith(b"\x93NUMPY") or len(head) < 10:
        return None
    major = head[6]
    if major == 1:
        (hlen,) = struct.unpack("<H", head[8:10])
        start = offset + 10 + hlen
        text = read(offset + 10, hlen)
    elif major in (2, 3):
        (hlen,) = struct.unpack("<I", head[8:12])
        if hlen > MAX_HEADER:
            return None
        start = offset + 12 + hlen
        text = read(offset + 12, hlen)
    else:
        return None
    try:
        meta = ast.literal_eval(text.decode("latin1" if major < 3 else "utf-8").strip())
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return None
    if not isinstance(meta, dict) or not isinstance(meta.get("descr"), str):
        return None
    descr = meta["descr"]
    elem = 1
    if len(descr) >= 3 and descr[0] in "<>|=" and descr[1] in _NPY_KIND and descr[2:].isdigit():
        elem = min(int(descr[2:]), 16)
    if start > end:
        return None
    return [(name, start, end, elem)]


def zip_stored(read: Read, size: int) -> list[Array] | None:
    """The stored entries of a zip archive, from its central directory."""
    tail_len = min(size, 22 + 65535)
    tail = read(size - tail_len, tail_len)
    at = tail.rfind(b"PK\x05\x06")
    if at < 0 or at + 22 > len(tail):
        return None
    count, cd_size, cd_offset = struct.unpack("<HII", tail[at + 10:at + 20])
    if count == 0xFFFF or cd_offset == 0xFFFFFFFF or count > MAX_ENTRIES or cd_size > MAX_HEADER:
        return None  # zip64: cut by content
    if cd_offset + cd_size > size:
        return None
    cd = read(cd_offset, cd_size)
    out: list[Array] = []
    pos = 0
    for _ in range(count):
        if cd[pos:pos + 4] != b"PK\x01\x02":
            return None
        method, = struct.unpack("<H", cd[pos + 10:pos + 12])
        csize, usize = struct.unpack("<II", cd[pos + 20:pos + 28])
        nlen, elen, clen = struct.unpack("<HHH", cd[pos + 28:pos + 34])
        (local,) = struct.unpack("<I", cd[pos + 42:pos + 46])
        name = cd[pos + 46:pos + 46 + nlen].decode("utf-8", "replace")
        pos += 46 + nlen + elen + clen
        if method != 0 or csize != usize or csize in (0, 0xFFFFFFFF) or local == 0xFFFFFFFF:
            continue  # compressed, empty or zip64 entries: left to the content cut
        lh = read(local, 30)
        if lh[:4] != b"PK\x03\x04":
            return None
        lnlen, lelen = struct.unpack("<HH", lh[26:30])
        start = local + 30 + lnlen + lelen
        end = start + csize
        if end > size:
            return None
        inner = npy(read, start, end, name) if name.endswith(".npy") else None
        # PyTorch's storages carry no dtype in the archive (it is in data.pkl):
        # four bytes, float32's, is what most checkpoints hold.
        out += inner if inner else [(name, start, end, 4 if "/data/" in name else 1)]
    return out


_GGUF_SCALAR = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}


def gguf(read: Read, size: int) -> list[Array] | None:
    """The tensors of a GGUF file (versions 2 and 3)."""
    buf = read(0, min(size, MAX_HEADER))
    pos = 4
    version, n_tensors, n_kv = struct.unpack_from("<IQQ", buf, pos)
    pos += 20
    if version not in (2, 3) or n_tensors > MAX_ENTRIES or n_kv > MAX_ENTRIES:
        return None
    alignment = 32

    def string(at: int) -> tuple[str, int]:
        (n,) = struct.unpack_from("<Q", buf, at)
        if at + 8 + n > len(buf):
            raise ValueError("string past the header")
        return buf[at + 8:at + 8 + n].decode("utf-8"), at + 8 + n

    def skip(kind: int, at: int) -> int:
        if kind in _GGUF_SCALAR:
            return at + _GGUF_SCALAR[kind]
        if kind == 8:
            return string(at)[1]
        if kind == 9:
            inner, n = (int(v) for v in struct.unpack_from("<IQ", buf, at))
            at += 12
            if n > len(buf):
                raise ValueError("array past the header")
            if inner in _GGUF_SCALAR:
                return at + n * _GGUF_SCALAR[inner]
            for _ in range(n):
                at = skip(inner, at)
            return at
        raise ValueError(f"unknown GGUF type {kind}")

    for _ in range(n_kv):
        key, pos = string(pos)
        (kind,) = struct.unpack_from("<I", buf, pos)
        pos += 4
        if key == "general.alignment" and kind == 4:
            (alignment,) = struct.unpack_from("<I", buf, pos)
            if not 1 <= alignment <= 1 << 20:
                return None
        pos = skip(kind, pos)
    infos: list[tuple[str, int, int]] = []
    for _ in range(n_tensors):
        name, pos = string(pos)
        (dims,) = struct.unpack_from("<I", buf, pos)
        if dims > 8:
            return None
        pos += 4 + 8 * dims
        ttype, offset = struct.unpack_from("<IQ", buf, pos)
        pos += 12
        infos.append((name, ttype, offset))
    data = pos + (-pos % alignment)
    if not infos or data > size:
        return None
    # A tensor's size (quantised types pack blocks) is where the next one starts.
    infos.sort(key=lambda t: t[2])
    out: list[Array] = []
    for i, (name, ttype, offset) in enumerate(infos):
        start = data + offset
        end = data + infos[i + 1][2] if i + 1 < len(infos) else size
        out.append((name, start, end, _GGUF_FLOAT.get(ttype, 1)))
    return out
