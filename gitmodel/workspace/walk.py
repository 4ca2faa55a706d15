"""Listing the files of a tracked directory, with their stats, fast.

One scandir pass; lstat per entry (scandir's own d_type saves the rest).
Symlinks are followed only to files of this work tree outside its control
space (`follow`); one that leads out, into .git or .gitmodel, or loops, is
refused with its name.  Our own temp files
(`.gm-tmp-*`, from an interrupted checkout) are skipped.
"""

from __future__ import annotations

import functools
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


def walk(root: str, top_abs: str, top_rel: str, git_dirs: tuple[str, str] | None = None
         ) -> dict[str, os.stat_result]:
    """{posix path relative to top: stat} for every regular file below top_abs.

    `root` is the repository root and `git_dirs` its git dir and common dir
    (for the symlink rule, `follow`; found with git on the first symlink when
    not given); `top_rel` names the directory in messages."""
    out: dict[str, os.stat_result] = {}
    real_root = os.path.realpath(root)

    def dirs() -> tuple[str, str]:  # only a walk that meets a symlink pays for the git call
        return git_dirs if git_dirs is not None else _git_dirs(real_root)

    # The folder itself may have been replaced by a symlink (or sit below
    # one) leading out of the repository or into its control files:
    # checkout would write there, status and add would read there.
    if os.path.realpath(top_abs) != os.path.join(real_root, *top_rel.split("/")):
        follow(top_abs, real_root, top_rel, dirs(), folder=True)
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
                    st = follow(entry.path, real_root, f"{top_rel}/{rel}", dirs())
                if stat.S_ISREG(st.st_mode):
                    out[rel] = st
    return out


@functools.lru_cache(maxsize=16)
def _git_dirs(root: str) -> tuple[str, str]:
    """(git dir, common dir) of the work tree at `root`, for a caller that
    has no Repo at hand: one git call per process and root."""
    from gitmodel.git import runner as gitops

    _, git_dir, common_dir = gitops.discover(root)
    return git_dir, common_dir


def follow(path: str, root: str, shown: str, git_dirs: tuple[str, str], *,
           folder: bool = False) -> os.stat_result:
    """The stat of what the symlink `path` leads to, when gitmodel may track
    it: a file (a folder too, when `folder`) of this work tree, outside its
    control space.  THE symlink rule, for a symlink inside a tracked folder
    and for one the user names.

    Judged by where it really leads, with the path rule (store/paths.py) on
    that place relative to the root: `data/c -> ../.git/config` or
    `-> ../.gitmodel/config.local.toml` would store a secret and push it.
    `git_dirs` is (git dir, common dir): both are refused wherever they are
    (a worktree, a `--separate-git-dir`), except the objects of gitmodel's
    cache in the common dir; anything outside the work tree is refused."""
    real = os.path.realpath(path)
    real_root = _real(root)
    git_dir, common_dir = git_dirs
    # A checkout in symlink mode links workspace files to cache objects,
    # which are stored content (named by their hash), not control files.
    if real.startswith(_real(os.path.join(common_dir, "gitmodel", "objects")) + os.sep):
        return _stat(path, shown, folder)
    why = paths.real_problem(real, real_root, (_real(git_dir), _real(common_dir)))
    if why is not None:
        hint = ("replace it with the file itself or remove it" if why == "outside the repository"
                else "gitmodel never follows a symlink there; remove it")
        raise PathError(f"{shown}: is a symlink to {real}, {why}", hint=hint)
    return _stat(path, shown, folder)


@functools.lru_cache(maxsize=64)
def _real(folder: str) -> str:
    """realpath of the repository's own folders (root, git dirs), once per
    process: a folder of symlinks would otherwise resolve them per entry."""
    return os.path.realpath(folder)


def _stat(path: str, shown: str, folder: bool) -> os.stat_result:
    try:
        st = os.stat(path)
    except OSError as e:
        raise PathError(f"{shown}: is a broken or looping symlink ({e.strerror})", hint="remove or fix it") from None
    if stat.S_ISDIR(st.st_mode) and not folder:
        raise PathError(f"{shown}: is a symlink to a folder, which gitmodel does not follow",
                        hint="replace it with the folder's contents or remove it")
    return st
