"""status, checkout and add of chunked files (issue 15, item 4) in every
link mode: a chunked file has no whole copy in the cache to link to, so it
is written out as a plain writable file; status says unchanged, then
modified once edited; adding the edit stores only the chunks it changed."""

from __future__ import annotations

import json
import os
import random
import shutil
import stat
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from tests.support.git import commit_without_hooks, git, set_link
from tests.support.store import cache_root, pointer_oid

LINK_MODES = ["reflink", "hardlink", "symlink", "copy"]


@pytest.fixture(autouse=True)
def _small_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITMODEL_CHUNK_THRESHOLD", "1MiB")  # files of a few MiB are chunked


def status_json(gm) -> dict[str, dict[str, object]]:
    r = gm("status", "--json")
    assert r.code == 0, r
    return {s["path"]: s for s in json.loads(r.out)}


def pack_bytes(root: Path) -> int:
    return sum(p.stat().st_size for p in (cache_root(root) / "packs").glob("*.pack"))


def chunk_lists(root: Path) -> list[Path]:
    folder = cache_root(root) / "chunked"
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def checkpoint(path: Path, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    save_file({
        "embed": rng.standard_normal((512, 512)).astype(np.float32),  # 1 MiB
        "block.0": rng.standard_normal((512, 512)).astype(np.float16),
        "head": rng.standard_normal((512, 256)).astype(np.float32),
        "norm": np.ones(512, dtype=np.float32),
    }, str(path))


def assert_plain_writable(path: Path) -> None:
    lst = path.lstat()
    assert stat.S_ISREG(lst.st_mode) and lst.st_nlink == 1, "a chunked file is never a link"
    assert lst.st_mode & 0o200


@pytest.mark.parametrize("mode", LINK_MODES)
def test_a_chunked_file_round_trips_through_checkout_status_and_add(gm, repo: Path, mode: str) -> None:
    set_link(repo, mode)
    model = repo / "model.safetensors"
    checkpoint(model)
    v1 = model.read_bytes()
    assert gm("add", "model.safetensors").code == 0
    assert len(chunk_lists(repo)) == 1, "stored as chunks"
    assert_plain_writable(model)  # add leaves a chunked file in place in every mode
    assert status_json(gm)["model.safetensors"]["state"] == "unchanged"
    commit_without_hooks(repo, "v1", allow_empty=False)

    model.unlink()
    assert status_json(gm)["model.safetensors"]["state"] == "missing"
    r = gm("checkout")
    assert r.code == 0, r
    assert model.read_bytes() == v1
    assert_plain_writable(model)
    assert status_json(gm)["model.safetensors"]["state"] == "unchanged"

    # Edit 1 KiB of one tensor in place: writable, so the cache is untouched.
    with open(model, "r+b") as f:
        f.seek(len(v1) // 2)
        f.write(random.Random(1).randbytes(1024))
    assert status_json(gm)["model.safetensors"]["state"] == "modified"
    before = pack_bytes(repo)
    r = gm("add", "model.safetensors")
    assert r.code == 0, r
    grew = pack_bytes(repo) - before
    # One tensor piece (256 KiB at most, encoded) changed, not the 2.3 MiB file.
    assert 0 < grew < 300_000, grew
    assert status_json(gm)["model.safetensors"]["state"] == "unchanged"
    v2 = model.read_bytes()
    commit_without_hooks(repo, "v2", allow_empty=False)

    # Back to v1: the working file's bytes are in the cache, so no --force is needed.
    git("checkout", "HEAD~1", "--", "model.safetensors.gm")
    r = gm("checkout")
    assert r.code == 0, r
    assert model.read_bytes() == v1
    assert_plain_writable(model)
    assert status_json(gm)["model.safetensors"]["state"] == "unchanged"
    git("checkout", "HEAD", "--", "model.safetensors.gm")
    assert gm("checkout").code == 0
    assert model.read_bytes() == v2


@pytest.mark.parametrize("mode", LINK_MODES)
def test_a_chunked_file_inside_a_tracked_folder(gm, repo: Path, mode: str) -> None:
    set_link(repo, mode)
    folder = repo / "data"
    folder.mkdir()
    rows = b"".join(f"{i},{i * 31 % 977},row {i}\n".encode() for i in range(120_000))  # about 2 MiB
    (folder / "table.csv").write_bytes(rows)
    (folder / "small.txt").write_text("small")
    assert gm("add", "data").code == 0
    assert len(chunk_lists(repo)) == 1
    commit_without_hooks(repo, "data", allow_empty=False)
    shutil.rmtree(folder)
    r = gm("checkout")
    assert r.code == 0, r
    assert (folder / "table.csv").read_bytes() == rows
    assert_plain_writable(folder / "table.csv")
    assert status_json(gm)["data"]["state"] == "unchanged"
    # Rows inserted mid-file: content-defined chunks, so few new ones.
    edited = rows[: len(rows) // 2] + b"999999,0,inserted\n" * 20 + rows[len(rows) // 2:]
    (folder / "table.csv").write_bytes(edited)
    st = status_json(gm)["data"]
    assert st["state"] == "modified" and st["modified"] == 1
    before = pack_bytes(repo)
    assert gm("add", "data").code == 0
    assert pack_bytes(repo) - before < 300_000
    assert status_json(gm)["data"]["state"] == "unchanged"


def test_status_of_a_chunked_file_not_in_the_cache(gm, repo: Path) -> None:
    model = repo / "model.safetensors"
    checkpoint(model)
    assert gm("add", "model.safetensors").code == 0
    oid = pointer_oid(repo / "model.safetensors.gm")
    (lst,) = chunk_lists(repo)
    assert lst.name == oid.split(":")[1][2:]
    os.chmod(lst, 0o644)
    lst.unlink()
    model.unlink()
    assert status_json(gm)["model.safetensors"]["state"] == "not in cache"
