"""Reads of chunked files without a full download (issue 15, item 3):
`gitmodel.open` of a chunked file is seekable and rebuilds only the chunks a
read covers; `gitmodel.load_tensors` reads a safetensors header and then
only the named tensors, so a fresh clone reading one tensor of a remote's
chunked file downloads that tensor's chunks, not the file.  Real
repositories, real clones, a folder remote and the moto S3 server."""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

import gitmodel
from gitmodel.errors import GitmodelError
from gitmodel.remote.spec import open_remote, spec_from_config
from gitmodel.repo import Repo
from gitmodel.store import chunks
from tests.support.cli import gm_run
from tests.support.git import clone, commit_without_hooks, gm_add, make_repo
from tests.support.remote import add_remote
from tests.support.store import cache_root

MiB = 1 << 20


@pytest.fixture(autouse=True)
def _small_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITMODEL_CHUNK_THRESHOLD", "1MiB")  # files of a few MiB are chunked


def model(seed: int = 0) -> dict[str, np.ndarray]:
    """A transformer-like checkpoint of about 4.5 MiB: large float matrices
    of two dtypes, one tensor read on its own, small biases and an int table."""
    rng = np.random.default_rng(seed)
    return {
        "embed.weight": rng.standard_normal((1024, 512)).astype(np.float32),  # 2 MiB
        "block.0.weight": rng.standard_normal((1024, 512)).astype(np.float16),  # 1 MiB
        "block.1.weight": rng.standard_normal((1024, 256)).astype(np.float32),  # 1 MiB
        "one.tensor": rng.standard_normal((128, 256)).astype(np.float32),  # 128 KiB
        "block.0.bias": rng.standard_normal(512).astype(np.float32),
        "positions": np.arange(300, dtype=np.int64).reshape(3, 100),
    }


def cache_bytes(root: Path) -> int:
    """Every byte under the clone's cache (.git/gitmodel)."""
    return sum(p.stat().st_size for p in cache_root(root).rglob("*") if p.is_file())


def chunk_list_of(root: Path, rel: str) -> chunks.ChunkList:
    r = Repo.discover(str(root))
    oid = pointer_oid(root, rel)
    return r.cache.chunks.read_list(oid)


def pointer_oid(root: Path, rel: str) -> str:
    line = next(ln for ln in (root / f"{rel}.gm").read_text().splitlines() if ln.startswith("oid "))
    return line.split()[1]


def push_all(root: Path) -> None:
    """`gitmodel push`, which sends chunked files as their chunks and lists."""
    result = gm_run(["push"], cwd=root)
    assert result.code == 0, result
    r = Repo.discover(str(root))
    remote = open_remote(spec_from_config(r.config, None, r.root))
    try:  # every chunk list went: the reads below rely on the remote having them
        oids = [f"xxh128:{shard}{name}" for shard in os.listdir(os.path.join(r.cache.chunks.folder, "xxh128"))
                for name in os.listdir(os.path.join(r.cache.chunks.folder, "xxh128", shard))]
        assert remote.lists_exist(oids, 4) == set(oids)
    finally:
        remote.close()


def published(tmp_path: Path, kind: str, endpoint: str | None = None, bucket: str | None = None
              ) -> tuple[Path, dict[str, np.ndarray]]:
    """A repository with model.safetensors (chunked) committed and pushed to a
    folder or S3 remote; returns a fresh clone (empty cache) and the tensors."""
    src = make_repo(tmp_path / "src")
    tensors = model()
    save_file(tensors, str(src / "model.safetensors"))
    add_remote(src, kind, tmp_path / "storage", endpoint, bucket)
    gm_add(src, "model.safetensors")
    assert chunk_list_of(src, "model.safetensors").size == (src / "model.safetensors").stat().st_size
    commit_without_hooks(src, "model v1", allow_empty=False)
    push_all(src)
    dest = clone(src, tmp_path / "dest")
    return dest, tensors


