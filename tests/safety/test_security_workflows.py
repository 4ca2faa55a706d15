"""Workflows around git that must keep working (issue 13, class 8) and a
hooks folder hooks cannot go in (class 9): the real pre-commit framework
chained with gitmodel's hooks in both install orders, a hookless
`git checkout` followed by `gitmodel pull`/`checkout`, a fresh clone told
once how to get the hooks, a sparse checkout without `.gitmodel/` that
`gitmodel init` must not overwrite, `core.hooksPath=/dev/null`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.cli import assert_one_line_error
from tests.support.files import read, write
from tests.support.git import (
    add_folder_remote,
    clone,
    commit_with_hooks,
    commit_without_hooks,
    git,
    gm_add,
    hooks_dir,
    make_repo,
    make_user_hook,
    run_git,
)
from tests.support.state import file_contents, tree_state
from tests.support.store import cache_root, object_path, oid_of, pointer_oid

# -- the pre-commit framework --------------------------------------------------

PRE_COMMIT_CONFIG = """\
repos:
- repo: local
  hooks:
  - id: marker
    name: marker
    entry: sh -c 'echo ran >> "$0"' {log}
    language: system
    pass_filenames: false
    always_run: true
"""


@pytest.fixture
def framework_repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A repository whose committed .pre-commit-config.yaml runs one local
    hook that logs each run; gitmodel not set up yet.  (root, log)"""
    monkeypatch.setenv("PRE_COMMIT_HOME", str(tmp_path / "pre-commit-home"))  # the framework's own store
    root = make_repo(tmp_path / "r", init_gitmodel=False)
    log = tmp_path / "framework.log"
    write(root, ".pre-commit-config.yaml", PRE_COMMIT_CONFIG.format(log=log))
    git("add", ".pre-commit-config.yaml", cwd=root)
    return root, log


def pre_commit(root: Path, *args: str) -> str:
    """The real framework's command line (`pre-commit ARGS`)."""
    proc = subprocess.run([sys.executable, "-m", "pre_commit", *args], cwd=root, capture_output=True, text=True)
    assert proc.returncode == 0, proc
    return proc.stdout


def runs(log: Path) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


def assert_both_hooks_run(gm, root: Path, log: Path) -> None:
    """A commit runs the framework's hook and gitmodel's: a good commit
    passes both; a pointer whose object is not in the cache is refused by
    gitmodel's check, after the framework's hook ran too."""
    before = runs(log)
    write(root, "notes.txt", "hello")
    proc = commit_with_hooks(root, "notes")
    assert runs(log) == before + 1, proc.stderr
    write(root, "m.bin", b"weights " * 64)
    gm_add(root, "m.bin")
    object_path(root, pointer_oid(root / "m.bin.gm")).unlink()  # the cache lost it: a clone could never get it
    head = git("rev-parse", "HEAD", cwd=root)
    proc = commit_with_hooks(root, "model", check=False)
    assert proc.returncode != 0, proc
    assert "m.bin.gm is staged but its object" in proc.stderr, proc.stderr  # gitmodel's pre-commit check
    assert runs(log) == before + 2  # and the framework's hook, in the same commit
    assert git("rev-parse", "HEAD", cwd=root) == head


def test_pre_commit_framework_then_gitmodel_init_both_run(gm, framework_repo: tuple[Path, Path]) -> None:
    """Today's failure: init kept the framework's script as pre-commit.legacy,
    which runs pre-commit.legacy (itself): every `git commit` failed."""
    root, log = framework_repo
    pre_commit(root, "install")
    framework_script = (hooks_dir(root) / "pre-commit").read_bytes()
    r = gm("init", cwd=root)
    assert r.code == 0, r
    assert "your own pre-commit hook is kept as pre-commit.before-gitmodel" in r.out
    folder = hooks_dir(root)
    assert (folder / "pre-commit.before-gitmodel").read_bytes() == framework_script
    assert not (folder / "pre-commit.legacy").exists()
    assert_both_hooks_run(gm, root, log)
    # Uninstalling gives the framework its place back, as it was.
    assert gm("uninstall-hooks", cwd=root).code == 0
    assert (folder / "pre-commit").read_bytes() == framework_script
    assert not (folder / "pre-commit.before-gitmodel").exists()


