"""store/layouts.py: where the arrays are in .npy, .npz, PyTorch-style zip
and GGUF files (each written by its own format's real writer), so the
chunker cuts at array boundaries; and that anything odd falls back to the
content cut instead of failing."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np
import pytest

from gitmodel.store import chunker, layouts


def _arrays(path: Path) -> list[layouts.Array] | None:
    fd = os.open(path, os.O_RDONLY)
    try:
        return layouts.detect(lambda offset, n: os.pread(fd, n, offset), os.fstat(fd).st_size)
    finally:
        os.close(fd)


def _pieces(path: Path) -> list[chunker.Piece]:
    fd = os.open(path, os.O_RDONLY)
    try:
        return [p for p, _ in chunker.pieces(fd, os.fstat(fd).st_size)]
    finally:
        os.close(fd)


def _weights(seed: int, shape: tuple[int, ...], dtype: type = np.float32) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(shape) * 0.02).astype(dtype)


def test_npy_array_found_with_its_element_size(tmp_path: Path) -> None:
    a = _weights(0, (700, 300))
    np.save(tmp_path / "a.npy", a)
    (arr,) = _arrays(tmp_path / "a.npy") or []
    name, start, end, elem = arr
    assert (name, elem, end - start) == ("array", 4, a.nbytes)
    assert (tmp_path / "a.npy").read_bytes()[start:end] == a.tobytes()


def test_npz_stored_entries_are_arrays(tmp_path: Path) -> None:
    w, h = _weights(1, (400, 300)), _weights(2, (500, 200), np.float16)
    np.savez(tmp_path / "m.npz", w=w, h=h)
    found = {name: (start, end, elem) for name, start, end, elem in _arrays(tmp_path / "m.npz") or []}
    data = (tmp_path / "m.npz").read_bytes()
    assert found["w.npy"][2] == 4 and found["h.npy"][2] == 2
    assert data[found["w.npy"][0]:found["w.npy"][1]] == w.tobytes()
    assert data[found["h.npy"][0]:found["h.npy"][1]] == h.tobytes()


def test_compressed_npz_is_cut_by_content(tmp_path: Path) -> None:
    np.savez_compressed(tmp_path / "m.npz", w=_weights(1, (400, 300)))
    assert _arrays(tmp_path / "m.npz") is None  # deflated entries: no array boundaries to cut at
    pieces = _pieces(tmp_path / "m.npz")
    assert sum(p.size for p in pieces) == os.path.getsize(tmp_path / "m.npz")


def test_pytorch_style_zip_storages(tmp_path: Path) -> None:
    """torch.save's layout: archive/data.pkl and one stored entry per storage."""
    a, b = _weights(3, (600, 256)), _weights(4, (300, 256))
    with zipfile.ZipFile(tmp_path / "m.pt", "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
        z.writestr("archive/data/0", a.tobytes())
        z.writestr("archive/data/1", b.tobytes())
    found = {name: (start, end, elem) for name, start, end, elem in _arrays(tmp_path / "m.pt") or []}
    data = (tmp_path / "m.pt").read_bytes()
    s, e, elem = found["archive/data/0"]
    assert data[s:e] == a.tobytes() and elem == 4
    s, e, _ = found["archive/data/1"]
    assert data[s:e] == b.tobytes()


def test_gguf_tensors_from_the_real_writer(tmp_path: Path) -> None:
    gguf = pytest.importorskip("gguf")
    path = tmp_path / "m.gguf"
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_block_count(1)
    w.add_array("tokenizer.ggml.tokens", ["a", "b", "c"])
    tok, ffn = _weights(5, (500, 256)), _weights(6, (256, 600), np.float16)
    w.add_tensor("tok.weight", tok)
    w.add_tensor("blk.0.ffn.weight", ffn)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    found = {name: (start, end, elem) for name, start, end, elem in _arrays(path) or []}
    data = path.read_bytes()
    s, _, elem = found["tok.weight"]
    assert data[s:s + tok.nbytes] == tok.tobytes() and elem == 4
    s, _, elem = found["blk.0.ffn.weight"]
    assert data[s:s + ffn.nbytes] == ffn.tobytes() and elem == 2
    for t in gguf.GGUFReader(str(path)).tensors:  # the reader of llama.cpp's project agrees
        assert found[t.name][0] == t.data_offset


@pytest.mark.parametrize("damage", [
    lambda d: d[:40],  # cut short
    lambda d: d[:6] + b"\xff\xff\xff\xff" + d[10:],  # header length past the file
    lambda d: d[:10] + b"{'descr': 5}" + d[22:],  # not a dtype
    lambda d: b"PK\x03\x04" + os.urandom(200),  # a zip without a directory
    lambda d: b"GGUF" + b"\x03\x00\x00\x00" + b"\xff" * 16 + d[24:],  # counts past every bound
    lambda d: b"GGUF" + b"\x03\x00\x00\x00" + b"\x01" + b"\x00" * 7 + b"\x01" + b"\x00" * 7 + b"\xff" * 64,
])
def test_damaged_files_fall_back_to_the_content_cut(tmp_path: Path, damage: object) -> None:
    np.save(tmp_path / "a.npy", _weights(0, (200, 100)))
    bad = damage((tmp_path / "a.npy").read_bytes())  # type: ignore[operator]
    (tmp_path / "bad.bin").write_bytes(bad)
    assert _arrays(tmp_path / "bad.bin") is None
    assert sum(p.size for p in _pieces(tmp_path / "bad.bin")) == len(bad)


def test_one_changed_array_leaves_the_others_chunks(tmp_path: Path) -> None:
    """What the layouts are for: a second version with one array changed has
    the same pieces for every other array, though its bytes moved."""
    arrays = {f"w{i}": _weights(i, (300, 256)) for i in range(4)}
    np.savez(tmp_path / "v1.npz", **arrays)
    arrays["w0"] = _weights(99, (400, 256))  # a different shape: everything after it moves
    np.savez(tmp_path / "v2.npz", **arrays)

    def digests(path: Path) -> dict[str, bytes]:
        data = path.read_bytes()
        return {p.key: data[p.offset:p.offset + p.size] for p in _pieces(path) if p.key.startswith("w")}

    one, two = digests(tmp_path / "v1.npz"), digests(tmp_path / "v2.npz")
    for key in one:
        if not key.startswith("w0"):
            assert one[key] == two[key], key
    assert any(one[k] != two.get(k) for k in one if k.startswith("w0.npy"))
