"""Hostile repositories, class 1: pointers whose own path lands in control
space (`.git.gm`, `sub/.git.gm`, `.GIT.gm`, `git~1.gm`, `.gitmodel.gm`, a
nested repository, a submodule, git's control files).

Each case is built the way an attacker would: a real repository whose
pointer for a folder holding `hooks/post-commit` (and a `config`) is renamed
to the hostile path, committed and pushed with its objects to a folder
remote; then a real `git clone`.  Every command that reads pointers runs on
the clone and must refuse the hostile pointer with one line naming it, go on
with the safe model beside it, and write nothing into `.git` (but the
cache), outside the work tree, or as a hook."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.cli import gm_proc, gm_run
from tests.support.files import write
from tests.support.git import add_folder_remote, clone, commit_without_hooks, git, gm_add, make_repo, run_git
from tests.support.state import git_control_state, outside_state

MODEL = b"the safe model beside the hostile pointer\n" * 50
# Commands run on every clone: (args, the exit code expected, whether the
# refusal line must be printed).  gc counts the hostile pointer as live
# (keeping more is safe): its manifest was never fetched, so gc deletes
# nothing at all and says why; the rest refuse it by name.
COMMANDS: list[tuple[tuple[str, ...], int, bool]] = [
    (("pull",), 1, True),
    (("checkout",), 1, True),
    (("status",), 1, True),
    (("fetch",), 1, True),
    (("push",), 1, True),
    (("fsck",), 1, True),
    (("checkout", "model.bin"), 0, False),
    (("gc",), 1, False),
]

HOSTILE = [
    ".git.gm",  # the reproduction of the issue: pull wrote .git/hooks/post-commit
    ".GIT.gm",  # case-insensitive file systems
    ".git..gm",  # `.git.`: NTFS drops trailing dots
    "git~1.gm",  # NTFS's short name for .git
    "\u200c.git.gm",  # HFS+ ignores U+200C
    "sub/.git.gm",  # a nested repository of the attacker's making
    "deep/er/.Git.gm",
    ".gitmodel.gm",  # gitmodel's own committed config
    ".gitignore.gm",  # git's control files as a tracked name
    ".gitattributes.gm",
    ".gitmodules.gm",
]


def hostile_origin(tmp_path: Path, pointer_rel: str) -> tuple[Path, Path]:
    """(origin repository, folder remote) with a safe model.bin and a folder
    pointer renamed to `pointer_rel`, committed and pushed."""
    origin = make_repo(tmp_path / "origin")
    store = tmp_path / "store"
    add_folder_remote(gm_run_fixture, origin, store)
    marker = tmp_path / "PWNED"
    write(origin, "payload/hooks/post-commit", f"#!/bin/sh\necho pwned > '{marker}'\n")
    (origin / "payload/hooks/post-commit").chmod(0o755)
    write(origin, "payload/hooks/pre-commit", f"#!/bin/sh\necho pwned > '{marker}'\n")
    write(origin, "payload/config", "[core]\n\tfsmonitor = echo pwned\n")
    write(origin, "model.bin", MODEL)
    gm_add(origin, "payload", "model.bin")
    assert gm_run(["push"], cwd=origin).code == 0
    (origin / os.path.dirname(pointer_rel)).mkdir(parents=True, exist_ok=True)
    git("mv", "payload.gm", pointer_rel, cwd=origin)
    commit_without_hooks(origin, "a model, and a pointer into control space")
    return origin, store


def gm_run_fixture(*args: str, cwd: str | os.PathLike[str] | None = None):  # type: ignore[no-untyped-def]
    return gm_run(list(args), cwd=cwd)


@pytest.mark.parametrize("pointer_rel", HOSTILE)
def test_a_hostile_pointer_is_refused_by_every_command_and_the_rest_goes_on(tmp_path: Path, pointer_rel: str) -> None:
    origin, _store = hostile_origin(tmp_path, pointer_rel)
    work = clone(origin, tmp_path / "clone")
    before_git = git_control_state(work)
    outside_before = outside_state(tmp_path, "clone")
    for args, code, says in COMMANDS:
        r = gm_run(list(args), cwd=work)
        assert r.code == code, (args, r)
        assert "Traceback" not in r.err, (args, r)
        lines = [line for line in r.err.splitlines() if pointer_rel in line]
        if says:
            assert len(lines) == 1 and "unsafe path" in lines[0], (args, r)
        assert git_control_state(work) == before_git, f"`gitmodel {' '.join(args)}` wrote into .git"
        assert not (tmp_path / "PWNED").exists()
    # The safe model came down beside the refusal; nothing else appeared.
    assert (work / "model.bin").read_bytes() == MODEL
    target = pointer_rel[: -len(".gm")]
    assert not (work / target / "hooks").exists() and not (work / target / "config").exists() or target == ".git"
    # The one thing allowed outside: the clone's push records the clone on the remote (meta/repos/).
    after = outside_state(tmp_path, "clone")
    assert {k: v for k, v in after.items() if not k.startswith("store/meta/repos/")} == \
        {k: v for k, v in outside_before.items() if not k.startswith("store/meta/repos/")}
    assert sorted(os.listdir(tmp_path)) == ["clone", "home", "origin", "store"]


def test_the_hooks_and_the_api_refuse_it_too(tmp_path: Path) -> None:
    """post-checkout (fired by a real `git checkout`) and gitmodel.pull() take the same listing."""
    import gitmodel

    origin, _store = hostile_origin(tmp_path, ".git.gm")
    work = clone(origin, tmp_path / "clone")
    assert gm_run(["install-hooks"], cwd=work).code == 0
    before_git = git_control_state(work)
    with pytest.raises(gitmodel.GitmodelError, match=r"\.git\.gm: unsafe path"):
        gitmodel.pull(repo=work)
    assert (work / "model.bin").read_bytes() == MODEL  # the safe target was done before the raise
    git("commit", "-q", "--allow-empty", "--no-verify", "-m", "a second commit to check out from", cwd=work)
    before_git = git_control_state(work)
    os.remove(work / "model.bin")
    proc = run_git(work, "checkout", "-q", "HEAD~1")
    assert proc.returncode == 0
    assert ".git.gm: unsafe path" in proc.stderr
    assert (work / "model.bin").read_bytes() == MODEL
    after = git_control_state(work)
    after.pop("HEAD"), before_git.pop("HEAD")  # the checkout itself
    assert after == before_git
    assert not (tmp_path / "PWNED").exists()


def test_get_and_a_named_target_refuse_it(tmp_path: Path) -> None:
    origin, _store = hostile_origin(tmp_path, ".git.gm")
    work = clone(origin, tmp_path / "clone")
    r = gm_run(["checkout", ".git"], cwd=work)
    assert r.code == 1 and ".git" in r.err and "Traceback" not in r.err
    out = tmp_path / "out"
    r = gm_proc("get", str(origin), ".git", "-o", str(out), cwd=tmp_path)
    assert r.code == 1 and "unsafe path" in r.err and "Traceback" not in r.err, r
    assert not out.exists()
    r = gm_proc("get", str(origin), "model.bin", "-o", str(out), cwd=tmp_path)
    assert r.code == 0, r
    assert out.read_bytes() == MODEL


def test_a_pointer_inside_a_nested_repository_is_refused(tmp_path: Path) -> None:
    """vendor/ is a repository of its own in the clone (the user's, or made by
    an earlier checkout): a committed vendor/model.bin.gm must not write into it."""
    origin = make_repo(tmp_path / "origin")
    add_folder_remote(gm_run_fixture, origin, tmp_path / "store")
    write(origin, "vendor/model.bin", MODEL)
    write(origin, "model.bin", MODEL + b"2")
    gm_add(origin, "vendor/model.bin", "model.bin")
    assert gm_run(["push"], cwd=origin).code == 0
    commit_without_hooks(origin, "models")
    work = clone(origin, tmp_path / "clone")
    make_repo(work / "vendor", init_gitmodel=False)
    r = gm_run(["pull"], cwd=work)
    assert r.code == 1, r
    assert "vendor/model.bin.gm: is inside vendor/, a nested repository or submodule" in r.err
    assert not (work / "vendor/model.bin").exists()
    assert (work / "model.bin").read_bytes() == MODEL + b"2"


def test_a_pointer_at_a_submodule_path_is_refused(tmp_path: Path) -> None:
    """A submodule not yet checked out is an empty folder: still not ours."""
    lib = make_repo(tmp_path / "lib", init_gitmodel=False)
    write(lib, "README", "lib\n")
    commit_without_hooks(lib, "lib")
    origin = make_repo(tmp_path / "origin")
    add_folder_remote(gm_run_fixture, origin, tmp_path / "store")
    write(origin, "payload/x.txt", "into the submodule\n")
    gm_add(origin, "payload")
    assert gm_run(["push"], cwd=origin).code == 0
    git("-c", "protocol.file.allow=always", "submodule", "add", "-q", str(lib), "lib", cwd=origin)
    git("rm", "-q", "--cached", "payload.gm", cwd=origin)
    os.rename(origin / "payload.gm", origin / "lib.gm")
    commit_without_hooks(origin, "a pointer over the submodule")
    work = clone(origin, tmp_path / "clone")
    assert (work / "lib").is_dir() and not os.listdir(work / "lib")
    r = gm_run(["pull"], cwd=work)
    assert r.code == 1, r
    assert "lib.gm: is a nested repository or submodule" in r.err
    assert os.listdir(work / "lib") == []


def test_a_commit_git_itself_would_not_check_out_is_refused_by_rev_readers(tmp_path: Path) -> None:
    """`a/.git/hooks.gm` cannot be in a work tree (git refuses the path), but a
    hand-made tree can hold it: readers of a revision (fetch --rev, diff,
    metrics) see it through revs.pointers_at and refuse it there."""
    origin, _store = hostile_origin(tmp_path, "payload2.gm")
    pointer_blob = git("rev-parse", "HEAD:payload2.gm", cwd=origin).strip()
    model_blob = git("rev-parse", "HEAD:model.bin.gm", cwd=origin).strip()
    hooks = git("mktree", cwd=origin, input=f"100644 blob {pointer_blob}\thooks.gm\n").strip()
    dotgit = git("mktree", cwd=origin, input=f"040000 tree {hooks}\t.git\n").strip()
    top = git("mktree", cwd=origin, input=f"040000 tree {dotgit}\ta\n100644 blob {model_blob}\tmodel.bin.gm\n").strip()
    commit = git("commit-tree", top, "-m", "crafted", cwd=origin).strip()
    git("update-ref", "refs/heads/crafted", commit, cwd=origin)
    r = gm_run(["fetch", "--rev", "crafted"], cwd=origin)
    assert r.code == 1, r
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and ":a/.git/hooks.gm: unsafe path" in lines[0], r
    r = gm_run(["diff", "HEAD", "crafted"], cwd=origin)
    assert r.code == 1 and "a/.git/hooks.gm: unsafe path" in r.err and "Traceback" not in r.err, r


@pytest.mark.parametrize("link", [".git", ".git/hooks", ".gitmodel", "../outside"])
def test_a_tracked_folder_committed_as_a_symlink_into_control_space_is_not_written_through(
        tmp_path: Path, link: str) -> None:
    """data.gm names a folder holding hooks/post-commit; the commit replaces
    data/ with a symlink `data -> .git`: pull would write .git/hooks/post-commit."""
    origin, _store = hostile_origin(tmp_path, "data.gm")
    (tmp_path / "outside").mkdir()
    os.symlink(link, origin / "data")
    git("add", "-f", "data", cwd=origin)
    commit_without_hooks(origin, "the folder is now a symlink")
    work = clone(origin, tmp_path / "clone")
    before_git = git_control_state(work)
    for args in (("pull",), ("checkout",), ("status",), ("checkout", "data")):
        r = gm_run(list(args), cwd=work)
        assert r.code == 1 and "Traceback" not in r.err, (args, r)
        assert "data.gm: leads" in r.err and "through a symlink" in r.err, (args, r)
        assert git_control_state(work) == before_git
    assert os.listdir(tmp_path / "outside") == []
    assert not (work / ".gitmodel" / "hooks").exists()
    assert (work / "model.bin").read_bytes() == MODEL


def test_a_git_file_in_a_tracked_folder_is_skipped_and_never_blocks_a_checkout(tmp_path: Path) -> None:
    """Class 7: a submodule or worktree checkout inside a tracked folder has a
    `.git` *file*.  It was recorded in the manifest, which every checkout then
    refused, for the whole repository; it is skipped like a `.git` folder."""
    origin = make_repo(tmp_path / "origin")
    add_folder_remote(gm_run_fixture, origin, tmp_path / "store")
    write(origin, "data/a.txt", "a\n")
    write(origin, "data/sub/b.txt", "b\n")
    write(origin, "data/sub/.git", "gitdir: ../../.git/worktrees/sub\n")
    write(origin, "data/wt/.git/HEAD", "ref: refs/heads/main\n")  # and a nested repository's folder
    write(origin, "model.bin", MODEL)
    gm_add(origin, "data", "model.bin")
    assert gm_run(["push"], cwd=origin).code == 0
    commit_without_hooks(origin, "a folder holding a .git file")
    work = clone(origin, tmp_path / "clone")
    r = gm_run(["pull"], cwd=work)
    assert r.code == 0, r
    assert (work / "data/a.txt").read_text() == "a\n" and (work / "data/sub/b.txt").read_text() == "b\n"
    assert not (work / "data/sub/.git").exists() and not (work / "data/wt").exists()
    assert (work / "model.bin").read_bytes() == MODEL
    r = gm_run(["status"], cwd=work)
    assert r.code == 0 and "modified" not in r.out, r
