"""Helpers shared by tests/test_hooks_*.py and tests/test_gitflow_*.py (no
tests of its own).

Every repository made by the `repo` fixture or `make_repo` has had
`gitmodel init` run in-process, so gitmodel's hooks are installed in it and
record this interpreter (sys.executable): the git commands below run them
for real, as subprocesses.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.conftest import Result, git
from tests.support.store import assert_one_line_error, cache_root, objects, oid_of  # noqa: F401 (re-exported)


def write(root: Path, rel: str, data: bytes | str) -> Path:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    if p.exists():
        os.chmod(p, 0o644)
    p.write_bytes(data.encode() if isinstance(data, str) else data)
    return p


def add(gm, root: Path, *paths: str) -> Result:
    r = gm("add", *paths, cwd=root)
    assert r.code == 0, r
    return r


def commit(root: Path, msg: str, *, check: bool = True) -> subprocess.CompletedProcess[str]:
    """`git add -A && git commit`, running the pre-commit hook."""
    git("add", "-A", cwd=root)
    proc = run_git(root, "commit", "-q", "-m", msg)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def run_git(root: Path, *args: str, env: dict[str, str] | None = None, input: str | None = None
            ) -> subprocess.CompletedProcess[str]:
    """A git command whose outcome (and hook output on stderr) the test inspects."""
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, input=input,
                          env={**os.environ, **(env or {})})


def read(root: Path, rel: str) -> bytes:
    return (root / rel).read_bytes()


def tree(root: Path, rel: str) -> dict[str, bytes]:
    """{path below rel: content} of a folder in the work tree."""
    base = root / rel
    return {str(p.relative_to(base)): p.read_bytes() for p in sorted(base.rglob("*")) if p.is_file()}


def hooks_dir(root: Path) -> Path:
    return Path(git("rev-parse", "--path-format=absolute", "--git-path", "hooks", cwd=root).strip())


def folder_objects(store: Path) -> set[str]:
    """Objects in a local-folder remote (same layout as the cache)."""
    base = store / "objects"
    if not base.is_dir():
        return set()
    return {f"{a.name}:{s.name}{f.name}" for a in base.iterdir() for s in a.iterdir() for f in s.iterdir()
            if not f.name.startswith(".gm-tmp-")}


def save(gm, root: Path, rel: str, data: bytes | str, msg: str) -> None:
    """Write a file, `gitmodel add` it and commit: one version of it."""
    write(root, rel, data)
    add(gm, root, rel)
    commit(root, msg)


def add_folder_remote(gm, root: Path, store: Path, name: str = "origin") -> None:
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
