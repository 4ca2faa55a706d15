"""The chunk store (issue 15): the chunk-list format and its strict parser,
chunk encodings, where files are cut (safetensors tensors, else FastCDC),
and ChunkStore.add / rebuild / ChunkedReader on a real cache in tmp_path."""

from __future__ import annotations

import os
import random
import shutil
import stat
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from gitmodel.errors import CorruptObjectError, GitmodelError, PointerError
from gitmodel.store import chunker, chunks
from gitmodel.store import oid as oidmod
from gitmodel.store import pack as packmod
from gitmodel.store.cache import Cache
from gitmodel.store.chunks import Chunk, ChunkList

OID_A = "xxh128:" + "a" * 32
OID_B = "xxh128:" + "b" * 32
OID_C = "xxh128:" + "c" * 32
OID_D = "xxh128:" + "d" * 32


# -- chunk lists ------------------------------------------------------------------------------

def sample_list() -> ChunkList:
    return ChunkList(OID_A, 300, (
        Chunk(100, OID_B, (OID_B,), "embed.weight#0"),
        Chunk(150, OID_C, (OID_D, OID_B), "a key/with #:+ and spaces %"),
        Chunk(50, OID_D, (OID_D,)),
    ))


def test_chunk_list_round_trips() -> None:
    cl = sample_list()
    data = chunks.dumps(cl)
    assert data.startswith(b"gitmodel-chunks 1\nfile " + OID_A.encode() + b" 300 3\n")
    assert chunks.loads(data, OID_A, "test", 300) == cl
    assert chunks.loads(data, OID_A, "test") == cl  # no pointer size to compare with
    assert cl.offsets() == [0, 100, 250]
    assert cl.objects() == {OID_B, OID_D}
    assert len(data) <= chunks.max_bytes(300)


def lines(body: list[str], count: int | None = None, total: int = 300, oid: str = OID_A) -> bytes:
    n = len(body) if count is None else count
    return ("\n".join([chunks.HEADER, f"file {oid} {total} {n}", *body]) + "\n").encode()


GOOD = f"300 {OID_B} {OID_B}"


@pytest.mark.parametrize("data, why", [
    ("gitmodel-chunks 1\nfile é\n".encode(), "not ASCII"),
    (b"gitmodel-chunks 2\n" + lines([GOOD]).split(b"\n", 1)[1], "bad header"),
    (lines([GOOD])[:-1], "bad header or end"),  # no final newline
    (b"gitmodel-chunks 1\n", "bad header"),
    (lines([GOOD]).replace(b"file ", b"fil "), "malformed second line"),
    (lines([GOOD], oid=OID_C), "list of another file"),
    (lines([GOOD], total=301), "says 301 bytes, its pointer 300"),
    (lines([GOOD], count=2), "says 2 chunks but lists 1"),
    (lines([f"300 {OID_B}"]), "malformed line"),
    (lines([f"300 {OID_B} {OID_B} two words"]), "malformed line"),
    (lines([f"-1 {OID_B} {OID_B}"]), "malformed line"),
    (lines([f"300 xxh128:{'A' * 32} {OID_B}"]), "malformed line"),  # hex is lowercase
    (lines([f"300 {OID_B} " + ",".join([OID_C, OID_D, OID_A, OID_B, "xxh128:" + "e" * 32])]), "malformed line"),
    (lines([f"0 {OID_B} {OID_B}", GOOD]), "impossible chunk"),
    (lines([f"{chunks.MAX_CHUNK + 1} {OID_B} {OID_C}"], total=chunks.MAX_CHUNK + 1), "impossible chunk"),
    (lines([f"300 {OID_B} {OID_C},{OID_C}"]), "impossible chunk"),  # a chain through itself
    (lines([f"300 {OID_B} {OID_C},{OID_B}"]), "impossible chunk"),  # a chunk its own base
    (lines([f"300 {OID_B} {OID_B},{OID_C}"]), "a raw chunk cannot have a base"),
    (lines([f"100 {OID_B} {OID_B}", f"100 {OID_C} {OID_C}"]), "add up to 200 bytes, not 300"),
])
def test_chunk_list_refusals(data: bytes, why: str) -> None:
    size = chunks.MAX_CHUNK + 1 if b"16777217" in data else 300
    with pytest.raises(PointerError) as e:
        chunks.loads(data, OID_A, "remote X", size)
    assert why in e.value.message and e.value.message.startswith("remote X: chunk list of")
    assert "\n" not in str(e.value)


