"""pre-commit: a commit staging a pointer whose content is not in the cache
is refused (a clone could never get it); a tracked file changed but not
re-added gets a warning."""

from __future__ import annotations

import os
from pathlib import Path

from tests.support.files import write
from tests.support.git import commit_with_hooks, git, gm_add, run_git, save
from tests.support.store import cache_root, objects, oid_of


def head(root: Path) -> str:
    return git("rev-parse", "--verify", "-q", "HEAD", cwd=root, check=False).strip()


def test_a_pointer_without_its_object_is_refused(gm, repo: Path) -> None:
    commit_with_hooks(repo, "init")
    write(repo, "m.bin", b"model")
    gm_add(repo, "m.bin")
    obj = objects(repo)[oid_of(b"model")]
    os.chmod(obj.parent, 0o755)
    obj.unlink()  # as if the pointer had been copied from elsewhere
    before = head(repo)
    proc = commit_with_hooks(repo, "m", check=False)
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "m.bin.gm is staged but its object" in lines[0] and "gitmodel add m.bin" in lines[0]
    assert "--no-verify" in lines[0]
    assert head(repo) == before
    # Once the content is back, the commit goes through.
    gm_add(repo, "m.bin")
    commit_with_hooks(repo, "m")
    assert head(repo) != before


def test_a_folder_missing_one_file_object_is_refused(gm, repo: Path) -> None:
    write(repo, "d/a.txt", "a")
    write(repo, "d/b.txt", "b")
    gm_add(repo, "d")
    obj = objects(repo)[oid_of(b"b")]
    os.chmod(obj.parent, 0o755)
    obj.unlink()
    for hint in cache_root(repo).glob("state.db*"):  # the stat cache remembers d as complete: a hint, dropped
        hint.unlink()
    proc = commit_with_hooks(repo, "d", check=False)
    assert proc.returncode != 0
    assert "d.gm is staged but 1 file of its folder is not in the cache" in proc.stderr, proc.stderr
    assert head(repo) == ""


def test_commit_all_checks_what_is_really_committed(gm, repo: Path) -> None:
    """`git commit -a` commits through a temporary index: that is the one checked."""
    save(repo, "m.bin", b"v1", "v1")
    (repo / "m.bin.gm").write_text((repo / "m.bin.gm").read_text().replace(oid_of(b"v1"), oid_of(b"never added")))
    proc = run_git(repo, "commit", "-q", "-a", "-m", "hand-edited pointer")
    assert proc.returncode != 0 and "m.bin.gm is staged" in proc.stderr, proc.stderr


def test_a_changed_file_not_readded_is_a_warning_only(gm, repo: Path) -> None:
    write(repo, "m.bin", b"v1")
    gm_add(repo, "m.bin")
    write(repo, "m.bin", b"v2, not added")
    proc = commit_with_hooks(repo, "v1")
    assert "warning: m.bin changed since it was added" in proc.stderr, proc.stderr
    assert "gitmodel add m.bin" in proc.stderr
    assert head(repo) != ""


def test_conflict_markers_staged_are_refused(gm, repo: Path) -> None:
    save(repo, "m.bin", b"v1", "v1")
    ptr = repo / "m.bin.gm"
    text = ptr.read_text()
    ptr.write_text(f"<<<<<<< HEAD\n{text}=======\n{text}>>>>>>> theirs\n")
    git("add", "m.bin.gm", cwd=repo)
    proc = run_git(repo, "commit", "-q", "-m", "oops")
    assert proc.returncode != 0
    assert "m.bin.gm: merge conflict" in proc.stderr and "gitmodel checkout --ours m.bin" in proc.stderr


def test_plain_git_commits_pass_quietly(gm, repo: Path) -> None:
    write(repo, "README", "plain git")
    proc = commit_with_hooks(repo, "readme")
    assert "gitmodel" not in proc.stderr