@pytest.mark.parametrize("kind", ["local", "s3"])
def test_one_tensor_of_a_remote_chunked_file_downloads_its_chunks_only(
        tmp_path: Path, kind: str, request: pytest.FixtureRequest) -> None:
    endpoint = bucket = None
    if kind == "s3":
        endpoint, bucket = request.getfixturevalue("s3_env"), request.getfixturevalue("s3_bucket")
    dest, tensors = published(tmp_path, kind, endpoint, bucket)
    size = (tmp_path / "src" / "model.safetensors").stat().st_size
    before = cache_bytes(dest) if cache_root(dest).exists() else 0
    calls: list[str] = []
    if kind == "s3":  # count the requests: every S3 call goes through boto3's one entry point
        from botocore.client import BaseClient

        real = BaseClient._make_api_call

        def counted(self: BaseClient, operation: str, params: dict[str, object]) -> object:
            calls.append(operation)
            return real(self, operation, params)

        request.getfixturevalue("monkeypatch").setattr(BaseClient, "_make_api_call", counted)
    got = gitmodel.load_tensors("model.safetensors", ["one.tensor"], repo=dest)
    assert list(got) == ["one.tensor"]
    np.testing.assert_array_equal(got["one.tensor"], tensors["one.tensor"])
    assert got["one.tensor"].dtype == np.float32 and got["one.tensor"].flags.writeable
    fetched = cache_bytes(dest) - before
    print(f"FIGURE {kind}: load_tensors of one 128 KiB tensor of a {size:,}-byte file: cache grew {fetched:,} bytes"
          + (f", {len(calls)} S3 requests {sorted(calls)}" if calls else ""))
    if kind == "s3":
        # The list, the packs' listing and indexes, a ranged read for the header, one for the tensor.
        assert 0 < len(calls) <= 10, calls
    # one.tensor is 128 KiB of a 4.5 MiB file: its chunk, the header's, and
    # the cache's bookkeeping (index copies, stat cache), nothing like the file.
    assert fetched < size / 8, (fetched, size)
    # The remote's chunk list stayed out of the cache: a list there would
    # claim the whole file is here.
    assert not (cache_root(dest) / "chunked").exists() or not any((cache_root(dest) / "chunked").rglob("*/*/*"))
    # Another tensor fetches its own chunks; one already read fetches nothing.
    mid = cache_bytes(dest)
    again = gitmodel.load_tensors("model.safetensors", ["one.tensor", "positions"], repo=dest)
    np.testing.assert_array_equal(again["positions"], tensors["positions"])
    assert cache_bytes(dest) - mid < 64 << 10


def test_every_tensor_of_a_remote_chunked_file(tmp_path: Path) -> None:
    dest, tensors = published(tmp_path, "local")
    got = gitmodel.load_tensors("model.safetensors", repo=dest)
    assert set(got) == set(tensors)
    for name, value in tensors.items():
        assert got[name].dtype == value.dtype and got[name].shape == value.shape
        np.testing.assert_array_equal(got[name], value)


def test_open_of_a_remote_chunked_file_seeks_and_reads_ranges(tmp_path: Path) -> None:
    dest, _ = published(tmp_path, "local")
    whole = (tmp_path / "src" / "model.safetensors").read_bytes()
    rnd = random.Random(7)
    with gitmodel.open("model.safetensors", repo=dest) as f:
        assert f.seekable()
        for _ in range(20):
            start = rnd.randrange(len(whole))
            n = rnd.randrange(1, 300_000)
            f.seek(start)
            assert f.read(n) == whole[start:start + n]
        assert f.seek(0, os.SEEK_END) == len(whole)
        assert f.read(10) == b""
        f.seek(-5, os.SEEK_END)
        assert f.read() == whole[-5:]
    assert not Repo.discover(str(dest)).cache.is_chunked(pointer_oid(dest, "model.safetensors"))
    # Read through from the start: the whole file, checked against its oid,
    # and then complete in the cache: the next read needs no remote.
    with gitmodel.open("model.safetensors", repo=dest) as f:
        assert f.read() == whole
    assert Repo.discover(str(dest)).cache.is_chunked(pointer_oid(dest, "model.safetensors"))
    shutil.rmtree(tmp_path / "storage")
    with gitmodel.open("model.safetensors", repo=dest) as f:
        f.seek(4321)
        assert f.read(100) == whole[4321:4421]
    assert gitmodel.read_bytes("model.safetensors", repo=dest) == whole
    assert gitmodel.load_tensors("model.safetensors", ["positions"], repo=dest)["positions"].shape == (3, 100)


def test_a_remote_chunk_list_that_rebuilds_another_file_is_refused_on_a_full_read(tmp_path: Path) -> None:
    dest, _ = published(tmp_path, "local")
    storage = tmp_path / "storage"
    oid = pointer_oid(dest, "model.safetensors")
    path = storage / chunks.relpath(oid)
    cl = chunks.loads(path.read_bytes(), oid, "test")
    # Two chunks of the same size swapped: every chunk is intact, the file is not.
    sizes = [c.size for c in cl.chunks]
    i = next(k for k in range(len(sizes) - 1) if sizes[k] == sizes[k + 1] and cl.chunks[k].raw != cl.chunks[k + 1].raw)
    swapped = list(cl.chunks)
    swapped[i], swapped[i + 1] = swapped[i + 1], swapped[i]
    os.chmod(path, 0o644)
    path.write_bytes(chunks.dumps(chunks.ChunkList(oid, cl.size, tuple(swapped))))
    with gitmodel.open("model.safetensors", repo=dest) as f, pytest.raises(GitmodelError, match="different file"):
        f.read()
    assert not Repo.discover(str(dest)).cache.is_chunked(oid)  # never published as complete