def test_chunk_list_of_a_file_larger_than_any_pointer_is_refused() -> None:
    with pytest.raises(PointerError, match="says"):
        chunks.loads(lines([GOOD], total=(1 << 62) + 1), OID_A, "test")


# -- encodings -------------------------------------------------------------------------------

def floats(n: int, seed: int = 0, dtype: str = "<f4") -> bytes:
    return np.random.default_rng(seed).standard_normal(n).astype(dtype).tobytes()


@pytest.mark.parametrize("elem", [1, 2, 4, 8])
@pytest.mark.parametrize("tail", [0, 1, 3])
def test_encode_decode_round_trip(elem: int, tail: int) -> None:
    raw = floats(5000)[: 5000 * 4 - (5000 * 4) % max(elem, 1)] + b"\x07" * tail
    enc = chunks.encode(raw, elem)
    assert enc[:4] == chunks.MAGIC and enc[4:5] == (b"g" if elem > 1 else b"z") and enc[5] == elem
    assert chunks.decode(enc, len(raw), None, "test") == raw
    assert chunks.ungroup(chunks.group(raw, elem), elem) == raw


def test_grouping_makes_floats_smaller() -> None:
    raw = floats(50_000)
    assert len(chunks.encode(raw, 4)) < len(chunks.encode(raw, 1))


@pytest.mark.parametrize("elem", [1, 2, 4, 8])
def test_delta_round_trip_and_is_small_for_a_nudged_tensor(elem: int) -> None:
    rng = np.random.default_rng(1)
    base_arr = rng.standard_normal(20_000).astype(np.float32)
    new_arr = (base_arr * (1 + 1e-5 * rng.standard_normal(20_000))).astype(np.float32)
    base, raw = base_arr.tobytes(), new_arr.tobytes() + b"\x01\x02\x03"
    base += b"\x09\x02\x03"  # equal lengths, a tail no element fills
    delta = chunks.encode(raw, elem, base)
    assert delta[4:5] == b"x"
    assert chunks.decode(delta, len(raw), base, "test") == raw
    if elem == 4:
        assert len(delta) < 0.8 * len(chunks.encode(raw, 4))


def test_xor_is_its_own_inverse() -> None:
    a, b = os.urandom(1000), os.urandom(1000)
    assert chunks.xor(chunks.xor(a, b), b) == a


@pytest.mark.parametrize("stored, base, why", [
    (b"GMC", None, "not an encoded chunk"),
    (b"GMC2z\x01....", None, "not an encoded chunk"),
    (b"GMC1q\x01....", None, "not an encoded chunk"),
    (chunks.encode(b"x" * 100, 1), b"y" * 100, "a base for a whole one"),
    (chunks.encode(b"x" * 100, 1, b"y" * 100), None, "a delta chunk without its base"),
    (b"GMC1z\x01" + b"not zstd at all", None, "does not decompress"),
    (chunks.encode(b"x" * 99, 1), None, "decodes to 99 bytes, not 100"),
    (chunks.encode(b"x" * 100, 1, b"y" * 100), b"y" * 99, "decodes to"),
])
def test_decode_refusals(stored: bytes, base: bytes | None, why: str) -> None:
    with pytest.raises(CorruptObjectError, match=why):
        chunks.decode(stored, 100, base, "test")


