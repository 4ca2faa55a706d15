"""`gitmodel remove` (stop tracking, keep the file) and `gitmodel unprotect`."""

from __future__ import annotations

import stat
from pathlib import Path

from tests.support.cli import assert_one_line_error
from tests.support.git import git, set_link
from tests.support.state import repo_state
from tests.support.store import objects

MODEL = b"weights" * 500


def test_remove_keeps_the_file_and_drops_pointer_and_ignore_line(gm, repo: Path) -> None:
    (repo / ".gitignore").write_text("*.log\n")
    git("add", ".gitignore", cwd=repo)
    (repo / "m.bin").write_bytes(MODEL)
    (repo / "keep.bin").write_bytes(b"other")
    assert gm("add", "m.bin", "keep.bin").code == 0
    git("commit", "-qm", "track", cwd=repo)
    r = gm("remove", "m.bin")
    assert r.code == 0, r
    assert "stopped tracking m.bin" in r.out
    assert (repo / "m.bin").read_bytes() == MODEL
    assert not (repo / "m.bin.gm").exists()
    assert (repo / ".gitignore").read_text().splitlines() == ["*.log", "/keep.bin"]
    # The pointer's deletion and the new .gitignore are staged; nothing else.
    staged = git("diff", "--cached", "--name-status", cwd=repo).splitlines()
    assert sorted(staged) == ["D\tm.bin.gm", "M\t.gitignore"]
    # The file is now an ordinary untracked file, visible to git again.
    assert "?? m.bin" in git("status", "--porcelain", cwd=repo)
    # The object stays in the cache (gc decides about it, not remove).
    assert any(p.read_bytes() == MODEL for p in objects(repo).values())


def test_remove_a_never_committed_pointer_unstages_it(gm, repo: Path) -> None:
    (repo / "m.bin").write_bytes(MODEL)
    assert gm("add", "m.bin").code == 0
    assert "m.bin.gm" in git("diff", "--cached", "--name-only", cwd=repo)
    assert gm("remove", "m.bin.gm").code == 0  # the pointer's name works as well
    assert "m.bin.gm" not in git("ls-files", "--cached", cwd=repo)
    assert (repo / "m.bin").read_bytes() == MODEL
    gi = repo / ".gitignore"
    assert not gi.exists() or "/m.bin" not in gi.read_text().splitlines()


def test_remove_a_folder(gm, repo: Path) -> None:
    d = repo / "models" / "d"
    d.mkdir(parents=True)
    (d / "a").write_text("a")
    (d / "b").write_text("b")
    assert gm("add", "models/d").code == 0
    git("commit", "-qm", "track", cwd=repo)
    assert gm("remove", "models/d").code == 0
    assert sorted(p.name for p in d.iterdir()) == ["a", "b"]
    assert not (repo / "models" / "d.gm").exists()
    assert "/d" not in (repo / "models" / ".gitignore").read_text().splitlines()


def test_remove_linked_files_leaves_editable_copies(gm, repo: Path) -> None:
    set_link(repo, "hardlink")
    (repo / "m.bin").write_bytes(MODEL)
    assert gm("add", "m.bin").code == 0
    assert (repo / "m.bin").stat().st_nlink > 1
    assert gm("remove", "m.bin").code == 0
    st = (repo / "m.bin").stat()
    assert stat.S_ISREG(st.st_mode) and st.st_nlink == 1 and st.st_mode & 0o200
    assert (repo / "m.bin").read_bytes() == MODEL


def test_remove_an_untracked_path_changes_nothing(gm, repo: Path) -> None:
    (repo / "m.bin").write_bytes(MODEL)
    assert gm("add", "m.bin").code == 0
    (repo / "loose").write_text("x")
    before = repo_state(repo)
    r = gm("remove", "m.bin", "loose")  # one bad path: nothing at all is removed
    assert_one_line_error(r, "loose", "gitmodel add")
    assert repo_state(repo) == before


def test_unprotect_copy_mode_file_is_already_editable(gm, repo: Path) -> None:
    set_link(repo, "copy")
    (repo / "m.bin").write_bytes(MODEL)
    assert gm("add", "m.bin").code == 0
    before = repo_state(repo)
    r = gm("unprotect", "m.bin")
    assert r.code == 0 and "already editable" in r.out
    assert repo_state(repo) == before


def test_unprotect_then_add_records_the_edit(gm, repo: Path) -> None:
    set_link(repo, "symlink")
    (repo / "m.bin").write_bytes(MODEL)
    assert gm("add", "m.bin").code == 0
    assert (repo / "m.bin").is_symlink()
    assert gm("unprotect", "m.bin").code == 0
    assert not (repo / "m.bin").is_symlink()
    (repo / "m.bin").write_bytes(b"edited")
    r = gm("add", "m.bin")
    assert r.code == 0 and "added m.bin" in r.out
    # In symlink mode add links the new content in place again.
    assert (repo / "m.bin").is_symlink() and (repo / "m.bin").read_bytes() == b"edited"
    assert any(p.read_bytes() == MODEL for p in objects(repo).values())


def test_unprotect_missing_file(gm, repo: Path) -> None:
    (repo / "m.bin").write_bytes(MODEL)
    assert gm("add", "m.bin").code == 0
    (repo / "m.bin").unlink()
    r = gm("unprotect", "m.bin")
    assert r.code == 0 and "already editable" in r.out, r
    assert not (repo / "m.bin").exists()
