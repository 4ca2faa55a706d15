"""gitmodel get REPO PATH [--rev REV] [-o OUT]: one artifact of another
repository, without checking out its workspace."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.cli import gm_run
from tests.support.git import git, make_repo
from tests.support.remote import add_commit, add_remote, populate, v1_tagged_then_v2


@pytest.fixture
def source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, dict[str, bytes], dict[str, bytes]]:
    """A repository with v1 tagged and v2 on main, pushed to a folder remote
    given by absolute path (so a clone anywhere can reach it)."""
    root = make_repo(tmp_path / "source")
    monkeypatch.chdir(root)
    v1, v2 = v1_tagged_then_v2(root, tmp_path / "store")
    assert gm_run(["push", "--all-tags", "--all-branches", "-q"], cwd=root).code == 0
    return root, v1, v2


def test_get_a_file_from_a_local_repository(source, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    root, _, v2 = source
    out = tmp_path / "deploy"
    out.mkdir()
    r = gm_run(["get", str(root), "model.bin"], cwd=out)
    assert r.code == 0, r
    assert (out / "model.bin").read_bytes() == v2["model.bin"]
    assert list(out.iterdir()) == [out / "model.bin"]  # no temp folder left behind


def test_get_a_folder_at_a_tag(source, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    root, v1, _ = source
    r = gm_run(["get", str(root), "data", "--rev", "v1", "-o", str(tmp_path / "d1"), "--json"], cwd=tmp_path)
    assert r.code == 0, r
    report = json.loads(r.out)
    assert report["kind"] == "dir" and report["files"] == 4 and report["rev"] == "v1"
    for rel in ("data/a.txt", "data/b.txt", "data/dup.txt", "data/sub/c.bin"):
        assert (tmp_path / "d1" / rel[5:]).read_bytes() == v1[rel]


def test_get_from_a_clone_without_objects_uses_the_remote(source, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    root, _, v2 = source
    clone = tmp_path / "clone"
    git("clone", "-q", str(root), str(clone))
    r = gm_run(["get", str(clone), "model.bin", "-o", str(tmp_path / "m.bin"), "--json"], cwd=tmp_path)
    assert r.code == 0, r
    assert json.loads(r.out)["downloaded"] == 1
    assert (tmp_path / "m.bin").read_bytes() == v2["model.bin"]


def test_get_from_a_git_url(source, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    root, v1, _ = source
    url = f"file://{root}"
    r = gm_run(["get", url, "data/sub", "--rev", "v1", "-o", str(tmp_path / "sub")], cwd=tmp_path)
    assert r.code == 1 and "not tracked" in r.err  # data/sub is inside a tracked folder, not tracked itself
    r = gm_run(["get", url, "model.bin", "--rev", "v1", "-o", str(tmp_path / "m1")], cwd=tmp_path)
    assert r.code == 0, r
    assert (tmp_path / "m1").read_bytes() == v1["model.bin"]
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".gm-tmp")) == []


def test_get_from_a_repository_whose_remote_is_s3(tmp_path: Path, s3_bucket: str, s3_env: str,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_repo(tmp_path / "source")
    monkeypatch.chdir(root)
    files = populate(root)
    add_commit(root)
    add_remote(root, "s3", tmp_path, endpoint=s3_env, bucket=s3_bucket)
    git("add", "-A", cwd=root)
    git("commit", "-qm", "remote", cwd=root)
    assert gm_run(["push", "-q"], cwd=root).code == 0
    r = gm_run(["get", f"file://{root}", "data", "-o",
                str(tmp_path / "data-out")], cwd=tmp_path)
    assert r.code == 0, r
    assert (tmp_path / "data-out/sub/c.bin").read_bytes() == files["data/sub/c.bin"]
    bare = tmp_path / "bare.git"
    git("clone", "-q", "--bare", str(root), str(bare))
    r = gm_run(["get", str(bare), "model.bin", "-o", str(tmp_path / "m")], cwd=tmp_path)
    assert r.code == 0, r
    assert (tmp_path / "m").read_bytes() == files["model.bin"]


@pytest.mark.parametrize("args, message", [
    (["nowhere/model.bin"], "not tracked by gitmodel at HEAD"),
    (["model.bin", "--rev", "v7"], "unknown revision 'v7'"),
    (["../escape"], "give the artifact's path inside the repository"),
])
def test_bad_get_changes_nothing(source, tmp_path: Path, args: list[str], message: str) -> None:  # type: ignore[no-untyped-def]
    root, _, _ = source
    out = tmp_path / "deploy"
    out.mkdir()
    r = gm_run(["get", str(root), *args], cwd=out)
    assert r.code == 1 and message in r.err, r
    assert list(out.iterdir()) == []


def test_get_never_overwrites(source, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    root, _, _ = source
    (tmp_path / "model.bin").write_bytes(b"mine")
    r = gm_run(["get", str(root), "model.bin"], cwd=tmp_path)
    assert r.code == 1 and "already exists" in r.err
    assert (tmp_path / "model.bin").read_bytes() == b"mine"


def test_get_from_something_that_is_not_a_repository(tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()
    r = gm_run(["get", str(tmp_path / "plain"), "model.bin"], cwd=tmp_path)
    assert r.code == 1 and "not a git repository" in r.err
    r = gm_run(["get", "file:///nonexistent/repo.git", "model.bin"], cwd=tmp_path)
    assert r.code == 1 and "cannot clone" in r.err
