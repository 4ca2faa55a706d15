"""Listing the files of a tracked directory, with their stats, fast.

One scandir pass; lstat per entry (scandir's own d_type saves the rest).
Symlinks are followed only when they stay inside the repository; one that
leads out, or loops, is refused with its name.  Our own temp files
(`.gm-tmp-*`, from an interrupted checkout) are skipped.
"""

from __future__ import annotations

import os
import stat

from gitmodel.errors import PathError
from gitmodel.platform.atomic import TMP_PREFIX
from gitmodel.store import paths

BAD_NAME = "names holding a tab, a newline, or bytes that are not UTF-8 are not supported"


def bad_name(name: str) -> bool:
    """Names the formats cannot hold: a manifest line is tab-separated, a
    .gitignore entry is one line, and both are UTF-8 text."""
    if "\t" in name or "\n" in name:
        return True
    if name.isascii():
        return False
    try:
        name.encode("utf-8")  # os.fsdecode turns undecodable bytes into lone surrogates
    except UnicodeEncodeError:
        return True
    return False


def walk(root: str, top_abs: str, top_rel: str) -> dict[str, os.stat_result]:
    """{posix path relative to top: stat} for every regular file below top_abs.

    `root` is the repository root (for the symlink rule); `top_rel` names the
    directory in messages."""
    out: dict[str, os.stat_result] = {}
    real_root = os.path.realpath(root)
    # The folder itself may have been replaced by a symlink leading out of
    # the repository: checkout would write there, status would read there.
    real_top = os.path.realpath(top_abs)
    if not real_top.startswith(real_root + os.sep):
        raise PathError(f"{top_rel}: is a symlink to {real_top}, outside the repository",
                        hint=f"remove that symlink (and `gitmodel checkout {top_rel}` to restore the folder)")
    stack = [("", top_abs)]
    while stack:
        prefix, folder = stack.pop()
        try:
            it = os.scandir(folder)
        except PermissionError:
            raise PathError(f"{top_rel}/{prefix}: cannot read this folder (permission denied)",
                            hint="fix its permissions and run the command again") from None
        with it:
            for entry in it:
                name = entry.name
                rel = prefix + name
                if name == ".git":
                    # A nested repository's own files (a folder, or the `.git` file of a
                    # submodule or worktree): never data, skipped like git skips them.
                    continue
                if paths.is_dotgit(name):  # manifests refuse it (a file system may take it for .git)
                    raise PathError(f"{top_rel}/{rel}: a name that file systems fold into .git cannot be tracked",
                                    hint="rename it")
                if entry.is_dir(follow_symlinks=False):
                    if bad_name(name):
                        raise PathError(f"{top_rel}/{rel!r}: {BAD_NAME}", hint="rename the folder")
                    stack.append((rel + "/", entry.path))
                    continue
                if name.startswith(TMP_PREFIX):
                    continue
                if bad_name(name):
                    raise PathError(f"{top_rel}/{rel!r}: {BAD_NAME}", hint="rename the file")
                st = entry.stat(follow_symlinks=False)
                if stat.S_ISLNK(st.st_mode):
                    st = _follow(entry.path, real_root, f"{top_rel}/{rel}")
                    if st is None:
                        continue
                if stat.S_ISREG(st.st_mode):
                    out[rel] = st
    return out


def _follow(path: str, real_root: str, shown: str) -> os.stat_result:
    real = os.path.realpath(path)
    if real != real_root and not real.startswith(real_root + os.sep):
        raise PathError(f"{shown}: is a symlink to {real}, outside the repository",
                        hint="replace it with the file itself or remove it")
    try:
        st = os.stat(path)
    except OSError as e:
        raise PathError(f"{shown}: is a broken or looping symlink ({e.strerror})", hint="remove or fix it") from None
    if stat.S_ISDIR(st.st_mode):
        raise PathError(f"{shown}: is a symlink to a folder, which gitmodel does not follow",
                        hint="replace it with the folder's contents or remove it")
    return st