def test_gitmodel_init_then_pre_commit_framework_both_run(gm, framework_repo: tuple[Path, Path]) -> None:
    """The framework installed second moves our shim to pre-commit.legacy
    and runs it: gitmodel's check still runs, and install-hooks, run again,
    sees the chain and changes nothing."""
    root, log = framework_repo
    assert gm("init", cwd=root).code == 0
    commit_without_hooks(root, "gitmodel set up")
    pre_commit(root, "install")
    folder = hooks_dir(root)
    assert "gitmodel-hook-shim" in (folder / "pre-commit.legacy").read_text()
    before = tree_state(folder)
    r = gm("install-hooks", cwd=root)
    assert r.code == 0, r
    assert "already installed" in r.out
    assert tree_state(folder) == before
    assert_both_hooks_run(gm, root, log)
    # Uninstalling removes only our shim: the framework goes on alone.
    r = gm("uninstall-hooks", cwd=root)
    assert r.code == 0 and "pre-commit" in r.out, r
    assert not (folder / "pre-commit.legacy").exists()
    assert "pre-commit" in (folder / "pre-commit").read_text()
    write(root, "more.txt", "x")
    git("rm", "-q", "--cached", "m.bin.gm", cwd=root)
    commit_with_hooks(root, "more")
    assert runs(log) == 3


def test_a_users_hook_the_framework_and_gitmodel_all_run(gm, framework_repo: tuple[Path, Path],
                                                         tmp_path: Path) -> None:
    """User's hook, then `pre-commit install` (it keeps the user's as
    pre-commit.legacy), then `gitmodel init`: three hooks, each once."""
    root, log = framework_repo
    users = tmp_path / "user.log"
    make_user_hook(root, "pre-commit", users)
    pre_commit(root, "install")
    assert gm("init", cwd=root).code == 0
    assert_both_hooks_run(gm, root, log)
    assert len(users.read_text().splitlines()) == 2  # the good commit and the refused one


def test_an_older_install_that_kept_the_framework_as_legacy_is_repaired(
        gm, framework_repo: tuple[Path, Path]) -> None:
    """The layout older gitmodel versions left (our shim at pre-commit, the
    framework's script at pre-commit.legacy): install-hooks moves the
    framework's script where the shim looks, and commits work again."""
    root, log = framework_repo
    pre_commit(root, "install")
    assert gm("init", cwd=root).code == 0
    folder = hooks_dir(root)
    os.replace(folder / "pre-commit.before-gitmodel", folder / "pre-commit.legacy")
    shim = folder / "pre-commit"  # as older versions wrote it: the kept hook found from $0
    text = shim.read_text()
    assert 'before="$here/$hook.before-gitmodel"' in text
    shim.write_text(text.replace('before="$here/$hook.before-gitmodel"', 'before="$0.legacy"'))
    proc = commit_with_hooks(root, "broken", check=False)
    assert proc.returncode != 0 and "migration mode" in proc.stderr, proc  # the bug, reproduced
    r = gm("install-hooks", cwd=root)
    assert r.code == 0, r
    assert "kept as pre-commit.before-gitmodel" in r.out
    assert not (folder / "pre-commit.legacy").exists()
    assert_both_hooks_run(gm, root, log)


