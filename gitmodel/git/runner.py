"""The `git` command, where the user's own git behaviour matters (staging,
ignore rules, hooks, push).  In-process reads across many revisions live in
the modules that need them (pygit2), imported lazily."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterable, Mapping, Sequence

from gitmodel.errors import GitError, NotARepositoryError

NOT_A_REPO = ("not a git repository (or any parent). Run `git init` first, "
              "or cd into a Git repository directory")


class GitTimeoutError(GitError):
    """git did not finish within the time the caller allowed (it was stopped)."""


def run(args: Sequence[str], cwd: str | None = None, input: bytes | None = None, check: bool = True,
        env: Mapping[str, str] | None = None, timeout: float | None = None) -> subprocess.CompletedProcess[bytes]:
    """`git *args`, its output captured.  `env`: git's whole environment
    (None: ours).  `timeout`: seconds before git is stopped and
    GitTimeoutError raised (a remote that does not answer).  `check`: a
    non-zero exit raises GitError with what git said."""
    try:
        child = subprocess.Popen(["git", *args], cwd=cwd, stdin=subprocess.PIPE if input is not None else None,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    except FileNotFoundError:
        raise GitError("git failed. Is it installed, and on your PATH?") from None
    try:
        out, err = child.communicate(input, timeout=timeout)
    except subprocess.TimeoutExpired:
        # Only a wait for the network times out (ls-remote, clone): nothing
        # of git's own state is half-written, so it is stopped at once.
        child.kill()
        try:
            child.communicate(timeout=1)
        except subprocess.TimeoutExpired:
            # A process git started (ssh, a credential helper) still holds
            # the pipes: not waited for, it ends when it writes to them.
            for pipe in (child.stdout, child.stderr):
                if pipe is not None:
                    pipe.close()
            child.wait()
        raise GitTimeoutError(f"git {args[0]} did not finish within {timeout:g} s") from None
    except KeyboardInterrupt:
        # Let git finish, or clean up after its own Ctrl-C: killing it (what
        # subprocess.run does) can leave .git/index.lock or config.lock
        # behind, and every later git command, ours included, fails on them.
        # A second Ctrl-C kills it.
        try:
            child.communicate()
        except KeyboardInterrupt:
            child.kill()
            child.wait()
        raise
    proc = subprocess.CompletedProcess(child.args, child.returncode, out, err)
    if check and proc.returncode != 0:
        # Everything git said except its `hint:` lines, on one line (it may
        # say what happened on one line and name the paths on the next ones).
        msg = " ".join(line.strip() for line in proc.stderr.decode(errors="replace").splitlines()
                       if line.strip() and not line.startswith("hint:"))
        if len(msg) > 300:
            msg = msg[:297] + "..."
        raise GitError(f"git {args[0]} failed: {msg or 'exit ' + str(proc.returncode)}")
    return proc


def discover(cwd: str) -> tuple[str, str, str]:
    """(work tree root, git dir, git common dir) for `cwd`, all absolute."""
    try:
        proc = run(["rev-parse", "--path-format=absolute", "--show-toplevel", "--git-dir", "--git-common-dir"],
                   cwd=cwd, check=False)
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


def ignored(root: str, paths: Sequence[str]) -> list[tuple[str, str]]:
    """[(path, "source:line: pattern")] for those of `paths` git's ignore rules exclude."""
    if not paths:
        return []
    proc = run(["check-ignore", "-v", "-z", "--stdin"], cwd=root, input="\0".join(paths).encode() + b"\0",
               check=False)
    if proc.returncode not in (0, 1):
        raise GitError(f"git check-ignore failed: {proc.stderr.decode(errors='replace').strip()[:200]}")
    f = proc.stdout.decode(errors="replace").split("\0")
    # With -v a path matching a `!pattern` is listed too, though it is not ignored.
    return [(f[i + 3], f"{f[i]}:{f[i + 1]}: {f[i + 2]}") for i in range(0, len(f) - 3, 4)
            if not f[i + 2].startswith("!")]


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
