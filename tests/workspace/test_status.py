"""`gitmodel status`: unchanged / modified / missing / not in cache, folder
counts, --json, and that status changes nothing."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from tests.support.git import git
from tests.support.state import repo_state
from tests.support.store import cache_root, objects, pointer_fields


def states(gm, *paths: str) -> dict[str, dict[str, object]]:
    r = gm("status", "--json", *paths)
    assert r.code == 0, r
    return {s["path"]: s for s in json.loads(r.out)}


def setup_tracked(gm, root: Path) -> None:
    (root / "m.bin").write_bytes(os.urandom(1000))
    d = root / "d"
    (d / "sub").mkdir(parents=True)
    for name in ("a", "b", "sub/c"):
        (d / name).write_text(name)
    assert gm("add", "m.bin", "d").code == 0


def test_status_nothing_tracked(gm, repo: Path) -> None:
    r = gm("status")
    assert r.code == 0 and "nothing tracked" in r.out
    assert json.loads(gm("status", "--json").out) == []


def test_status_unchanged(gm, repo: Path) -> None:
    setup_tracked(gm, repo)
    s = states(gm)
    assert s["m.bin"]["state"] == "unchanged" and s["m.bin"]["kind"] == "file"
    assert s["m.bin"]["size"] == 1000 and s["m.bin"]["in_cache"] is True
    assert s["d"] == {"path": "d", "kind": "dir", "state": "unchanged", "in_cache": True, "size": 7,
                      "added": 0, "modified": 0, "deleted": 0}
    r = gm("status")
    assert "unchanged  d/" in r.out and "unchanged  m.bin" in r.out


def test_status_modified_file_and_folder_counts(gm, repo: Path) -> None:
    setup_tracked(gm, repo)
    (repo / "m.bin").write_bytes(b"different")
    (repo / "d" / "a").write_text("A changed")
    (repo / "d" / "sub" / "c").unlink()
    (repo / "d" / "new1").write_text("n")
    (repo / "d" / "sub" / "new2").write_text("n")
    s = states(gm)
    assert s["m.bin"]["state"] == "modified"
    assert s["d"]["state"] == "modified"
    assert (s["d"]["added"], s["d"]["modified"], s["d"]["deleted"]) == (2, 1, 1)
    r = gm("status")
    assert "2 added, 1 modified, 1 deleted" in r.out
    assert "gitmodel add" in r.out  # what to run next


def test_status_executable_bit_counts_as_a_change(gm, repo: Path) -> None:
    setup_tracked(gm, repo)
    (repo / "d" / "b").chmod(0o755)
    s = states(gm, "d")
    assert (s["d"]["state"], s["d"]["modified"]) == ("modified", 1)


def test_status_missing(gm, repo: Path) -> None:
    setup_tracked(gm, repo)
    (repo / "m.bin").unlink()
    shutil.rmtree(repo / "d")
    s = states(gm)
    assert s["m.bin"]["state"] == "missing"
    assert s["d"]["state"] == "missing"
    assert "gitmodel checkout" in gm("status").out


def test_status_not_in_cache(gm, repo: Path, tmp_path: Path) -> None:
    """A clone has the pointers but not the objects until it fetches."""
    setup_tracked(gm, repo)
    git("commit", "-qm", "add", cwd=repo)
    clone = tmp_path / "clone"
    git("clone", "-q", str(repo), str(clone))
    r = gm("status", "--json", cwd=clone)
    assert r.code == 0, r
    s = {x["path"]: x for x in json.loads(r.out)}
    assert s["m.bin"]["state"] == "not in cache" and s["m.bin"]["in_cache"] is False
    assert s["d"]["state"] == "not in cache"
    assert "gitmodel pull" in gm("status", cwd=clone).out


def test_status_present_but_object_gone(gm, repo: Path) -> None:
    """The workspace copy is fine, the cache lost the object: still unchanged
    in the workspace, but reported as not in the cache."""
    setup_tracked(gm, repo)
    oid = dict(pointer_fields(repo / "m.bin.gm"))["oid"]
    objects(repo)[oid].unlink()
    s = states(gm, "m.bin")
    assert s["m.bin"]["state"] == "unchanged" and s["m.bin"]["in_cache"] is False


def test_status_of_named_paths(gm, repo: Path) -> None:
    setup_tracked(gm, repo)
    assert list(states(gm, "m.bin")) == ["m.bin"]
    assert list(states(gm, "d.gm")) == ["d"]
    assert list(states(gm, "d/")) == ["d"]
    (repo / "sub").mkdir()
    (repo / "sub" / "x").write_text("x")
    assert gm("add", "sub/x").code == 0
    assert list(states(gm, "sub")) == ["sub/x"]  # a folder holding pointers
    r = gm("status", "--json", "x", cwd=repo / "sub")
    assert [s["path"] for s in json.loads(r.out)] == ["sub/x"]


def test_status_untracked_path_is_an_error(gm, repo: Path) -> None:
    (repo / "loose").write_text("x")
    r = gm("status", "loose")
    assert r.code == 1 and "gitmodel add loose" in r.err


def test_status_changes_nothing(gm, repo: Path) -> None:
    setup_tracked(gm, repo)
    (repo / "m.bin").write_bytes(b"changed")
    (repo / "d" / "a").unlink()
    before = repo_state(repo)
    gm("status")
    gm("status", "--json")
    assert repo_state(repo) == before
    assert cache_root(repo).is_dir()