def test_hooks_moved_into_a_loop_run_once(gm, repo: Path) -> None:
    """Our shim kept under the kept hook's name (hooks moved by hand) would
    start itself forever: the shim sees it is already running and returns."""
    folder = hooks_dir(repo)
    (folder / "pre-commit.before-gitmodel").write_bytes((folder / "pre-commit").read_bytes())
    (folder / "pre-commit.before-gitmodel").chmod(0o755)
    write(repo, "m.bin", b"w" * 100)
    gm_add(repo, "m.bin")
    object_path(repo, pointer_oid(repo / "m.bin.gm")).unlink()
    git("add", "-A", cwd=repo)
    proc = subprocess.run(["git", "commit", "-q", "-m", "x"], cwd=repo, capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert proc.stderr.count("m.bin.gm is staged but its object") == 1, proc.stderr


# -- a hookless git checkout, then gitmodel pull / checkout ----------------------

V1, V2 = b"version one " * 50, b"version two " * 50


@pytest.fixture
def hookless_clone(gm, tmp_path: Path) -> tuple[Path, str, str]:
    """Two committed versions of m.bin and d/ pushed to a folder remote; a
    clone (no hooks: git never clones them) pulled at v2, then `git checkout
    v1`, which runs no hook: the workspace still holds v2's bytes.
    (clone, v1 commit, v2 commit)"""
    origin = make_repo(tmp_path / "origin")
    add_folder_remote(gm, origin, tmp_path / "store")
    write(origin, "m.bin", V1)
    write(origin, "d/a.txt", "a one")
    write(origin, "d/b.txt", "b")
    gm_add(origin, "m.bin", "d")
    v1 = commit_without_hooks(origin, "v1")
    assert gm("push", cwd=origin).code == 0
    write(origin, "m.bin", V2)
    write(origin, "d/a.txt", "a two")
    gm_add(origin, "m.bin", "d")
    v2 = commit_without_hooks(origin, "v2")
    assert gm("push", cwd=origin).code == 0
    work = clone(origin, tmp_path / "clone")
    assert gm("pull", cwd=work).code == 0
    assert read(work, "m.bin") == V2
    git("checkout", "-q", v1, cwd=work)
    assert read(work, "m.bin") == V2  # no hook ran
    return work, v1, v2


@pytest.mark.parametrize("command", ["pull", "checkout"])
def test_committed_versions_left_by_git_checkout_are_replaced(gm, hookless_clone: tuple[Path, str, str],
                                                              command: str) -> None:
    work, _v1, v2 = hookless_clone
    if command == "checkout":
        assert gm("fetch", cwd=work).code == 0  # checkout works from the cache alone
    r = gm(command, cwd=work)
    assert r.code == 0, r
    assert "left alone" not in r.err
    assert read(work, "m.bin") == V1
    assert file_contents(work, "d") == {"a.txt": b"a one", "b.txt": b"b"}
    git("checkout", "-q", v2, cwd=work)
    r = gm(command, cwd=work)
    assert r.code == 0, r
    assert read(work, "m.bin") == V2 and read(work, "d/a.txt") == b"a two"


def test_bytes_that_exist_nowhere_else_are_still_left_alone(gm, hookless_clone: tuple[Path, str, str]) -> None:
    work, _v1, _v2 = hookless_clone
    assert gm("fetch", cwd=work).code == 0
    write(work, "m.bin", b"the user's unsaved retraining")
    write(work, "d/a.txt", "the user's edit")
    for command in ("checkout", "pull"):
        r = gm(command, cwd=work)
        assert r.code == 1, r
        assert "m.bin" in r.err and "d/a.txt" in r.err and "left alone" in r.err
        assert read(work, "m.bin") == b"the user's unsaved retraining"
        assert read(work, "d/a.txt") == b"the user's edit"
        assert read(work, "d/b.txt") == b"b"
    assert oid_of(b"the user's unsaved retraining") not in {p.name for p in cache_root(work).rglob("*")}


# -- a fresh clone is told once how to get the hooks -----------------------------

def _one_model_origin(gm, tmp_path: Path, message: str) -> Path:
    """An origin with m.bin tracked and committed, and a folder remote (not pushed to)."""
    origin = make_repo(tmp_path / "origin")
    add_folder_remote(gm, origin, tmp_path / "store")
    write(origin, "m.bin", V1)
    gm_add(origin, "m.bin")
    commit_without_hooks(origin, message)
    return origin


def test_a_fresh_clone_is_told_once_how_to_get_the_hooks(gm, tmp_path: Path) -> None:
    origin = _one_model_origin(gm, tmp_path, "v1")
    assert gm("push", cwd=origin).code == 0
    work = clone(origin, tmp_path / "clone")
    hooks_before = tree_state(hooks_dir(work))
    quiet = gm("pull", "-q", cwd=work)
    assert quiet.code == 0 and quiet.err == "", quiet  # -q: not said, and still owed
    r = gm("pull", cwd=work)
    assert r.code == 0, r
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and "gitmodel install-hooks" in lines[0] and "git push" in lines[0], r
    assert tree_state(hooks_dir(work)) == hooks_before  # told, not installed: .git/hooks as cloned
    again = gm("checkout", cwd=work)
    assert again.code == 0 and again.err == "", again
    # A repository with its hooks is never told.
    assert gm("pull", cwd=origin).err == ""


def test_a_failing_pull_in_a_fresh_clone_gets_no_note_on_its_errors(gm, tmp_path: Path) -> None:
    origin = _one_model_origin(gm, tmp_path, "never pushed")
    work = clone(origin, tmp_path / "clone")
    for command in ("pull", "checkout"):  # not on the remote, not in the cache: exit 1
        r = gm(command, cwd=work)
        assert r.code == 1 and "m.bin" in r.err and "install-hooks" not in r.err, r
    assert not (cache_root(work) / "hooks-notice").exists()  # still owed


# -- a sparse checkout without .gitmodel/ -----------------------------------------

TEAM_CONFIG_LINE = "# the team's settings\n"


@pytest.fixture
def team_origin(gm, tmp_path: Path) -> Path:
    origin = make_repo(tmp_path / "origin")
    cfg = origin / ".gitmodel" / "config.toml"
    cfg.write_text(cfg.read_text() + TEAM_CONFIG_LINE)
    write(origin, "m.bin", V1)
    gm_add(origin, "m.bin")
    commit_without_hooks(origin, "team")
    return origin


def test_init_in_a_sparse_checkout_without_gitmodel_refuses(gm, team_origin: Path, tmp_path: Path) -> None:
    work = tmp_path / "sparse"
    git("clone", "-q", "--sparse", str(team_origin), str(work))  # cone mode: the top-level files only
    assert not (work / ".gitmodel").exists()
    index_before, tree_before = git("ls-files", "--stage", "-t", cwd=work), tree_state(work)
    hooks_before = tree_state(hooks_dir(work))
    line = assert_one_line_error(gm("init", cwd=work), ".gitmodel/config.toml", "git sparse-checkout add .gitmodel")
    assert "team" in line
    assert git("ls-files", "--stage", "-t", cwd=work) == index_before and tree_state(work) == tree_before
    assert tree_state(hooks_dir(work)) == hooks_before
    assert_one_line_error(gm("pull", cwd=work), "not set up", "git sparse-checkout add .gitmodel")
    git("sparse-checkout", "add", ".gitmodel", cwd=work)
    assert (work / ".gitmodel" / "config.toml").read_text().endswith(TEAM_CONFIG_LINE)


def test_init_after_gitmodel_was_deleted_refuses(gm, team_origin: Path, tmp_path: Path) -> None:
    work = clone(team_origin, tmp_path / "clone")
    (work / ".gitmodel" / "config.toml").unlink()
    assert_one_line_error(gm("init", cwd=work), "git checkout -- .gitmodel")
    assert not (work / ".gitmodel" / "config.toml").exists()
    git("rm", "-rq", ".gitmodel", cwd=work)  # the deletion staged: HEAD still has it
    assert_one_line_error(gm("init", cwd=work), "git checkout HEAD -- .gitmodel")
    assert_one_line_error(gm("status", cwd=work), "not set up", "git checkout HEAD -- .gitmodel")
    git("checkout", "HEAD", "--", ".gitmodel", cwd=work)
    assert (work / ".gitmodel" / "config.toml").read_text().endswith(TEAM_CONFIG_LINE)


def test_init_in_a_new_repository_still_works(gm, tmp_path: Path) -> None:
    root = make_repo(tmp_path / "new", init_gitmodel=False)
    assert gm("status", cwd=root).code == 1
    r = gm("init", cwd=root)
    assert r.code == 0 and "created .gitmodel/config.toml" in r.out, r


# -- core.hooksPath that is not a folder -------------------------------------------

@pytest.mark.parametrize("where", ["/dev/null", "a file"])
def test_a_hooks_path_that_is_not_a_folder_is_one_line(gm, tmp_path: Path, where: str) -> None:
    root = make_repo(tmp_path / "r", init_gitmodel=False)
    target = "/dev/null" if where == "/dev/null" else str(write(tmp_path, "hooks-file", "not a folder"))
    git("config", "core.hooksPath", target, cwd=root)
    before = tree_state(root, skip_git=False)
    assert_one_line_error(gm("init", cwd=root), "core.hooksPath", "--no-hooks")
    assert tree_state(root, skip_git=False) == before  # refused before the first write
    r = gm("init", "--no-hooks", cwd=root)
    assert r.code == 0, r
    assert_one_line_error(gm("install-hooks", cwd=root), "core.hooksPath")
    r = gm("uninstall-hooks", cwd=root)
    assert r.code == 0 and "no gitmodel hooks installed" in r.out, r
    # Hooks turned off on purpose: a clone there is not told to install them.
    assert "install-hooks" not in gm("checkout", cwd=root).err
    if where == "a file":
        assert (tmp_path / "hooks-file").read_text() == "not a folder"


def test_the_hooks_still_chain_a_users_hook_in_a_linked_worktree(gm, repo: Path, tmp_path: Path) -> None:
    """Finding the kept hook by name (not from $0) holds where git runs the
    shared hooks of the main repository from a linked worktree."""
    log = tmp_path / "log"
    (hooks_dir(repo) / "post-checkout").unlink()
    make_user_hook(repo, "post-checkout", log)
    assert gm("install-hooks").code == 0
    commit_without_hooks(repo, "init")
    proc = run_git(repo, "worktree", "add", "-q", str(tmp_path / "wt"), "-b", "side")
    assert proc.returncode == 0, proc.stderr
    assert log.read_text().count("post-checkout|") == 1


def test_a_refused_pointer_in_a_fresh_clone_keeps_pull_to_one_line(gm, tmp_path: Path) -> None:
    """The note never joins a refusal: a hostile pointer (`.git.gm`) among
    safe ones makes pull exit 1 with exactly the refusal's line."""
    origin = make_repo(tmp_path / "origin")
    add_folder_remote(gm, origin, tmp_path / "store")
    write(origin, "m.bin", V1)
    write(origin, "evil/hooks/post-commit", "#!/bin/sh\necho pwned\n")
    gm_add(origin, "m.bin", "evil")
    assert gm("push", cwd=origin).code == 0
    os.replace(origin / "evil.gm", origin / ".git.gm")
    commit_without_hooks(origin, "hostile")
    work = clone(origin, tmp_path / "clone")
    git_before = tree_state(work / ".git", skip_git=False)
    assert_one_line_error(gm("pull", cwd=work), ".git.gm")
    assert read(work, "m.bin") == V1  # the safe target still came
    after = tree_state(work / ".git", skip_git=False)
    assert {k: v for k, v in after.items() if k.startswith("hooks")} == \
        {k: v for k, v in git_before.items() if k.startswith("hooks")}
    assert not (cache_root(work) / "hooks-notice").exists()
