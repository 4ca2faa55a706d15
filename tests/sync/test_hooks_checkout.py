"""post-checkout, post-merge, post-rewrite: real `git checkout`, `git switch`,
`git merge`, `git rebase` keep the workspace matching the pointers, from the
cache; unsaved work is never overwritten."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.files import read, write
from tests.support.git import commit_with_hooks, git, gm_add, run_git, save
from tests.support.state import file_contents
from tests.support.store import objects

MAIN_MODEL = b"main weights " * 100
B_MODEL = b"branch weights " * 100


def two_branches(gm, repo: Path) -> None:
    """main: m.bin + d/{a,b}; branch b: m.bin changed, d/a changed, d/b gone, d/c new, x.bin new."""
    write(repo, "m.bin", MAIN_MODEL)
    write(repo, "d/a.txt", "a on main")
    write(repo, "d/sub/b.txt", "b")
    gm_add(repo, "m.bin", "d")
    commit_with_hooks(repo, "main")
    git("checkout", "-q", "-b", "b", cwd=repo)
    write(repo, "m.bin", B_MODEL)
    write(repo, "d/a.txt", "a on b")
    (repo / "d" / "sub" / "b.txt").unlink()
    write(repo, "d/c.txt", "c")
    write(repo, "x.bin", b"only on b")
    gm_add(repo, "m.bin", "d", "x.bin")
    commit_with_hooks(repo, "b")


def status(gm, root: Path) -> dict[str, str]:
    r = gm("status", "--json", cwd=root)
    assert r.code == 0, r
    return {s["path"]: s["state"] for s in json.loads(r.out)}


def test_branch_switch_brings_each_branchs_files(gm, repo: Path) -> None:
    two_branches(gm, repo)
    cached = set(objects(repo))
    proc = run_git(repo, "checkout", "main")
    assert proc.returncode == 0, proc.stderr
    assert read(repo, "m.bin") == MAIN_MODEL
    assert file_contents(repo, "d") == {"a.txt": b"a on main", "sub/b.txt": b"b"}
    assert not (repo / "x.bin").exists()  # tracked only on b: removed, its content is in the cache
    assert "checked out to match the pointers" in proc.stderr
    assert status(gm, repo) == {"d": "unchanged", "m.bin": "unchanged"}
    assert git("status", "--porcelain", cwd=repo) == ""
    git("switch", "-q", "b", cwd=repo)
    assert read(repo, "m.bin") == B_MODEL
    assert file_contents(repo, "d") == {"a.txt": b"a on b", "c.txt": b"c"}
    assert read(repo, "x.bin") == b"only on b"
    assert status(gm, repo) == {"d": "unchanged", "m.bin": "unchanged", "x.bin": "unchanged"}
    assert set(objects(repo)) == cached  # everything came from the cache; nothing new was stored


def test_checkout_of_a_tag_and_back(gm, repo: Path) -> None:
    save(repo, "m.bin", b"v1", "v1")
    git("tag", "-a", "v1", "-m", "v1", cwd=repo)
    save(repo, "m.bin", b"v2", "v2")
    git("checkout", "-q", "v1", cwd=repo)
    assert read(repo, "m.bin") == b"v1"
    git("checkout", "-q", "main", cwd=repo)
    assert read(repo, "m.bin") == b"v2"


def test_a_modified_file_survives_a_branch_switch(gm, repo: Path) -> None:
    two_branches(gm, repo)
    write(repo, "m.bin", b"unsaved experiment")
    write(repo, "d/a.txt", "unsaved edit in a folder")
    proc = run_git(repo, "checkout", "main")
    assert proc.returncode == 0, proc.stderr  # a post-checkout hook never fails the checkout
    assert read(repo, "m.bin") == b"unsaved experiment"
    assert read(repo, "d/a.txt") == b"unsaved edit in a folder"
    # Everything else moved to main's version: c.txt (only in b's folder) is gone, b.txt is back.
    assert file_contents(repo, "d") == {"a.txt": b"unsaved edit in a folder", "sub/b.txt": b"b"}
    err = proc.stderr
    assert "2 files with unsaved changes left as they are" in err, err
    assert "  m.bin\n" in err and "  d/a.txt\n" in err, err
    assert "gitmodel add PATH" in err and "gitmodel checkout --force PATH" in err
    # x.bin, unmodified and no longer tracked, is gone; an edited one would have stayed.
    assert not (repo / "x.bin").exists()


def test_an_edited_artifact_no_longer_tracked_stays(gm, repo: Path) -> None:
    two_branches(gm, repo)
    write(repo, "x.bin", b"edited")
    git("checkout", "-q", "main", cwd=repo)
    assert read(repo, "x.bin") == b"edited"


def test_a_file_checkout_does_not_touch_the_workspace(gm, repo: Path) -> None:
    two_branches(gm, repo)
    proc = run_git(repo, "checkout", "main", "--", "m.bin.gm")  # flag 0: one file, not a branch
    assert proc.returncode == 0 and "gitmodel" not in proc.stderr, proc.stderr
    assert read(repo, "m.bin") == B_MODEL
    assert status(gm, repo)["m.bin"] == "modified"


def test_merge_fast_forward_and_true_merge(gm, repo: Path) -> None:
    two_branches(gm, repo)
    git("checkout", "-q", "main", cwd=repo)
    git("merge", "-q", "--ff-only", "b", cwd=repo)
    assert read(repo, "m.bin") == B_MODEL and read(repo, "x.bin") == b"only on b"
    # A true merge: main moves on with y.bin, c brings z.bin.
    git("checkout", "-q", "-b", "c", cwd=repo)
    save(repo, "z.bin", b"z", "z")
    git("checkout", "-q", "main", cwd=repo)
    assert not (repo / "z.bin").exists()
    save(repo, "y.bin", b"y", "y")
    proc = run_git(repo, "merge", "-q", "--no-edit", "c")
    assert proc.returncode == 0, proc.stderr
    assert read(repo, "z.bin") == b"z" and read(repo, "y.bin") == b"y"
    assert set(status(gm, repo).values()) == {"unchanged"}


def test_rebase_keeps_the_workspace_in_step(gm, repo: Path) -> None:
    save(repo, "base.bin", b"base", "base")
    git("checkout", "-q", "-b", "topic", cwd=repo)
    save(repo, "topic.bin", b"topic", "topic")
    git("checkout", "-q", "main", cwd=repo)
    save(repo, "base.bin", b"base v2", "base v2")
    git("checkout", "-q", "topic", cwd=repo)
    assert read(repo, "base.bin") == b"base"
    proc = run_git(repo, "rebase", "main")
    assert proc.returncode == 0, proc.stderr
    assert read(repo, "base.bin") == b"base v2" and read(repo, "topic.bin") == b"topic"
    assert set(status(gm, repo).values()) == {"unchanged"}


def test_a_pointer_conflict_and_the_way_out(gm, repo: Path) -> None:
    save(repo, "m.bin", b"base", "base")
    git("checkout", "-q", "-b", "theirs", cwd=repo)
    save(repo, "m.bin", b"their model", "theirs")
    git("checkout", "-q", "main", cwd=repo)
    save(repo, "m.bin", b"our model", "ours")
    proc = run_git(repo, "merge", "theirs")
    assert proc.returncode != 0  # a conflict in m.bin.gm
    assert "<<<<<<<" in (repo / "m.bin.gm").read_text()
    # Reading the pointer says what happened and the way out, in one line.
    r = gm("status")
    assert r.code == 1 and len(r.err.strip().splitlines()) == 1, r
    assert "m.bin.gm: merge conflict" in r.err
    assert "gitmodel checkout --ours m.bin" in r.err and "gitmodel checkout --theirs m.bin" in r.err
    # Bad input first: a path that is not in conflict changes nothing.
    write(repo, "other.bin", b"o")
    r = gm("checkout", "--theirs", "other.bin")
    assert r.code == 1 and "is not in a merge conflict" in r.err, r
    assert "<<<<<<<" in (repo / "m.bin.gm").read_text()
    # Take their side: the pointer is resolved and staged, the file follows it.
    r = gm("checkout", "--theirs", "m.bin")
    assert r.code == 0, r
    assert "m.bin: took theirs side" in r.out
    assert read(repo, "m.bin") == b"their model"
    assert git("diff", "--name-only", "--diff-filter=U", cwd=repo) == ""
    proc = run_git(repo, "commit", "-q", "--no-edit")
    assert proc.returncode == 0, proc.stderr
    assert git("show", "HEAD:m.bin.gm", cwd=repo) == git("show", "theirs:m.bin.gm", cwd=repo)
    assert status(gm, repo) == {"m.bin": "unchanged"}


def test_take_our_side(gm, repo: Path) -> None:
    write(repo, "d/f.txt", "base")
    gm_add(repo, "d")
    commit_with_hooks(repo, "base")
    git("checkout", "-q", "-b", "theirs", cwd=repo)
    write(repo, "d/f.txt", "theirs")
    gm_add(repo, "d")
    commit_with_hooks(repo, "theirs")
    git("checkout", "-q", "main", cwd=repo)
    write(repo, "d/f.txt", "ours")
    gm_add(repo, "d")
    commit_with_hooks(repo, "ours")
    assert run_git(repo, "merge", "theirs").returncode != 0
    r = gm("checkout", "--ours", "d.gm")
    assert r.code == 0, r
    assert read(repo, "d/f.txt") == b"ours"
    assert git("show", ":d.gm", cwd=repo) == git("show", "main:d.gm", cwd=repo)
    r = gm("checkout", "--ours", "--theirs", "d")
    assert r.code == 1 and "one side" in r.err, r


def test_auto_fetch_on_switch_and_its_off_switch(gm, repo: Path, tmp_path: Path) -> None:
    """A clone switching to a branch whose objects it never had fetches them
    from the default remote first (auto_fetch, on by default)."""
    from tests.support.git import add_folder_remote, bare

    store = tmp_path / "store"
    upstream = bare(tmp_path)
    add_folder_remote(gm, repo, store)
    save(repo, "m.bin", b"v1", "v1")
    git("remote", "add", "origin", str(upstream), cwd=repo)
    git("push", "-q", "origin", "main", cwd=repo)
    clone = tmp_path / "clone"
    git("clone", "-q", str(upstream), str(clone))
    assert gm("pull", cwd=clone).code == 0
    assert gm("install-hooks", cwd=clone).code == 0
    # Upstream moves on: a new branch with new objects, pushed (objects first, by the hook).
    git("checkout", "-q", "-b", "v2", cwd=repo)
    write(repo, "m.bin", b"v2")
    write(repo, "d/f.txt", "folder file")
    gm_add(repo, "m.bin", "d")
    commit_with_hooks(repo, "v2")
    git("push", "-q", "origin", "v2", cwd=repo)
    git("fetch", "-q", cwd=clone)
    proc = run_git(clone, "checkout", "-q", "v2")
    assert proc.returncode == 0, proc.stderr
    assert read(clone, "m.bin") == b"v2" and read(clone, "d/f.txt") == b"folder file"
    assert "fetched 3 objects from the remote" in proc.stderr, proc.stderr  # m.bin, d's manifest and file
    # With auto_fetch off, the switch lists what is missing instead.
    git("checkout", "-q", "main", cwd=repo)
    git("checkout", "-q", "-b", "v3", cwd=repo)
    save(repo, "m.bin", b"v3", "v3")
    git("push", "-q", "origin", "v3", cwd=repo)
    local = clone / ".gitmodel" / "config.local.toml"
    local.write_text("[core]\nauto_fetch = false\n")
    git("fetch", "-q", cwd=clone)
    proc = run_git(clone, "checkout", "-q", "v3")
    assert proc.returncode == 0, proc.stderr
    assert "1 file not in the cache; run `gitmodel pull` to get them" in proc.stderr, proc.stderr
    assert read(clone, "m.bin") == b"v2"  # left as it was: its content is safe, the new one is not here