def test_decode_never_allocates_more_than_the_chunk_says() -> None:
    bomb = chunks.encode(bytes(50 << 20), 1)  # 50 MiB of zeros in a few KiB
    with pytest.raises(CorruptObjectError):
        chunks.decode(bomb, 1000, None, "test")


# -- where files are cut ---------------------------------------------------------------------

def cut(path: Path) -> list[chunker.Piece]:
    fd = os.open(path, os.O_RDONLY)
    try:
        out = []
        pos = 0
        data = path.read_bytes()
        for p, b in chunker.pieces(fd, os.fstat(fd).st_size):
            assert p.offset == pos and bytes(b) == data[p.offset:p.offset + p.size]
            pos += p.size
            out.append(p)
        assert pos == len(data)  # the pieces cover the file, in order
        return out
    finally:
        os.close(fd)


def test_safetensors_are_cut_at_tensors_with_their_element_size(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    tensors = {
        "a.f16": rng.standard_normal(300_000).astype(np.float16),  # 600,000 bytes: 3 pieces
        "b.f64": rng.standard_normal(40_000),  # 320,000 bytes: 2 pieces
        "c.i8": rng.integers(-100, 100, 100_000).astype(np.int8),
        "d.f32": rng.standard_normal(70_000).astype(np.float32),
    }
    path = tmp_path / "m.safetensors"
    save_file(tensors, str(path))
    fd = os.open(path, os.O_RDONLY)
    try:
        layout = chunker.safetensors_layout(fd, path.stat().st_size)
    finally:
        os.close(fd)
    assert layout is not None and sorted(t[0] for t in layout) == sorted(tensors)
    assert [t[1] for t in layout] == sorted(t[1] for t in layout)  # in file order
    assert {t[0]: t[3] for t in layout} == {"a.f16": 2, "b.f64": 8, "c.i8": 1, "d.f32": 4}
    pieces = cut(path)
    assert pieces[0].key == "__header__#0" and pieces[0].offset == 0
    by_tensor: dict[str, list[chunker.Piece]] = {}
    for p in pieces[1:]:
        by_tensor.setdefault(p.key.rsplit("#", 1)[0], []).append(p)
    assert set(by_tensor) == set(tensors)
    for name, start, end, elem in layout:
        ps = by_tensor[name]
        assert ps[0].offset == start and ps[-1].offset + ps[-1].size == end
        assert [p.key for p in ps] == [f"{name}#{i}" for i in range(len(ps))]
        assert all(p.elem == elem and p.size <= chunker.TENSOR_PIECE and p.size % elem == 0 for p in ps[:-1])
    assert len(by_tensor["a.f16"]) == 3 and len(by_tensor["b.f64"]) == 2


def test_small_tensors_are_grouped(tmp_path: Path) -> None:
    tensors = {f"layer.{i:03d}.bias": np.full(100, i, dtype=np.float32) for i in range(300)}  # 400 bytes each
    tensors["big"] = np.zeros(100_000, dtype=np.float32)
    path = tmp_path / "m.safetensors"
    save_file(tensors, str(path))
    pieces = cut(path)
    small = [p for p in pieces if not p.key.startswith(("__header__", "big#"))]
    # 120,000 bytes of biases in about 64 KiB groups, not 300 tiny chunks.
    assert 2 <= len(small) <= 3 and all(p.size >= chunker.SMALL_GROUP or p is small[-1] for p in small)
    assert all(p.elem == 1 for p in small)


def test_a_header_only_safetensors_file_is_one_piece(tmp_path: Path) -> None:
    path = tmp_path / "empty.safetensors"
    save_file({}, str(path), metadata={"note": "no tensors"})
    pieces = cut(path)
    assert [p.key for p in pieces] == ["__header__#0"]


@pytest.mark.parametrize("damage", ["not json", "overlap", "past the end", "bad offsets", "huge length"])
def test_a_malformed_safetensors_header_falls_back_to_content_defined_cuts(tmp_path: Path, damage: str) -> None:
    rng = np.random.default_rng(3)
    body = rng.standard_normal(200_000).astype(np.float32).tobytes()
    headers = {
        "not json": b'{"a": {"dtype": "F32", "shape": [200000], "data_offsets": [0, 800000]}',
        "overlap": b'{"a": {"dtype": "F32", "shape": [100000], "data_offsets": [0, 400000]},'
                   b' "b": {"dtype": "F32", "shape": [100000], "data_offsets": [399996, 799996]}}',
        "past the end": b'{"a": {"dtype": "F32", "shape": [200001], "data_offsets": [0, 800004]}}',
        "bad offsets": b'{"a": {"dtype": "F32", "shape": [200000], "data_offsets": [0, "800000"]}}',
        "huge length": b"{}",
    }
    header = headers[damage]
    length = (1 << 40) if damage == "huge length" else len(header)
    path = tmp_path / "bad.safetensors"
    path.write_bytes(length.to_bytes(8, "little") + header + body)
    assert chunker.header_layout(header, path.stat().st_size) is None or damage == "huge length"
    pieces = cut(path)
    assert all(p.key == "" and p.elem == 1 for p in pieces)  # FastCDC's
    assert len(pieces) > 3


def cdc_offsets(path: Path) -> list[tuple[int, int]]:
    return [(p.offset, p.size) for p in cut(path)]


def test_content_defined_cuts_are_the_same_windowed_or_whole(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(random.Random(5).randbytes(3 << 20))
    whole = cdc_offsets(path)
    monkeypatch.setattr(chunker, "WINDOW", chunker.CDC_MAX + 12_345)
    windowed = cdc_offsets(path)
    assert windowed == whole
    assert len(whole) > 20 and max(n for _, n in whole) <= chunker.CDC_MAX


def test_an_insertion_mid_file_changes_only_the_chunks_around_it(tmp_path: Path) -> None:
    rows = [f"{i},{i * 7 % 1000},row number {i} of the table\n".encode() for i in range(80_000)]
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_bytes(b"".join(rows))
    b.write_bytes(b"".join(rows[:40_000] + [b"999999,1,an inserted row\n"] * 50 + rows[40_000:]))

    def hashes(path: Path) -> list[str]:
        data = path.read_bytes()
        return [oidmod.of_bytes(data[p.offset:p.offset + p.size]) for p in cut(path)]

    ha, hb = hashes(a), hashes(b)
    assert len(ha) > 20
    assert len(set(hb) - set(ha)) <= 3 and len(set(ha) - set(hb)) <= 3


# -- ChunkStore -------------------------------------------------------------------------------

@pytest.fixture
def cache(tmp_path: Path) -> Cache:
    c = Cache(str(tmp_path / "cache"))
    c.ensure()
    return c


def pack_bytes(cache: Cache) -> int:
    return sum(os.path.getsize(os.path.join(cache.packs, n)) for n in os.listdir(cache.packs) if n.endswith(".pack"))


def checkpoint(path: Path, tensors: dict[str, np.ndarray]) -> Path:
    save_file(tensors, str(path))
    return path


def base_tensors(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "embed": rng.standard_normal((512, 512)).astype(np.float32),  # 1 MiB
        "block.0": rng.standard_normal((512, 256)).astype(np.float32),
        "head": rng.standard_normal((256, 256)).astype(np.float32),
        "norm": np.ones(256, dtype=np.float32),
    }


def test_the_same_file_twice_stores_nothing_new(cache: Cache, tmp_path: Path) -> None:
    path = checkpoint(tmp_path / "m.safetensors", base_tensors())
    oid, size = cache.chunks.add(str(path))
    assert oid == oidmod.of_bytes(path.read_bytes()) and size == path.stat().st_size
    assert cache.is_chunked(oid) and cache.size_of(oid) == size
    before = pack_bytes(cache)
    assert before > 0
    assert cache.chunks.add(str(path)) == (oid, size)
    assert cache.chunks.add(str(path), base=oid) == (oid, size)
    assert pack_bytes(cache) == before
    assert cache.read_bytes(oid) == path.read_bytes() and cache.hash_of(oid) == oid


def test_a_second_version_reuses_its_unchanged_chunks(cache: Cache, tmp_path: Path) -> None:
    v1 = base_tensors()
    oid1, _ = cache.chunks.add(str(checkpoint(tmp_path / "v1.safetensors", v1)))
    first = pack_bytes(cache)
    v2 = dict(v1, head=np.random.default_rng(9).standard_normal((256, 256)).astype(np.float32))  # 256 KiB changed
    oid2, size2 = cache.chunks.add(str(checkpoint(tmp_path / "v2.safetensors", v2)), base=oid1)
    new = pack_bytes(cache) - first
    # The new head (random floats, grouped: ~90% of 256 KiB) and the header; not the 1.5 MiB left alone.
    assert new < 300_000, new
    assert new < size2 / 5
    l1, l2 = cache.chunks.read_list(oid1), cache.chunks.read_list(oid2)
    shared = {c.raw for c in l1.chunks} & {c.raw for c in l2.chunks}
    assert sum(c.size for c in l2.chunks if c.raw in shared) > 1_400_000
    assert cache.read_bytes(oid2) == (tmp_path / "v2.safetensors").read_bytes()


def fine_tuned(tensors: dict[str, np.ndarray], seed: int) -> dict[str, np.ndarray]:
    """Every float moved by about 1e-5 of itself: a full fine-tune at a small learning rate."""
    rng = np.random.default_rng(seed)
    return {k: (v * (1 + 1e-5 * rng.standard_normal(v.shape))).astype(v.dtype) for k, v in tensors.items()}


def test_a_full_fine_tune_stores_deltas_and_chains_stay_bounded(cache: Cache, tmp_path: Path) -> None:
    tensors = base_tensors()
    path = checkpoint(tmp_path / "v0.safetensors", tensors)
    oid, _ = cache.chunks.add(str(path))
    alone = pack_bytes(cache)
    lengths: list[int] = []
    oids = [oid]
    for v in range(1, 2 * chunks.MAX_CHAIN + 1):
        tensors = fine_tuned(tensors, v)
        before = pack_bytes(cache)
        path = checkpoint(tmp_path / f"v{v}.safetensors", tensors)
        oid, _ = cache.chunks.add(str(path), base=oid)
        oids.append(oid)
        cl = cache.chunks.read_list(oid)
        big = [c for c in cl.chunks if c.key.startswith("embed#")]
        lengths.append(max(len(c.chain) for c in big))
        assert all(len(c.chain) <= chunks.MAX_CHAIN for c in cl.chunks)
        if v == 1:
            assert all(len(c.chain) == 2 for c in big)  # a delta against version 0
            # float32 weights byte-grouped save too little to be stored encoded
            # (MIN_SAVING): version 0's pieces are raw, and the deltas say so (y).
            first = {c.key: c for c in cache.chunks.read_list(oids[0]).chunks}
            methods = {cache.read_stored(c.stored)[4:5] for c in big}
            assert methods == {b"y" if not first[c.key].encoded else b"x" for c in big}
            assert b"y" in methods
            assert pack_bytes(cache) - before < 0.8 * alone, (pack_bytes(cache) - before, alone)
        assert cache.read_bytes(oid) == path.read_bytes()
    # The chain grows to MAX_CHAIN, then the next version starts a new one.
    assert lengths[: chunks.MAX_CHAIN - 1] == list(range(2, chunks.MAX_CHAIN + 1))
    assert lengths[chunks.MAX_CHAIN - 1] == 1
    assert max(lengths) == chunks.MAX_CHAIN
    for o in oids:
        assert cache.hash_of(o) == o


def test_rebuild_verifies_every_chunk(cache: Cache, tmp_path: Path) -> None:
    path = checkpoint(tmp_path / "m.safetensors", base_tensors())
    oid, _ = cache.chunks.add(str(path))
    cl = cache.chunks.read_list(oid)
    copy = tmp_path / "copy"
    shutil.copytree(cache.root, copy)
    broken = Cache(str(copy))
    target = next(c for c in cl.chunks if c.key == "embed#1")
    loc = broken.locate(target.stored)
    assert loc is not None
    os.chmod(loc.pack, stat.S_IRUSR | stat.S_IWUSR)
    with open(loc.pack, "r+b") as f:
        f.seek(loc.offset + loc.size // 2)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(CorruptObjectError):
        broken.chunks.rebuild(cl, lambda _: None, "test")
    assert broken.hash_of(oid) == "corrupt"
    with pytest.raises(CorruptObjectError):
        broken.read_bytes(oid)
    # A range read that covers the damaged chunk is refused; one that does not is fine.
    data = path.read_bytes()
    start = cl.offsets()[cl.chunks.index(target)]
    reader = broken.chunks.open(oid)
    reader.seek(start + 10)
    with pytest.raises(CorruptObjectError):
        reader.read(100)
    reader.seek(0)
    assert reader.read(1000) == data[:1000]
    assert cache.hash_of(oid) == oid  # the original is intact


def test_chunked_reader_reads_any_range(cache: Cache, tmp_path: Path) -> None:
    path = tmp_path / "data.bin"
    data = random.Random(11).randbytes(2 << 20)
    path.write_bytes(data)
    oid, size = cache.chunks.add(str(path))
    reader = cache.chunks.open(oid)
    assert reader.seekable() and reader.readable()
    rnd = random.Random(12)
    for _ in range(50):
        start = rnd.randrange(size + 10)
        n = rnd.randrange(0, 400_000)
        assert reader.seek(start) == start
        assert reader.read(n) == data[start:start + n]
        assert reader.tell() == min(start + n, max(start, size)) or start > size
    reader.seek(-100, os.SEEK_END)
    assert reader.read() == data[-100:]
    covered = reader.chunks_for(1000, 300_000)
    starts = reader.starts
    assert covered and sum(c.size for c in covered) >= 299_000
    first = reader.list.chunks.index(covered[0])
    assert starts[first] <= 1000 < starts[first] + covered[0].size
    with pytest.raises(ValueError):
        reader.seek(-1)
    with cache.open(oid) as f:  # the cache's stream of a chunked file: the same bytes
        f.seek(123_456)
        assert f.read(1000) == data[123_456:124_456]


def changing(path: Path, how: str) -> Callable[[int, int], Iterator[tuple[chunker.Piece, bytes | memoryview]]]:
    real = chunker.pieces

    def pieces(fd: int, size: int) -> Iterator[tuple[chunker.Piece, bytes | memoryview]]:
        for i, item in enumerate(real(fd, size)):
            if i == 2:  # another program writes the file while it is being added
                if how == "grows":
                    with open(path, "ab") as f:
                        f.write(b"more")
                else:
                    os.truncate(path, size // 2)
            yield item

    return pieces


@pytest.mark.parametrize("how", ["grows", "shrinks"])
def test_a_file_that_changes_while_it_is_added_is_refused(cache: Cache, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    path = tmp_path / "data.bin"
    path.write_bytes(random.Random(1).randbytes(1 << 20))
    monkeypatch.setattr(chunker, "pieces", changing(path, how))
    with pytest.raises(GitmodelError, match="changed .*while it was being added"):
        cache.chunks.add(str(path))
    assert not os.path.exists(cache.chunks.folder) or not any(Path(cache.chunks.folder).rglob("*/*/*"))
    assert packmod.list_ids(cache.packs) == []  # nothing published