def test_load_tensors_of_a_local_chunked_file_and_a_whole_one(repo: Path) -> None:
    tensors = model(1)
    save_file(tensors, str(repo / "model.safetensors"))
    small = {"w": np.ones((4, 4), dtype=np.float32), "b": np.zeros(3, dtype=np.int32)}
    save_file(small, str(repo / "small.safetensors"))  # below the threshold: stored whole
    gm_add(repo, "model.safetensors", "small.safetensors")
    commit_without_hooks(repo, "v1", allow_empty=False)
    assert Repo.discover(str(repo)).cache.is_chunked(pointer_oid(repo, "model.safetensors"))
    got = gitmodel.load_tensors("model.safetensors", ["block.0.weight", "positions"])
    np.testing.assert_array_equal(got["block.0.weight"], tensors["block.0.weight"])
    assert got["block.0.weight"].dtype == np.float16
    np.testing.assert_array_equal(got["positions"], tensors["positions"])
    got_small = gitmodel.load_tensors("small.safetensors")
    assert set(got_small) == {"w", "b"} and got_small["b"].dtype == np.int32
    np.testing.assert_array_equal(got_small["w"], small["w"])
    # An older version, by revision, from the cache.
    v1 = (repo / "model.safetensors").read_bytes()
    save_file(model(2), str(repo / "model.safetensors"))
    gm_add(repo, "model.safetensors")
    commit_without_hooks(repo, "v2", allow_empty=False)
    old = gitmodel.load_tensors("model.safetensors", ["one.tensor"], rev="HEAD~1")
    np.testing.assert_array_equal(old["one.tensor"], tensors["one.tensor"])
    with gitmodel.open("model.safetensors", rev="HEAD~1") as f:
        f.seek(1000)
        assert f.read(5000) == v1[1000:6000]


def test_load_tensors_refusals(repo: Path) -> None:
    save_file(model(), str(repo / "model.safetensors"))
    (repo / "notes.bin").write_bytes(b"not a safetensors file at all" * 10)
    header = b'{"x": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}'  # 3 floats in 8 bytes
    (repo / "lying.safetensors").write_bytes(len(header).to_bytes(8, "little") + header + bytes(8))
    header = b'{"x": {"dtype": "BF16", "shape": [4], "data_offsets": [0, 8]}}'
    (repo / "bf16.safetensors").write_bytes(len(header).to_bytes(8, "little") + header + bytes(8))
    gm_add(repo, "model.safetensors", "notes.bin", "lying.safetensors", "bf16.safetensors")
    with pytest.raises(GitmodelError, match="no tensor named 'nope'") as e:
        gitmodel.load_tensors("model.safetensors", ["one.tensor", "nope"])
    assert e.value.hint is not None and "embed.weight" in e.value.hint
    with pytest.raises(GitmodelError, match="not a safetensors file"):
        gitmodel.load_tensors("notes.bin")
    with pytest.raises(GitmodelError, match="shape and dtype do not fill"):
        gitmodel.load_tensors("lying.safetensors")
    with pytest.raises(GitmodelError, match="BF16"):
        gitmodel.load_tensors("bf16.safetensors")
    assert "\n" not in str(e.value)


def test_one_tensor_of_any_version_of_a_fine_tuned_model(tmp_path: Path) -> None:
    """Version 2 is a full fine-tune of version 1 (every weight moved by
    ~1e-5): its chunks are deltas, so a read of one of its tensors fetches
    the delta and its base, and still far less than the file."""
    src = make_repo(tmp_path / "src")
    add_remote(src, "local", tmp_path / "storage")
    v1 = model()
    rng = np.random.default_rng(5)
    v2 = {k: (v * (1 + 1e-5 * rng.standard_normal(v.shape))).astype(v.dtype) if v.dtype.kind == "f" else v
          for k, v in v1.items()}
    for i, tensors in enumerate((v1, v2), 1):
        save_file(tensors, str(src / "model.safetensors"))
        gm_add(src, "model.safetensors")
        commit_without_hooks(src, f"v{i}", allow_empty=False)
        push_all(src)  # each version as it is committed
    assert any(len(c.chain) == 2 for c in chunk_list_of(src, "model.safetensors").chunks), "v2 is stored as deltas"
    dest = clone(src, tmp_path / "dest")
    size = (src / "model.safetensors").stat().st_size
    for rev, tensors in (("HEAD", v2), ("HEAD~1", v1)):
        before = cache_bytes(dest) if cache_root(dest).exists() else 0
        got = gitmodel.load_tensors("model.safetensors", ["embed.weight"], rev=rev, repo=dest)
        np.testing.assert_array_equal(got["embed.weight"], tensors["embed.weight"])
        assert cache_bytes(dest) - before < size * 0.75  # embed.weight is 2 MiB of the 4.1 MiB
    one = gitmodel.load_tensors("model.safetensors", ["one.tensor"], rev="HEAD~1", repo=dest)
    np.testing.assert_array_equal(one["one.tensor"], v1["one.tensor"])


