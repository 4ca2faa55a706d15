#!/usr/bin/env python3
"""Set-up in one command: builds .venv from this repository's own files, then
runs a job in it.

    python3 run.py demo        install gitmodel and run the end-to-end demo
    python3 run.py test        install the test dependencies, then lint (ruff), type checks
                               (mypy --strict), layer contracts (import-linter) and every test
    python3 run.py test ARGS   the tests only, with pytest ARGS (e.g. -k status -x)
    python3 run.py bench [...] run the benchmark suite (bench/README.md)

Needs only Python 3.11+ and git.  The venv is rebuilt when pyproject.toml changes.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv

HERE = os.path.dirname(os.path.abspath(__file__))
VENV = os.path.join(HERE, ".venv")
BIN = os.path.join(VENV, "bin")


def ensure_venv(extra: str) -> None:
    with open(os.path.join(HERE, "pyproject.toml"), "rb") as f:
        stamp = hashlib.sha256(f.read() + extra.encode()).hexdigest()
    stamp_file = os.path.join(VENV, ".gitmodel-stamp")
    try:
        with open(stamp_file) as f:
            if stamp in f.read().split():
                return
    except FileNotFoundError:
        pass
    if not os.path.isdir(BIN):
        print("creating .venv ...", flush=True)
        venv.create(VENV, with_pip=True)
    spec = f".[{extra}]" if extra else "."
    print(f"installing gitmodel{f'[{extra}]' if extra else ''} into .venv ...", flush=True)
    subprocess.run([os.path.join(BIN, "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
                    "-e", spec], cwd=HERE, check=True)
    # An editable install skips data-files: put the man page where `git model --help` finds it.
    man1 = os.path.join(VENV, "share", "man", "man1")
    os.makedirs(man1, exist_ok=True)
    shutil.copyfile(os.path.join(HERE, "docs", "man", "git-model.1"), os.path.join(man1, "git-model.1"))
    with open(stamp_file, "a") as f:
        f.write(stamp + "\n")


STATIC_CHECKS = [
    ("ruff", [os.path.join(BIN, "ruff"), "check", "--quiet", "."]),
    ("mypy", [os.path.join(BIN, "python"), "-m", "mypy"]),  # files and strictness: [tool.mypy]
    ("import-linter", [os.path.join(BIN, "lint-imports"), "--no-cache"]),
]


def _check(name: str, argv: list[str]) -> bool:
    print(f"{name} ...", flush=True)
    ok = subprocess.call(argv, cwd=HERE) == 0
    print(f"{name}: {'ok' if ok else 'FAILED'}", flush=True)
    return ok


def main(argv: list[str]) -> int:
    job = argv[0] if argv else "demo"
    rest = argv[1:]
    if job == "demo":
        ensure_venv("demo")
        return subprocess.call([os.path.join(BIN, "python"), os.path.join(HERE, "examples", "demo.py"), *rest])
    if job == "test":
        ensure_venv("test")
        # With no pytest arguments this is the whole gate CI runs: the static
        # checks first (seconds), then every test, which runs even when a check
        # failed so that one run shows everything wrong.
        failed = [] if rest else [name for name, argv in STATIC_CHECKS if not _check(name, argv)]
        code = subprocess.call([os.path.join(BIN, "python"), "-m", "pytest", *rest], cwd=HERE)
        if failed:
            print(f"static checks failed: {', '.join(failed)}", file=sys.stderr)
        return code or (1 if failed else 0)
    if job == "bench":
        ensure_venv("test")
        return subprocess.call([os.path.join(BIN, "python"), os.path.join(HERE, "bench", "run.py"), *rest], cwd=HERE)
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
