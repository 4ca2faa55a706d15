"""The .gitignore line that keeps a tracked file out of git: `/name` in the
.gitignore of the file's own folder, anchored so it matches nothing else."""

from __future__ import annotations

import posixpath

from gitmodel.platform import control


def _entry(name: str) -> str:
    # Escape git's glob and comment characters so the line matches exactly this name.
    out = "".join("\\" + c if c in "*?[]\\!#" else c for c in name)
    if out.endswith(" "):
        out = out[:-1] + "\\ "
    return "/" + out


def file_for(rel: str) -> str:
    """The .gitignore that holds the line for `rel` (repository-relative)."""
    return posixpath.join(posixpath.dirname(rel), ".gitignore")


def check(root: str, rel: str) -> None:
    """Refuse now, before a command's first write, the .gitignore that add
    or remove would edit for `rel` when it is a symlink or a folder."""
    control.exists(root, file_for(rel))


def add(root: str, rel: str) -> str | None:
    """Ensure the ignore line for `rel` exists; returns the .gitignore's
    relative path when it was changed."""
    gi = file_for(rel)
    name = posixpath.basename(rel)
    line = _entry(name)
    text = control.read_text(root, gi) or ""
    if line in text.splitlines():
        return None
    if text and not text.endswith("\n"):
        text += "\n"
    control.write(root, gi, (text + line + "\n").encode("utf-8"))
    return gi


def remove(root: str, rel: str) -> str | None:
    gi = file_for(rel)
    name = posixpath.basename(rel)
    text = control.read_text(root, gi)
    if text is None:
        return None
    lines = text.splitlines()
    line = _entry(name)
    if line not in lines:
        return None
    kept = [x for x in lines if x != line]
    control.write(root, gi, ("\n".join(kept) + "\n" if kept else "").encode("utf-8"))
    return gi
