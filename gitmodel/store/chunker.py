"""Where a large file is cut into chunks.

Two ways, chosen by what the file says of itself:

- **safetensors** (an 8-byte header length, a JSON header naming each
  tensor's dtype and byte range, then the tensors): cut at tensor
  boundaries, and each large tensor into fixed pieces counted from its own
  start.  A tensor a fine-tune left alone is then the same chunks in every
  version, wherever it moved in the file (a layer inserted before it); a
  changed one lines up piece by piece with its previous version, which is
  what a delta needs.  Small tensors (biases, norms) are grouped so no chunk
  is tiny.  The header is a chunk of its own: it is what changes when
  anything moves.
  NumPy's .npy/.npz, PyTorch's zip checkpoints and GGUF are cut the same
  way, their arrays found by store/layouts.py.
- **anything else**: FastCDC (content-defined: an insertion shifts only the
  chunks around it, so appended or inserted rows of a CSV cost a few
  chunks), through pyfastcdc, over windows of the file so memory stays flat.

Sizes are measured in bench/ (docs/architecture.md, "Chunked files").
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass

CDC_MIN = 16 << 10
CDC_AVG = 48 << 10  # pyfastcdc's average is avg + min: about 64 KiB
CDC_MAX = 256 << 10
TENSOR_PIECE = 256 << 10  # a large tensor's fixed pieces
SMALL_GROUP = 64 << 10  # small tensors are grouped up to about this much
WINDOW = 16 << 20  # bytes read at once by the content-defined cut
MAX_HEADER = 100 << 20  # a safetensors header past this is not one we read

# safetensors dtypes -> bytes per element (the unit byte grouping works in).
DTYPE_SIZE = {"F64": 8, "I64": 8, "U64": 8, "F32": 4, "I32": 4, "U32": 4, "F16": 2, "BF16": 2, "I16": 2,
              "U16": 2, "F8_E4M3": 1, "F8_E5M2": 1, "I8": 1, "U8": 1, "BOOL": 1}


@dataclass(frozen=True, slots=True)
class Piece:
    offset: int
    size: int
    key: str = ""  # the name the next version's piece is paired with ("" for none)
    elem: int = 1  # bytes per element, for byte grouping (1: none)


def pieces(fd: int, size: int) -> Iterator[tuple[Piece, bytes | memoryview]]:
    """The chunks of the open file `fd` of `size` bytes, in order, covering
    it, each with its bytes.  Read with pread, never mapped: a file another
    program truncates meanwhile makes a short read (the caller's size check
    refuses it), not a SIGBUS."""
    tensors = safetensors_layout(fd, size)
    if tensors is None:
        from gitmodel.store import layouts  # .npy, .npz, PyTorch zip checkpoints, GGUF

        tensors = layouts.detect(lambda offset, n: os.pread(fd, n, offset), size)
    if tensors is not None:
        for p in _tensor_pieces(tensors, size):
            yield p, _read(fd, p.offset, p.size)
    else:
        yield from cdc_pieces(fd, 0, size)


def _read(fd: int, offset: int, n: int) -> bytes:
    data = os.pread(fd, n, offset)
    while 0 < len(data) < n:  # a short read of a regular file is rare, but allowed
        more = os.pread(fd, n - len(data), offset + len(data))
        if not more:
            break
        data += more
    if len(data) != n:
        raise FileChangedError(offset)
    return data


class FileChangedError(Exception):
    """The file ended before the size it had when the add began."""


def safetensors_layout(fd: int, size: int) -> list[tuple[str, int, int, int]] | None:
    """(name, start, end, element size) of each tensor in file offsets,
    sorted, or None when the file is not a well-formed safetensors file
    (then it is cut by content like any other: never an error)."""
    n = header_length(os.pread(fd, 9, 0), size)
    if n is None:
        return None
    return header_layout(_read(fd, 8, n), size)


def header_length(head: bytes, size: int) -> int | None:
    """The JSON header's length from a safetensors file's first 9 bytes (or
    more), or None when they cannot start one of `size` bytes."""
    if len(head) < 9 or size < 10:
        return None
    (n,) = struct.unpack("<Q", head[:8])
    if n < 2 or n > MAX_HEADER or 8 + n > size or head[8:9] != b"{":
        return None
    return int(n)


def header_layout(raw: bytes, size: int) -> list[tuple[str, int, int, int]] | None:
    """safetensors_layout from the JSON header's bytes (read by the caller,
    from a file or a remote stream) of a file of `size` bytes."""
    n = len(raw)
    try:
        header = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    if not isinstance(header, dict):
        return None
    base = 8 + n
    out = []
    for name, info in header.items():
        if name == "__metadata__":
            continue
        if not isinstance(info, dict):
            return None
        offsets, dtype = info.get("data_offsets"), info.get("dtype")
        if (not isinstance(offsets, list) or len(offsets) != 2 or not all(type(o) is int for o in offsets)
                or not isinstance(dtype, str)):
            return None
        start, end = base + offsets[0], base + offsets[1]
        if not base <= start <= end <= size:
            return None
        out.append((name, start, end, DTYPE_SIZE.get(dtype, 1)))
    out.sort(key=lambda t: (t[1], t[2]))
    pos = base
    for _, start, end, _ in out:
        if start < pos:
            return None  # overlapping tensors: not a layout we can cut by
        pos = end
    return out


def _tensor_pieces(tensors: list[tuple[str, int, int, int]], size: int) -> Iterator[Piece]:
    pos = 0
    first = tensors[0][1] if tensors else size
    yield from _fixed(0, first, "__header__", 1)  # the length, the JSON header and its padding
    pos = first
    group_start = -1
    group_key = ""
    for name, start, end, elem in tensors:
        if start > pos:  # bytes no tensor claims: kept, in the group
            if group_start < 0:
                group_start, group_key = pos, f"{name}@gap"
            pos = start
        if end - start >= SMALL_GROUP:
            if group_start >= 0:
                yield from _fixed(group_start, pos, group_key, 1)
                group_start = -1
            yield from _fixed(start, end, name, elem)
        else:
            if group_start < 0:
                group_start, group_key = start, name
            if end - group_start >= SMALL_GROUP:
                yield from _fixed(group_start, end, group_key, 1)
                group_start = -1
        pos = end
    if size > pos and group_start < 0:
        group_start, group_key = pos, "__tail__"
    if group_start >= 0:
        yield from _fixed(group_start, size, group_key, 1)


def _fixed(start: int, end: int, key: str, elem: int) -> Iterator[Piece]:
    """`[start, end)` in TENSOR_PIECE pieces counted from `start`, keyed `key#i`."""
    piece = TENSOR_PIECE - TENSOR_PIECE % max(elem, 1)
    for i, off in enumerate(range(start, end, piece)):
        yield Piece(off, min(piece, end - off), f"{key}#{i}", elem)


def cdc_pieces(fd: int, start: int, end: int) -> Iterator[tuple[Piece, memoryview]]:
    """FastCDC over `[start, end)`, a window at a time.  Each window's last
    chunk is cut by the window's end, not by content, so it is cut again
    with the next window: cutting restarts at a boundary it found, and from
    a boundary FastCDC finds the same ones as it would over the whole file."""
    from pyfastcdc import FastCDC  # imported when a large file is cut

    cdc = FastCDC(avg_size=CDC_AVG, min_size=CDC_MIN, max_size=CDC_MAX)
    pos = start
    while pos < end:
        stop = min(end, pos + WINDOW)
        window = memoryview(_read(fd, pos, stop - pos))
        cuts = [(c.offset, c.length) for c in cdc.cut_buf(window)]
        if stop < end and len(cuts) > 1:
            cuts.pop()  # cut by the window's end: found again from its start
        for off, length in cuts:
            yield Piece(pos + off, length), window[off:off + length]
        pos += sum(length for _, length in cuts)
