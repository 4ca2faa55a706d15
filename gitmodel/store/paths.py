"""The one rule for a repository-relative path gitmodel may write or track.

Every path that reaches a write — what a user typed (Repo.relpath), a
pointer's own path in the work tree or in a commit, a manifest entry, a
model declaration, a snapshot in a tag message, a report's output — is
judged by `problem()` here, so that a class of hostile path is closed in one
place.  This is the syntax half: no file system access, no symlinks (the
Repo adds those: symlinked parents, nested repositories).

What it refuses, and why:
- empty, absolute, `.`/`..` components, `//`, backslashes, NUL: a path that
  could name something other than what it spells;
- a `.git` component at any depth, in any case, with the spellings other
  file systems fold into `.git` (trailing dots or spaces on NTFS, its short
  name `git~1`, the code points HFS+ ignores): writing there is writing git's
  own control files (hooks, config), which run code;
- `.gitmodel` as the first component: gitmodel's committed config;
- as the tracked name itself (`control=True`): git's committed control files
  (`.gitignore`, `.gitattributes`, `.gitmodules`), which gitmodel edits and
  git obeys; inside a tracked folder they are ordinary data.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

from gitmodel.errors import UnsafePathError

CONFIG_DIR = ".gitmodel"
GIT_CONTROL_FILES = frozenset({".gitignore", ".gitattributes", ".gitmodules"})
# Code points HFS+ drops when comparing names (git's is_hfs_dotgit skips the same).
_IGNORABLE = re.compile("[\u200c-\u200f\u202a-\u202e\u206a-\u206f\ufeff]")


def _folded(part: str) -> str:
    """What a case-insensitive, NTFS- or HFS-normalising file system sees."""
    part = _IGNORABLE.sub("", part).lower().rstrip(" .")
    return part


def is_dotgit(part: str) -> bool:
    # An ASCII name holds no code point HFS+ ignores, so it folds into .git
    # only if it spells "git" in some case: one test instead of a regex, for
    # every name of every walk.
    if part.isascii() and "git" not in part.lower():
        return False
    folded = _folded(part)
    return folded == ".git" or folded == "git~1"


def problem(rel: str, *, control: bool = False) -> str | None:
    """Why `rel` (posix, relative to the repository root) is unsafe, or None."""
    if not rel or rel.startswith("/") or "\\" in rel or "\0" in rel:
        return "not a plain relative path"
    parts = rel.split("/")
    for part in parts:
        if part in ("", ".", ".."):
            return "not a plain relative path"
        if is_dotgit(part):
            return "inside .git, git's own control files"
    if _folded(parts[0]) == CONFIG_DIR:
        return f"inside {CONFIG_DIR}/, gitmodel's own config"
    if control and _folded(parts[-1]) in GIT_CONTROL_FILES:
        return "one of git's control files"
    return None


def check(rel: str, where: str | None = None, *, control: bool = False) -> str:
    """`rel`, or PathError naming `where` (default: the path itself)."""
    why = problem(rel, control=control)
    if why is not None:
        raise UnsafePathError(f"{where or rel}: unsafe path {rel[:120]!r} ({why})",
                        hint="gitmodel never writes there; remove or rename it in the repository")
    return rel


def real_problem(real: str, root: str, control_dirs: Iterable[str]) -> str | None:
    """Why the place a symlink really leads to (`real`, a realpath) is not
    one gitmodel may read or write through, or None: outside the work tree
    `root`, inside git's own folders (`control_dirs`: the git dir and the
    common dir, wherever a worktree or `--separate-git-dir` put them), or on a
    path `problem()` refuses.  The rule for every symlink, named by a user or
    met in a tracked folder or in a repository (all paths realpath'd)."""
    for d in control_dirs:
        if real == d or real.startswith(d + os.sep):
            return "inside git's own control files"
    if real == root:
        return "the repository root"
    if not real.startswith(root + os.sep):
        return "outside the repository"
    return problem(os.path.relpath(real, root).replace(os.sep, "/"))
