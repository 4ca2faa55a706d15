"""The console scripts: `gitmodel --help`, and `git model ...` through the
git-model entry point (git runs `git-model` from PATH)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent  # the venv's bin, where the console scripts are
CORE = ("init", "add", "status", "checkout", "remove", "unprotect")


def run(*args: str, cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", **env}
    environ.pop("MANPATH", None)  # let man derive it from PATH, as on a user's machine
    return subprocess.run(list(args), cwd=cwd, capture_output=True, text=True, env=environ, timeout=60)


def test_gitmodel_help() -> None:
    r = run(str(BIN / "gitmodel"), "--help")
    assert r.returncode == 0, r
    assert r.stdout.startswith("Usage: gitmodel")
    for cmd in CORE:
        assert f"  {cmd} " in r.stdout
    for cmd in CORE:
        sub = run(str(BIN / "gitmodel"), cmd, "--help")
        assert sub.returncode == 0 and f"Usage: gitmodel {cmd}" in sub.stdout, sub


def test_gitmodel_without_arguments_shows_help() -> None:
    r = run(str(BIN / "gitmodel"))
    assert "Usage: gitmodel" in r.stdout + r.stderr


def test_git_model_runs_the_same_cli(repo: Path) -> None:
    assert (BIN / "git-model").is_file()
    (repo / "m.bin").write_bytes(b"weights")
    r = run("git", "model", "add", "m.bin", cwd=repo)
    assert r.returncode == 0 and "added m.bin" in r.stdout, r
    via_git = run("git", "model", "status", "--json", cwd=repo)
    direct = run(str(BIN / "gitmodel"), "status", "--json", cwd=repo)
    assert via_git.returncode == 0 and via_git.stdout == direct.stdout, (via_git, direct)
    short = run("git", "model", "-h", cwd=repo)  # git passes -h through to the command
    assert short.returncode == 0 and short.stdout == run(str(BIN / "gitmodel"), "--help").stdout
    # Errors keep their one line and exit code through git.
    bad = run("git", "model", "add", "nope", cwd=repo)
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1 and "nope" in bad.stderr, bad


@pytest.mark.skipif(shutil.which("man") is None, reason="`git model --help` shows a man page; no `man` here")
def test_git_model_help_shows_the_man_page(tmp_path: Path) -> None:
    """git turns `git model --help` into `man git-model`: the page installed
    beside the console scripts (share/man/man1) must answer it."""
    page = BIN.parent / "share" / "man" / "man1" / "git-model.1"
    assert page.is_file(), f"{page} is not installed; run `python3 run.py test` (it installs the man page)"
    r = run("git", "model", "--help", cwd=tmp_path, MANPAGER="cat", PAGER="cat", MANWIDTH="100")
    assert r.returncode == 0, r
    text = re.sub(".\b", "", r.stdout).replace("\u2010", "-")  # no overstrike bold, plain hyphens
    assert "git-model" in text and "gitmodel --help" in text
    for cmd in CORE:
        assert cmd in text


def test_python_dash_m() -> None:
    r = subprocess.run([sys.executable, "-m", "gitmodel", "--help"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "Usage: gitmodel" in r.stdout
