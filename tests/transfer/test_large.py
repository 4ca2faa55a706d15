"""Large objects from a folder remote take the cache's in-kernel copy: they
must be verified exactly like streamed downloads."""

from __future__ import annotations

import os
from pathlib import Path

from gitmodel.store import oid as oidmod
from tests.support.cli import Result, gm_run
from tests.support.remote import pushed_model

BIG = 9 << 20  # above transfer.fetch.LARGE_LOCAL


def _setup(repo: Path, tmp_path: Path) -> tuple[Path, str, bytes]:
    data = os.urandom(BIG)
    store = tmp_path / "store"
    return store, pushed_model(repo, store, data), data


def _wipe_cache(repo: Path, oid: str) -> Path:
    obj = repo / ".git" / "gitmodel" / "objects" / oidmod.relpath(oid)
    obj.unlink()
    (repo / "model.bin").unlink()
    return obj


def test_large_object_round_trips_through_a_folder_remote(repo: Path, tmp_path: Path) -> None:
    store, oid, data = _setup(repo, tmp_path)
    obj = _wipe_cache(repo, oid)
    r: Result = gm_run(["pull"], cwd=repo)
    assert r.code == 0, r
    assert (repo / "model.bin").read_bytes() == data
    assert obj.stat().st_mode & 0o222 == 0


def test_corrupt_large_object_on_a_folder_remote_never_reaches_the_cache(repo: Path, tmp_path: Path) -> None:
    store, oid, data = _setup(repo, tmp_path)
    obj = _wipe_cache(repo, oid)
    remote_obj = store / "objects" / oidmod.relpath(oid)
    os.chmod(remote_obj, 0o644)
    with open(remote_obj, "r+b") as f:
        f.seek(BIG // 2)
        f.write(b"\x00corrupt\x00")
    r = gm_run(["pull"], cwd=repo)
    assert r.code == 1, r
    assert "corrupt" in r.err and oid in r.err and "\n" not in r.err.strip()
    assert not obj.exists()
    assert not (repo / "model.bin").exists()
    assert os.listdir(repo / ".git" / "gitmodel" / "tmp") == []


def test_pull_of_a_corrupt_large_object_leaves_no_temp_file_in_the_workspace(repo: Path, tmp_path: Path) -> None:
    # pull copies a large object on into the workspace while it lands in the
    # cache; a copy that fails verification must not leave that temp behind.
    store, oid, _ = _setup(repo, tmp_path)
    _wipe_cache(repo, oid)
    remote_obj = store / "objects" / oidmod.relpath(oid)
    os.chmod(remote_obj, 0o644)
    with open(remote_obj, "r+b") as f:
        f.write(b"\x00corrupt\x00")
    r = gm_run(["pull"], cwd=repo)
    assert r.code == 1, r
    assert [n for n in os.listdir(repo) if n.startswith(".gm-tmp-")] == []


def test_pull_of_a_large_object_leaves_a_users_file_alone(repo: Path, tmp_path: Path) -> None:
    store, oid, data = _setup(repo, tmp_path)
    obj = _wipe_cache(repo, oid)
    (repo / "model.bin").write_bytes(b"the user's own work")
    r = gm_run(["pull"], cwd=repo)
    assert (repo / "model.bin").read_bytes() == b"the user's own work", r
    assert obj.read_bytes() == data  # fetched all the same
    assert [n for n in os.listdir(repo) if n.startswith(".gm-tmp-")] == []
