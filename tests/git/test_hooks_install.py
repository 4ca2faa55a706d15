"""Installing the hooks: what init and install-hooks write, the user's own
hooks kept and still run, uninstall restoring them, core.hooksPath, linked
worktrees, the interpreter recorded in the shim and its fallback."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.support.cli import assert_one_line_error
from tests.support.files import read, write
from tests.support.git import commit_with_hooks, git, gm_add, hooks_dir, make_repo, make_user_hook, run_git, save

HOOKS = ("pre-push", "post-checkout", "post-merge", "post-rewrite", "pre-commit")
TOP = Path(__file__).resolve().parents[2]


def test_init_installs_every_hook_recording_this_interpreter(repo: Path) -> None:
    folder = hooks_dir(repo)
    assert folder == repo / ".git" / "hooks"
    for name in HOOKS:
        hook = folder / name
        assert os.access(hook, os.X_OK), name
        text = hook.read_text()
        assert "gitmodel-hook-shim" in text
        assert f"\nGITMODEL_PYTHON={shlex.quote(sys.executable)}  #" in text, text
        assert "gitmodel hook \"$hook\"" in text
    # The diff driver: the attribute committed, the command per clone.
    assert "*.gm diff=gitmodel" in (repo / ".gitattributes").read_text().splitlines()
    assert git("config", "diff.gitmodel.textconv", cwd=repo).strip() == f"{sys.executable} -m gitmodel textconv"


def test_install_twice_is_harmless(gm, repo: Path) -> None:
    before = {n: (hooks_dir(repo) / n).read_bytes() for n in HOOKS}
    r = gm("install-hooks")
    assert r.code == 0, r
    assert "already installed" in r.out
    assert {n: (hooks_dir(repo) / n).read_bytes() for n in HOOKS} == before
    assert not list(hooks_dir(repo).glob("*.before-gitmodel"))


def test_init_no_hooks(gm, tmp_path: Path) -> None:
    root = make_repo(tmp_path / "r", init_gitmodel=False)
    r = gm("init", "--no-hooks", cwd=root)
    assert r.code == 0, r
    assert not any((hooks_dir(root) / n).exists() for n in HOOKS)
    r = gm("install-hooks", cwd=root)
    assert r.code == 0, r
    assert "installed git hooks pre-push, post-checkout, post-merge, post-rewrite, pre-commit" in r.out
    assert all((hooks_dir(root) / n).exists() for n in HOOKS)


def test_users_own_hook_is_kept_still_runs_and_comes_back(gm, tmp_path: Path) -> None:
    root = make_repo(tmp_path / "r", init_gitmodel=False)
    log = tmp_path / "user-hooks.log"
    mine = {n: make_user_hook(root, n, log) for n in ("post-checkout", "pre-push")}
    originals = {n: (h.read_bytes(), h.stat().st_mode) for n, h in mine.items()}
    r = gm("init", cwd=root)
    assert r.code == 0, r
    assert "your own post-checkout hook is kept as post-checkout.before-gitmodel" in r.out
    folder = hooks_dir(root)
    for n in mine:
        assert (folder / f"{n}.before-gitmodel").read_bytes() == originals[n][0]
        assert "gitmodel-hook-shim" in (folder / n).read_text()
    # Git runs our shim, which runs the user's hook first with the same arguments...
    save(root, "m.bin", b"model", "one")
    git("checkout", "-q", "-b", "other", cwd=root)
    head = git("rev-parse", "HEAD", cwd=root).strip()
    assert log.read_text().splitlines() == [f"post-checkout|{head} {head} 1|"]
    # ...and the same stdin (pre-push).
    upstream = tmp_path / "up.git"
    git("init", "-q", "--bare", str(upstream))
    git("remote", "add", "origin", str(upstream), cwd=root)
    proc = run_git(root, "push", "-q", "origin", "other", env={"GITMODEL_SKIP_PUSH": "1"})
    assert proc.returncode == 0, proc.stderr
    last = log.read_text().splitlines()[-1]
    assert last == f"pre-push|origin {upstream}|refs/heads/other {head} refs/heads/other {'0' * 40};", last
    # Uninstall removes only our shims and puts the user's hooks back as they were.
    r = gm("uninstall-hooks", cwd=root)
    assert r.code == 0, r
    assert "your own post-checkout hook is back in place" in r.out
    for n, (data, mode) in originals.items():
        assert (folder / n).read_bytes() == data
        assert (folder / n).stat().st_mode == mode
        assert not (folder / f"{n}.before-gitmodel").exists()
    for n in set(HOOKS) - set(mine):
        assert not (folder / n).exists()


def test_a_failing_user_pre_push_hook_still_stops_the_push(gm, repo: Path, tmp_path: Path) -> None:
    (hooks_dir(repo) / "pre-push").unlink()
    make_user_hook(repo, "pre-push", tmp_path / "log", exit_code=3)
    assert gm("install-hooks").code == 0
    upstream = tmp_path / "up.git"
    git("init", "-q", "--bare", str(upstream))
    git("remote", "add", "origin", str(upstream), cwd=repo)
    commit_with_hooks(repo, "init")
    proc = run_git(repo, "push", "-q", "origin", "main")
    assert proc.returncode != 0
    assert git("for-each-ref", cwd=upstream) == ""


def test_uninstall_leaves_a_hook_that_is_not_ours(gm, repo: Path) -> None:
    foreign = hooks_dir(repo) / "post-merge"
    foreign.write_text("#!/bin/sh\necho someone else's\n")
    r = gm("uninstall-hooks")
    assert r.code == 0, r
    assert "post-merge is not gitmodel's and was left alone" in r.out
    assert foreign.read_text() == "#!/bin/sh\necho someone else's\n"
    assert not (hooks_dir(repo) / "pre-push").exists()
    r = gm("uninstall-hooks")
    assert r.code == 0 and "no gitmodel hooks installed" in r.out, r


def test_two_foreign_hooks_of_one_name_are_refused_changing_nothing(gm, repo: Path) -> None:
    assert gm("uninstall-hooks").code == 0
    folder = hooks_dir(repo)
    (folder / "pre-commit").write_text("#!/bin/sh\nexit 0\n")
    (folder / "pre-commit.before-gitmodel").write_text("#!/bin/sh\nexit 0\n")
    before = sorted(p.name for p in folder.iterdir())
    r = gm("install-hooks")
    assert_one_line_error(r, "pre-commit.before-gitmodel", "gitmodel install-hooks")
    assert sorted(p.name for p in folder.iterdir()) == before


@pytest.mark.parametrize("where", ["relative", "absolute"])
def test_core_hooks_path_is_respected(gm, tmp_path: Path, where: str) -> None:
    root = make_repo(tmp_path / "r", init_gitmodel=False)
    shared = tmp_path / "shared-hooks"
    git("config", "core.hooksPath", "githooks" if where == "relative" else str(shared), cwd=root)
    assert gm("init", cwd=root).code == 0
    folder = root / "githooks" if where == "relative" else shared
    assert hooks_dir(root) == folder
    assert all("gitmodel-hook-shim" in (folder / n).read_text() for n in HOOKS)
    assert not any((root / ".git" / "hooks" / n).exists() for n in HOOKS)
    # And git runs them from there: a branch switch brings the file back.
    save(root, "m.bin", b"on main", "main")
    git("checkout", "-q", "-b", "b", cwd=root)
    save(root, "m.bin", b"on b", "b")
    git("checkout", "-q", "main", cwd=root)
    assert read(root, "m.bin") == b"on main"


def test_linked_worktree_shares_the_hooks_and_gets_its_files(gm, repo: Path, tmp_path: Path) -> None:
    write(repo, "m.bin", b"weights")
    write(repo, "d/a.txt", "a")
    gm_add(repo, "m.bin", "d")
    commit_with_hooks(repo, "track")
    wt = tmp_path / "wt"
    # `git worktree add` runs post-checkout in the new worktree: files come from the shared cache.
    git("worktree", "add", "-q", "-b", "feature", str(wt), cwd=repo)
    assert read(wt, "m.bin") == b"weights" and read(wt, "d/a.txt") == b"a"
    # Installing from the worktree writes to the hooks every worktree shares.
    assert hooks_dir(wt) == repo / ".git" / "hooks"
    r = gm("install-hooks", cwd=wt)
    assert r.code == 0 and "already installed" in r.out, r
    save(wt, "m.bin", b"feature weights", "feature")
    git("checkout", "-q", "--detach", "main", cwd=wt)
    assert read(wt, "m.bin") == b"weights"


def test_shim_falls_back_to_gitmodel_on_path(gm, repo: Path) -> None:
    """When the interpreter that installed the hooks is gone, the shim runs
    `gitmodel` from PATH (here: this virtualenv's console script)."""
    from gitmodel.git.hooks import render

    save(repo, "m.bin", b"one", "one")
    git("checkout", "-q", "-b", "b", cwd=repo)
    save(repo, "m.bin", b"two", "two")
    for name in HOOKS:
        (hooks_dir(repo) / name).write_text(render(name, "/nonexistent/python3"))
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    proc = run_git(repo, "checkout", "-q", "main", env={"PATH": path})
    assert proc.returncode == 0, proc.stderr
    assert read(repo, "m.bin") == b"one"
    # Without gitmodel anywhere, a post hook says so and git still succeeds.
    proc = run_git(repo, "checkout", "-q", "b", env={"PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    assert "cannot find gitmodel" in proc.stderr


def test_shipped_shims_are_the_top_level_hooks_and_valid_sh() -> None:
    from gitmodel.git import hooks

    for name in HOOKS:
        shipped = Path(hooks.__file__).parent / "hookscripts" / name
        assert shipped.read_bytes() == (TOP / "hooks" / name).read_bytes()
        assert os.access(TOP / "hooks" / name, os.X_OK)
        subprocess.run(["sh", "-n", str(shipped)], check=True)
        text = shipped.read_text()
        reads_stdin = "input=$(cat)" in text
        assert reads_stdin == (name in ("pre-push", "post-rewrite")), name


def test_pre_commit_framework_manifest() -> None:
    spec = yaml.safe_load((TOP / ".pre-commit-hooks.yaml").read_text())
    by_stage = {h["stages"][0]: h for h in spec}
    assert set(by_stage) == set(HOOKS)
    for stage, h in by_stage.items():
        assert h["entry"] == f"gitmodel hook {stage}"
        assert h["always_run"] is True and h["pass_filenames"] is False


def test_hook_under_the_pre_commit_framework_reads_its_environment(gm, repo: Path) -> None:
    """The framework passes no arguments, only PRE_COMMIT_* variables."""
    save(repo, "m.bin", b"one", "one")
    first = git("rev-parse", "HEAD", cwd=repo).strip()
    save(repo, "m.bin", b"two", "two")
    second = git("rev-parse", "HEAD", cwd=repo).strip()
    assert gm("uninstall-hooks").code == 0
    git("checkout", "-q", first, cwd=repo)
    assert read(repo, "m.bin") == b"two"  # no hook ran
    env = {"PRE_COMMIT_FROM_REF": second, "PRE_COMMIT_TO_REF": first, "PRE_COMMIT_CHECKOUT_TYPE": "1"}
    proc = subprocess.run([sys.executable, "-m", "gitmodel", "hook", "post-checkout"], cwd=repo,
                          capture_output=True, text=True, env={**os.environ, **env})
    assert proc.returncode == 0, proc.stderr
    assert read(repo, "m.bin") == b"one"
