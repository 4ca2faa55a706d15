"""`gitmodel checkout`: restoring, leaving users' changes alone, --force
keeping the old content in the cache, and every link mode."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import pytest

from tests.support.git import git, set_link
from tests.support.state import repo_state
from tests.support.store import assert_objects_sound, cache_root, hash_file, objects, oid_of, pointer_fields

MODEL = b"model weights " * 300


def setup_tracked(gm, root: Path) -> None:
    (root / "m.bin").write_bytes(MODEL)
    d = root / "d"
    (d / "sub").mkdir(parents=True)
    (d / "a.txt").write_text("a")
    (d / "sub" / "b.txt").write_text("b")
    (d / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (d / "run.sh").chmod(0o755)
    r = gm("add", "m.bin", "d")
    assert r.code == 0, r


def status_json(gm) -> dict[str, dict[str, object]]:
    r = gm("status", "--json")
    assert r.code == 0, r
    return {s["path"]: s for s in json.loads(r.out)}


def test_checkout_restores_missing_files(gm, repo: Path) -> None:
    setup_tracked(gm, repo)
    (repo / "m.bin").unlink()
    shutil.rmtree(repo / "d")
    r = gm("checkout")
    assert r.code == 0, r
    assert "4 files restored" in r.out
    assert (repo / "m.bin").read_bytes() == MODEL
    assert (repo / "d" / "a.txt").read_text() == "a"
    assert (repo / "d" / "sub" / "b.txt").read_text() == "b"
    assert os.access(repo / "d" / "run.sh", os.X_OK)
    assert not (repo / "d" / "a.txt").stat().st_mode & 0o111
    assert {s["state"] for s in status_json(gm).values()} == {"unchanged"}


def test_checkout_restores_one_file_of_a_folder(gm, repo: Path) -> None:
    setup_tracked(gm, repo)
    (repo / "d" / "sub" / "b.txt").unlink()
    r = gm("checkout", "d")
    assert r.code == 0, r
    assert "1 file restored" in r.out, r  # not "1 files"
    assert (repo / "d" / "sub" / "b.txt").read_text() == "b"


def test_checkout_with_nothing_to_do(gm, repo: Path) -> None:
    setup_tracked(gm, repo)
    before = repo_state(repo)
    r = gm("checkout")
    assert r.code == 0, r
    assert "0 files restored" in r.out
    assert repo_state(repo) == before


def test_checkout_leaves_modified_files_alone(gm, repo: Path) -> None:
    setup_tracked(gm, repo)
    (repo / "m.bin").write_bytes(b"my unsaved work")
    (repo / "d" / "a.txt").write_text("my edit")
    (repo / "d" / "sub" / "b.txt").unlink()
    r = gm("checkout")
    assert r.code == 1, r
    assert "m.bin" in r.err and "d/a.txt" in r.err
    assert "--force" in r.err
    assert (repo / "m.bin").read_bytes() == b"my unsaved work"
    assert (repo / "d" / "a.txt").read_text() == "my edit"
    # The missing file beside them is still restored.
    assert (repo / "d" / "sub" / "b.txt").read_text() == "b"


def test_checkout_force_keeps_the_old_content_in_the_cache(gm, repo: Path) -> None:
    setup_tracked(gm, repo)
    (repo / "m.bin").write_bytes(b"my unsaved work")
    (repo / "d" / "a.txt").write_text("my edit")
    r = gm("checkout", "--force")
    assert r.code == 0, r
    assert (repo / "m.bin").read_bytes() == MODEL
    assert (repo / "d" / "a.txt").read_text() == "a"
    saved = {oid_of(b"my unsaved work"), oid_of(b"my edit")}
    for oid in saved:
        assert oid in r.out  # the user is told where the old content went
        assert oid in objects(repo)
    assert objects(repo)[oid_of(b"my unsaved work")].read_bytes() == b"my unsaved work"
    assert_objects_sound(repo)


def test_checkout_force_does_not_replace_a_folder_by_a_file(gm, repo: Path) -> None:
    setup_tracked(gm, repo)
    (repo / "m.bin").unlink()
    (repo / "m.bin").mkdir()
    (repo / "m.bin" / "inner").write_text("keep me")
    r = gm("checkout", "--force", "m.bin")
    assert r.code == 1, r
    assert (repo / "m.bin" / "inner").read_text() == "keep me"


def test_checkout_reports_files_not_in_cache(gm, repo: Path, tmp_path: Path) -> None:
    setup_tracked(gm, repo)
    git("commit", "-qm", "add", cwd=repo)
    clone = tmp_path / "clone"
    git("clone", "-q", str(repo), str(clone))
    r = gm("checkout", cwd=clone)
    assert r.code == 1, r
    assert "gitmodel pull" in r.err and "m.bin" in r.err
    assert not (clone / "m.bin").exists()


def test_checkout_leaves_extra_files_in_a_tracked_folder(gm, repo: Path) -> None:
    setup_tracked(gm, repo)
    (repo / "d" / "extra.txt").write_text("mine")
    (repo / "d" / "a.txt").unlink()
    r = gm("checkout", "d")
    assert r.code == 0, r
    assert (repo / "d" / "extra.txt").read_text() == "mine"
    assert "1 file in tracked folders but not in their pointers left alone" in r.err, r


LINK_MODES = ["reflink", "hardlink", "symlink", "copy"]


@pytest.mark.parametrize("via", ["config", "env"])
@pytest.mark.parametrize("mode", LINK_MODES)
def test_checkout_link_modes(gm, repo: Path, mode: str, via: str, monkeypatch: pytest.MonkeyPatch) -> None:
    setup_tracked(gm, repo)
    if via == "config":
        set_link(repo, mode)
    else:
        set_link(repo, "copy" if mode != "copy" else "hardlink")  # the variable wins over the file
        monkeypatch.setenv("GITMODEL_LINK", mode)
    (repo / "m.bin").unlink()
    shutil.rmtree(repo / "d")
    r = gm("checkout")
    assert r.code == 0, r
    cache = cache_root(repo).resolve()
    obj = objects(repo)[hash_file(repo / "m.bin")]
    for path in (repo / "m.bin", repo / "d" / "a.txt", repo / "d" / "sub" / "b.txt"):
        lst = path.lstat()
        if mode == "hardlink":
            assert stat.S_ISREG(lst.st_mode) and lst.st_nlink > 1
            assert not lst.st_mode & 0o222, f"{path} is linked to the cache but writable"
        elif mode == "symlink":
            assert stat.S_ISLNK(lst.st_mode)
            assert Path(os.path.realpath(path)).is_relative_to(cache)
            assert not path.stat().st_mode & 0o222
        else:  # copy, and reflink (a private copy-on-write clone, or a copy where the disk cannot clone)
            assert stat.S_ISREG(lst.st_mode) and lst.st_nlink == 1
            assert lst.st_mode & 0o200
    if mode == "hardlink":
        assert os.path.samefile(repo / "m.bin", obj)
    assert (repo / "m.bin").read_bytes() == MODEL
    assert (repo / "d" / "run.sh").read_text().startswith("#!")
    assert os.access(repo / "d" / "run.sh", os.X_OK)
    # Linked or not, the workspace now matches the pointers.
    assert {s["state"] for s in status_json(gm).values()} == {"unchanged"}
    assert gm("checkout").code == 0
    assert_objects_sound(repo)


def test_unknown_link_mode_is_refused(gm, repo: Path) -> None:
    setup_tracked(gm, repo)
    set_link(repo, "teleport")
    (repo / "m.bin").unlink()
    r = gm("checkout")
    assert r.code == 1 and "core.link" in r.err, r
    assert not (repo / "m.bin").exists()


@pytest.mark.parametrize("mode", ["hardlink", "symlink"])
def test_unprotect_makes_an_editable_copy(gm, repo: Path, mode: str) -> None:
    setup_tracked(gm, repo)
    set_link(repo, mode)
    (repo / "m.bin").unlink()
    shutil.rmtree(repo / "d")
    assert gm("checkout").code == 0
    r = gm("unprotect", "m.bin", "d")
    assert r.code == 0, r
    assert "m.bin: 1 file made editable" in r.out
    # run.sh was never linked: an executable is checked out as a copy, since
    # a link would share the read-only object's mode and lose its x bit.
    assert "d: 2 files made editable" in r.out
    for path in (repo / "m.bin", repo / "d" / "a.txt", repo / "d" / "run.sh"):
        lst = path.lstat()
        assert stat.S_ISREG(lst.st_mode) and lst.st_nlink == 1 and lst.st_mode & 0o200
    assert os.access(repo / "d" / "run.sh", os.X_OK)
    assert (repo / "m.bin").read_bytes() == MODEL
    # Editing the copy leaves the cache alone.
    with open(repo / "m.bin", "ab") as f:
        f.write(b"fine-tuned")
    assert oid_of(MODEL) in objects(repo)
    assert_objects_sound(repo)
    assert status_json(gm)["m.bin"]["state"] == "modified"
    again = gm("unprotect", "m.bin")
    assert again.code == 0 and "already editable" in again.out


@pytest.mark.parametrize("mode", ["hardlink", "symlink"])
def test_add_in_link_mode_links_the_file_once_it_is_safe(gm, repo: Path, mode: str) -> None:
    set_link(repo, mode)
    (repo / "m.bin").write_bytes(MODEL)
    assert gm("add", "m.bin").code == 0
    obj = objects(repo)[oid_of(MODEL)]
    assert os.path.samefile(repo / "m.bin", obj)
    assert (repo / "m.bin").read_bytes() == MODEL
    assert dict(pointer_fields(repo / "m.bin.gm"))["oid"] == oid_of(MODEL)
    assert status_json(gm)["m.bin"]["state"] == "unchanged"
    # Re-adding a linked file is a no-op.
    r = gm("add", "m.bin")
    assert r.code == 0 and "unchanged m.bin" in r.out


def test_checkout_force_over_a_linked_file(gm, repo: Path) -> None:
    """A hard-linked file whose cache object is intact needs no saving aside."""
    setup_tracked(gm, repo)
    set_link(repo, "hardlink")
    (repo / "m.bin").unlink()
    assert gm("checkout").code == 0
    before = set(objects(repo))
    (repo / "m.bin.gm").write_text((repo / "m.bin.gm").read_text())  # unchanged pointer
    r = gm("checkout", "--force")
    assert r.code == 0, r
    assert set(objects(repo)) == before


def test_checkout_leaves_obstacles_alone(gm, repo: Path) -> None:
    """A user's folder where a tracked file goes, or a user's file where a
    tracked folder goes: listed and left alone, even with --force, while
    everything else is restored."""
    setup_tracked(gm, repo)
    (repo / "d" / "a.txt").unlink()
    (repo / "d" / "a.txt").mkdir()
    (repo / "d" / "a.txt" / "mine").write_text("keep")
    shutil.rmtree(repo / "d" / "sub")
    (repo / "d" / "sub").write_text("my file named sub")
    (repo / "d" / "run.sh").unlink()
    for args in (("checkout",), ("checkout", "--force")):
        r = gm(*args)
        assert r.code == 1, r
        assert "d/a.txt" in r.err and "d/sub/b.txt" in r.err
        assert "Traceback" not in r.err
        assert (repo / "d" / "a.txt" / "mine").read_text() == "keep"
        assert (repo / "d" / "sub").read_text() == "my file named sub"
        assert (repo / "d" / "run.sh").read_text().startswith("#!")
    assert not [p for p in (repo / "d").iterdir() if p.name.startswith(".gm-tmp-")]


def test_checkout_counts_what_it_does_not_list(gm, repo: Path) -> None:
    """Past 20 modified files the list ends with `... and N more`, as the
    hooks' lists do, instead of stopping silently."""
    names = [f"f{i:02}.bin" for i in range(22)]
    for n in names:
        (repo / n).write_text("v1 " + n)
    assert gm("add", *names).code == 0
    for n in names:
        (repo / n).unlink()
        (repo / n).write_text("v2 " + n)
    r = gm("checkout")
    assert r.code == 1, r
    lines = r.err.splitlines()
    assert lines[0].startswith("22 modified files left alone"), r
    assert lines[1:22] == [f"  {n}" for n in names[:20]] + ["  ... and 2 more"], r
