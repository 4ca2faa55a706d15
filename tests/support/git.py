"""Real git repositories for tests: git commands (checked, or inspected),
commits with and without the hooks, bare upstreams, users' own hooks.

Every repository made by the `repo` fixture or `make_repo` has had
`gitmodel init` run in-process, so gitmodel's hooks are installed in it and
record this interpreter (sys.executable): `commit_with_hooks` and `run_git`
run them for real, as subprocesses.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from tests.support.cli import GM, Result, gm_run
from tests.support.files import write


def git(*args: str, cwd: str | os.PathLike[str] | None = None, check: bool = True,
        env: dict[str, str] | None = None, input: str | None = None) -> str:
    """A git command that must succeed (unless check=False); its stdout."""
    proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, input=input)
    if check and proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {proc.stderr}")
    return proc.stdout


def run_git(root: Path, *args: str, env: dict[str, str] | None = None, input: str | None = None
            ) -> subprocess.CompletedProcess[str]:
    """A git command whose outcome (and hook output on stderr) the test inspects."""
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, input=input,
                          env={**os.environ, **(env or {})})


def make_repo(path: Path, init_gitmodel: bool = True) -> Path:
    """A new git repository at `path`, with `gitmodel init` done unless told not to."""
    path.mkdir(parents=True, exist_ok=True)
    git("init", "-q", cwd=path)
    if init_gitmodel:
        r = gm_run(["init"], cwd=path)
        assert r.code == 0, r
    return path


def gm_add(root: Path, *paths: str) -> Result:
    """`gitmodel add PATHS` in-process in `root`; it must succeed."""
    r = gm_run(["add", *paths], cwd=root)
    assert r.code == 0, r
    return r


def commit_with_hooks(root: Path, msg: str, *, check: bool = True) -> subprocess.CompletedProcess[str]:
    """`git add -A && git commit`, running the pre-commit hook; the commit's
    process (its stderr carries the hook's output)."""
    git("add", "-A", cwd=root)
    proc = run_git(root, "commit", "-q", "-m", msg)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def commit_without_hooks(root: Path, message: str, tag: str | None = None, *, allow_empty: bool = True) -> str:
    """`git add -A && git commit --no-verify --allow-empty`, then an annotated
    `tag` if given; returns the commit id.  For tests that are not about the
    hooks (each hook is one more Python process per commit).  allow_empty=False:
    the commit must change something (git fails it, so the test does, if not)."""
    git("add", "-A", cwd=root)
    git("commit", "-q", "--no-verify", *(["--allow-empty"] if allow_empty else []), "-m", message, cwd=root)
    if tag:
        git("tag", "-a", tag, "-m", f"Registering {tag}", cwd=root)
    return git("rev-parse", "HEAD", cwd=root).strip()


def clone(src: Path, dest: Path) -> Path:
    """`git clone src dest` (pointers only: the clone's cache starts empty); dest."""
    git("clone", "-q", str(src), str(dest))
    return dest


def set_link(root: Path, mode: str) -> None:
    """Set the committed config's `link = "..."` line to `mode`; the config
    must have exactly one such line."""
    cfg = root / ".gitmodel" / "config.toml"
    text, n = re.subn(r'(?m)^link = ".*"$', f'link = "{mode}"', cfg.read_text())
    assert n == 1
    cfg.write_text(text)


def hooks_dir(root: Path) -> Path:
    return Path(git("rev-parse", "--path-format=absolute", "--git-path", "hooks", cwd=root).strip())


def save(root: Path, rel: str, data: bytes | str, msg: str) -> None:
    """Write a file, `gitmodel add` it and commit (hooks run): one version of it."""
    write(root, rel, data)
    gm_add(root, rel)
    commit_with_hooks(root, msg)


def add_folder_remote(gm: GM, root: Path, store: Path, name: str = "origin") -> None:
    """A local-folder gitmodel remote, made the default in the committed config."""
    r = gm("remote", "add", name, str(store), "--default", cwd=root)
    assert r.code == 0, r


def bare(tmp_path: Path, name: str = "upstream.git") -> Path:
    """A bare git repository on disk, the `origin` pushed to."""
    path = tmp_path / name
    git("init", "-q", "--bare", str(path))
    return path


def make_user_hook(root: Path, name: str, log: Path, *, exit_code: int = 0) -> Path:
    """A hook of the user's own that logs its arguments and stdin, one run a line."""
    folder = hooks_dir(root)
    folder.mkdir(parents=True, exist_ok=True)
    hook = folder / name
    hook.write_text(f"#!/bin/sh\nprintf '%s|%s|%s\\n' \"{name}\" \"$*\" \"$(cat | tr '\\n' ';')\" >> '{log}'\n"
                    f"exit {exit_code}\n")
    hook.chmod(0o755)
    return hook
