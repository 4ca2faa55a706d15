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
from collections.abc import Callable
from dataclasses import dataclass, field

from gitmodel.errors import PathError
from gitmodel.platform.atomic import TMP_PREFIX
from gitmodel.store import paths
from gitmodel.store.manifest import MAX_DEPTH
from gitmodel.store.statcache import folder_signature

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
    lister = _Lister(root, top_abs, top_rel, git_dirs)
    stack = [("", top_abs)]
    while stack:
        prefix, folder = stack.pop()
        files, subfolders = lister.list(prefix, folder)
        for name, st in files.items():
            out[prefix + name] = st
        stack += [(f"{prefix}{name}/", path) for name, path in subfolders]
    return out


@dataclass(slots=True)
class Folder:
    """A walked folder, without an object per file: what status and add
    need to skip a subfolder whose every file has the stat it had when it
    was last found to match its tree (StatCache.dir_is_clean)."""
    path: str  # absolute
    sig: str | None  # StatCache.folder_signature of everything below it; None while any file is racy
    files: int  # regular files below it
    size: int  # their bytes
    children: dict[str, Folder] = field(default_factory=dict)


def scan(root: str, top_abs: str, top_rel: str, git_dirs: tuple[str, str] | None = None,
         check: Callable[[str, str, dict[str, os.stat_result]], None] | None = None) -> Folder:
    """The folders below top_abs, each with the signature of what is below
    it, walked by the rules `walk` follows; memory follows the folder count,
    not the file count (one folder's stats at a time).  `check(prefix,
    folder path, files)` sees each folder's own files as they are listed."""
    lister = _Lister(root, top_abs, top_rel, git_dirs)

    def visit(prefix: str, folder: str, depth: int) -> Folder:
        if depth > MAX_DEPTH:
            raise PathError(f"{top_rel}/{prefix}: folders nest deeper than {MAX_DEPTH} levels",
                            hint="gitmodel tracks at most that many levels")
        files, subfolders = lister.list(prefix, folder)
        if check is not None:
            check(prefix, folder, files)
        children = {name: visit(f"{prefix}{name}/", path, depth + 1) for name, path in subfolders}
        return Folder(folder, folder_signature(files, [(n, c.sig) for n, c in children.items()]),
                      len(files) + sum(c.files for c in children.values()),
                      sum(st.st_size for st in files.values()) + sum(c.size for c in children.values()),
                      children)

    return visit("", top_abs, 0)


def list_files(root: str, folder_abs: str, shown: str, git_dirs: tuple[str, str] | None = None
               ) -> dict[str, os.stat_result]:
    """One folder's own regular files {name: stat}, by the rules `walk` follows."""
    return _Lister(root, folder_abs, shown, git_dirs).list("", folder_abs)[0]


class _Lister:
    """THE rules of a walk, one folder at a time: `.git` skipped, names the
    formats cannot hold refused, symlinks judged by `follow`, our temp files
    skipped, regular files only."""

    def __init__(self, root: str, top_abs: str, top_rel: str, git_dirs: tuple[str, str] | None) -> None:
        self.root = os.path.realpath(root)
        self.top_rel = top_rel
        self._git_dirs = git_dirs
        # The folder itself may have been replaced by a symlink (or sit below
        # one) leading out of the repository or into its control files:
        # checkout would write there, status and add would read there.
        if os.path.realpath(top_abs) != os.path.join(self.root, *top_rel.split("/")):
            follow(top_abs, self.root, top_rel, self.dirs(), folder=True)

    def dirs(self) -> tuple[str, str]:  # only a walk that meets a symlink pays for the git call
        return self._git_dirs if self._git_dirs is not None else _git_dirs(self.root)

    def list(self, prefix: str, folder: str) -> tuple[dict[str, os.stat_result], list[tuple[str, str]]]:
        top_rel = self.top_rel
        files: dict[str, os.stat_result] = {}
        subfolders: list[tuple[str, str]] = []
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
                    subfolders.append((name, entry.path))
                    continue
                if name.startswith(TMP_PREFIX):
                    continue
                if bad_name(name):
                    raise PathError(f"{top_rel}/{rel!r}: {BAD_NAME}", hint="rename the file")
                st = entry.stat(follow_symlinks=False)
                if stat.S_ISLNK(st.st_mode):
                    st = follow(entry.path, self.root, f"{top_rel}/{rel}", self.dirs())
                if stat.S_ISREG(st.st_mode):
                    files[name] = st
        return files, subfolders


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
