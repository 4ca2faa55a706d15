#!/usr/bin/env python3
"""End-to-end demo of gitmodel's core: track a model and a dataset in a
throwaway Git repository, see status, lose the files, get them back.

Run with `python3 run.py demo` (builds .venv first). Prints every command
and its output."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile

GITMODEL = [sys.executable, "-m", "gitmodel"]


def sh(*args: str, cwd: str) -> None:
    shown = " ".join(shlex.quote(a) for a in args)
    print(f"\n$ {shown}", flush=True)
    cmd = [*GITMODEL, *args[1:]] if args[0] == "gitmodel" else list(args)
    proc = subprocess.run(cmd, cwd=cwd, text=True, capture_output=True)
    out = (proc.stdout + proc.stderr).rstrip()
    if out:
        print(out)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"demo step failed with exit code {proc.returncode}")


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="gitmodel-demo-") as tmp:
        repo = os.path.join(tmp, "project")
        os.makedirs(os.path.join(repo, "models"))
        os.makedirs(os.path.join(repo, "data", "images"))
        env_note = f"(a throwaway repository in {repo})"
        print(f"gitmodel demo {env_note}")
        for args in (["git", "init", "-q"], ["git", "config", "user.email", "demo@example.com"],
                     ["git", "config", "user.name", "Demo"]):
            subprocess.run(args, cwd=repo, check=True)
        # "Train": a model file and a small dataset of many files.
        with open(os.path.join(repo, "models", "clf.pkl"), "wb") as f:
            f.write(os.urandom(8 << 20))
        for i in range(500):
            with open(os.path.join(repo, "data", "images", f"img{i:04d}.bin"), "wb") as f:
                f.write(os.urandom(2048))
        sh("gitmodel", "init", cwd=repo)
        sh("gitmodel", "add", "models/clf.pkl", "data", cwd=repo)
        sh("cat", "models/clf.pkl.gm", cwd=repo)
        sh("git", "commit", "-qm", "Track model and data with gitmodel", cwd=repo)
        sh("git", "log", "--stat", "--format=%h %s", cwd=repo)
        sh("gitmodel", "status", cwd=repo)
        print("\n# change one image, delete the model:")
        with open(os.path.join(repo, "data", "images", "img0007.bin"), "ab") as f:
            f.write(b"edited")
        os.unlink(os.path.join(repo, "models", "clf.pkl"))
        sh("gitmodel", "status", cwd=repo)
        sh("gitmodel", "checkout", cwd=repo)
        sh("gitmodel", "checkout", "--force", "data", cwd=repo)
        sh("gitmodel", "status", "--json", cwd=repo)
    print("\ndemo finished: the repository above was temporary and is gone.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
