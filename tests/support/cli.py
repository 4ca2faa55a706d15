"""Running the gitmodel CLI from tests: in-process (fast), as a real
subprocess (for kills, locks, hooks, resource limits), and judging a
refusal."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

GITMODEL = [sys.executable, "-m", "gitmodel"]


@dataclass
class Result:
    code: int
    out: str
    err: str

    def __repr__(self) -> str:
        return f"Result(code={self.code}, out={self.out!r}, err={self.err!r})"


# The type of the `gm` fixture: gm("add", "x", cwd=...) -> Result.
GM = Callable[..., Result]


def gm_run(args: list[str], cwd: str | os.PathLike[str] | None = None) -> Result:
    """Run the CLI in-process (same code path as the console script)."""
    from gitmodel.cli import main

    out, err = io.StringIO(), io.StringIO()
    old = os.getcwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(args))
    finally:
        os.chdir(old)
    return Result(code, out.getvalue(), err.getvalue())


def gm_proc(*args: str, cwd: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None,
            timeout: float = 120) -> Result:
    """Run the CLI as a real subprocess (for kills, locks, hooks)."""
    proc = subprocess.run([*GITMODEL, *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=timeout)
    return Result(proc.returncode, proc.stdout, proc.stderr)


def run_cli(args: list[str], cwd: Path, env: dict[str, str] | None = None, preexec: object = None,
            timeout: float = 120) -> Result:
    """The CLI as a real subprocess, with an optional preexec_fn (resource
    limits, dropped capabilities)."""
    kwargs: dict[str, object] = {}
    if preexec is not None:
        kwargs["preexec_fn"] = preexec
    proc = subprocess.run([*GITMODEL, *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=timeout, **kwargs)  # type: ignore[call-overload]
    return Result(proc.returncode, proc.stdout, proc.stderr)


def without_permission_override() -> None:
    """preexec_fn: drop CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from the
    child's bounding set, so that root obeys permission bits after exec (a
    chmod 000 file is then unreadable, as it is for everyone else), while
    staying root for everything else (HOME, git's ownership checks)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH (linux/capability.h)
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def assert_one_line_error(r: Result, *needles: str, code: int = 1) -> str:
    """An expected failure: the exit code, exactly one line on stderr, no traceback."""
    assert r.code == code, r
    lines = r.err.strip().splitlines()
    assert len(lines) == 1, r
    assert "Traceback" not in r.err and "Traceback" not in r.out, r
    for needle in needles:
        assert needle in lines[0], (needle, r)
    return lines[0]


def write_figures(request: Any, line: str) -> None:
    """Print a suite's figures line (cases tried, per kind) at the end of its
    module's run, past pytest's capture: what a closing note quotes."""
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        with capture.global_and_fixture_disabled():
            reporter.write_line("")
            reporter.write_line(line)
