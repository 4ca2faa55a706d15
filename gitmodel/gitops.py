"""The `git` command, where the user's own git behaviour matters (staging,
ignore rules, hooks, push).  In-process reads across many revisions live in
the modules that need them (pygit2), imported lazily."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable, Sequence

from .errors import GitError, NotARepositoryError

NOT_A_REPO = ("not a git repository (or any parent). Run `git init` first, "
              "or cd into a Git repository directory")


def run(args: Sequence[str], cwd: str | None = None, input: bytes | None = None,
        check: bool = True) -> subprocess.CompletedProcess[bytes]:
    try:
        proc = subprocess.run(["git", *args], cwd=cwd, input=input, capture_output=True)
    except FileNotFoundError:
        raise GitError("git failed. Is it installed, and on your PATH?") from None
    if check and proc.returncode != 0:
        msg = proc.stderr.decode(errors="replace").strip().splitlines()
        raise GitError(f"git {args[0]} failed: {msg[-1] if msg else 'exit ' + str(proc.returncode)}")
    return proc


def discover(cwd: str) -> tuple[str, str, str]:
    """(work tree root, git dir, git common dir) for `cwd`, all absolute."""
    try:
        proc = subprocess.run(
            ["git", "rev-parse", "--path-format=absolute", "--show-toplevel", "--git-dir", "--git-common-dir"],
            cwd=cwd, capture_output=True)
    except FileNotFoundError:
        raise GitError("git failed. Is it installed, and on your PATH?") from None
    except NotADirectoryError:
        raise NotARepositoryError(NOT_A_REPO) from None
    out = proc.stdout.decode().splitlines()
    if proc.returncode != 0 or len(out) != 3:
        raise NotARepositoryError(NOT_A_REPO)
    return out[0], out[1], out[2]


def tracked(root: str, paths: Iterable[str]) -> list[str]:
    """Which of `paths` (relative to root) git tracks, or holds files below."""
    paths = list(paths)
    if not paths:
        return []
    proc = run(["ls-files", "-z", "--cached", "--", *[f":(literal){p}" for p in paths]], cwd=root)
    return [p for p in proc.stdout.decode().split("\0") if p]


def list_files(root: str, pathspecs: Sequence[str], others: bool = True) -> list[str]:
    """Files git knows (and untracked ones it does not ignore) matching pathspecs."""
    args = ["ls-files", "-z", "--cached", "--deduplicate"]
    if others:
        args += ["--others", "--exclude-standard"]
    proc = run([*args, "--", *pathspecs], cwd=root)
    return [p for p in proc.stdout.decode().split("\0") if p]


def stage(root: str, paths: Sequence[str]) -> None:
    if paths:
        run(["add", "--", *[f":(literal){p}" for p in paths]], cwd=root)


def unstage_remove(root: str, paths: Sequence[str]) -> None:
    """`git rm --cached` for the paths git tracks (others are ignored)."""
    known = tracked(root, paths)
    if known:
        run(["rm", "--cached", "--quiet", "--", *[f":(literal){p}" for p in known]], cwd=root)


def config_set(root: str, key: str, value: str) -> None:
    run(["config", key, value], cwd=root)


def env_without_git_vars() -> dict[str, str]:
    """Environment for git calls from inside a hook, where GIT_DIR and friends
    point at the caller's repository."""
    return {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