def test_a_hostile_remote_chunk_list_is_refused_in_one_line(tmp_path: Path) -> None:
    dest, _ = published(tmp_path, "local")
    oid = pointer_oid(dest, "model.safetensors")
    path = tmp_path / "storage" / chunks.relpath(oid)
    good = path.read_bytes()
    os.chmod(path, 0o644)
    for bad, why in ((good.replace(b"gitmodel-chunks 1", b"gitmodel-chunks 9"), "not a gitmodel chunk list"),
                     (good[:-200] + b"\n", "malformed line|chunks add up|says"),
                     (good.replace(oid.encode(), b"xxh128:" + b"0" * 32, 1), "the list of another file")):
        path.write_bytes(bad)
        with pytest.raises(GitmodelError, match=why) as e:
            gitmodel.load_tensors("model.safetensors", ["one.tensor"], repo=dest)
        assert "\n" not in str(e.value) and "model.safetensors on " in e.value.message
    assert not (cache_root(dest) / "chunked").exists() or not any((cache_root(dest) / "chunked").rglob("*/*/*"))


def test_chunks_missing_from_the_remote_are_named(tmp_path: Path) -> None:
    from gitmodel.errors import ObjectMissingError

    dest, _ = published(tmp_path, "local")
    shutil.rmtree(tmp_path / "storage" / "packs")
    with pytest.raises(ObjectMissingError, match=r"model.safetensors \(a chunk\).* not on "):
        gitmodel.load_tensors("model.safetensors", ["one.tensor"], repo=dest)


def test_open_a_chunked_file_inside_a_tracked_folder_of_a_remote(tmp_path: Path) -> None:
    src = make_repo(tmp_path / "src")
    add_remote(src, "local", tmp_path / "storage")
    (src / "data").mkdir()
    rows = b"".join(f"{i},{i * 31 % 977},row {i}\n".encode() for i in range(150_000))  # about 2.7 MiB
    (src / "data" / "table.csv").write_bytes(rows)
    (src / "data" / "notes.txt").write_text("notes")
    gm_add(src, "data")
    commit_without_hooks(src, "data", allow_empty=False)
    push_all(src)
    dest = clone(src, tmp_path / "dest")
    with gitmodel.open("data/table.csv", mode="r", repo=dest) as f:
        assert f.readline() == "0,0,row 0\n"
    fetched = cache_bytes(dest)
    assert fetched < len(rows) / 4, fetched
    with gitmodel.open("data/table.csv", repo=dest) as f:
        f.seek(len(rows) // 2)
        assert f.read(1000) == rows[len(rows) // 2:len(rows) // 2 + 1000]
    assert gitmodel.read_bytes("data/notes.txt", repo=dest) == b"notes"


def test_load_tensors_agrees_with_safetensors_own_loader(repo: Path) -> None:
    from safetensors.numpy import load_file

    rng = np.random.default_rng(4)
    tensors = {f"t.{dt}": (rng.standard_normal((3, 5)) * 50).astype(dt)
               for dt in ("float64", "float32", "float16", "int64", "int32", "int16", "int8",
                          "uint64", "uint32", "uint16", "uint8")}
    tensors.update({"flags": rng.standard_normal(7) > 0, "empty": np.zeros((0, 3), np.float32),
                    "scalar": np.array(2.5, dtype=np.float64)})
    save_file(tensors, str(repo / "all.safetensors"), metadata={"format": "np"})
    gm_add(repo, "all.safetensors")
    os.unlink(repo / "all.safetensors")  # read from the cache, not the workspace
    got = gitmodel.load_tensors("all.safetensors")
    save_file(tensors, str(repo / "again.safetensors"), metadata={"format": "np"})
    theirs = load_file(str(repo / "again.safetensors"))
    assert set(got) == set(theirs)
    for name, value in theirs.items():
        assert got[name].dtype == value.dtype and got[name].shape == value.shape, name
        np.testing.assert_array_equal(got[name], value)
