"""The .gitignore line that keeps a tracked file out of git: `/name` in the
.gitignore of the file's own folder, anchored so it matches nothing else."""

from __future__ import annotations

import os

from gitmodel.platform.atomic import write_atomic


def _entry(name: str) -> str:
    # Escape git's glob and comment characters so the line matches exactly this name.
    out = "".join("\\" + c if c in "*?[]\\!#" else c for c in name)
    if out.endswith(" "):
        out = out[:-1] + "\\ "
    return "/" + out


def add(root: str, rel: str) -> str | None:
    """Ensure the ignore line for `rel` exists; returns the .gitignore's
    relative path when it was changed."""
    folder, name = os.path.split(rel)
    path = os.path.join(root, folder, ".gitignore")
    line = _entry(name)
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        text = ""
    if line in text.splitlines():
        return None
    if text and not text.endswith("\n"):
        text += "\n"
    write_atomic(path, (text + line + "\n").encode("utf-8"))
    return os.path.join(folder, ".gitignore").replace(os.sep, "/")


def remove(root: str, rel: str) -> str | None:
    folder, name = os.path.split(rel)
    path = os.path.join(root, folder, ".gitignore")
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except FileNotFoundError:
        return None
    line = _entry(name)
    if line not in lines:
        return None
    kept = [x for x in lines if x != line]
    write_atomic(path, ("\n".join(kept) + "\n" if kept else "").encode("utf-8"))
    return os.path.join(folder, ".gitignore").replace(os.sep, "/")
