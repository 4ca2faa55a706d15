"""Control files: the files git and gitmodel obey, read and written only as
plain files of the work tree.

`.gitignore`, `.gitattributes`, the `.gitmodel/` folder and the config files
in it come with a clone, so a repository chooses what they are.  Followed
through a symlink, a committed `.gitignore -> ~/.aws/credentials` would have
`gitmodel add` read the secret and stage it as the new .gitignore, and a
`.gitmodel -> /elsewhere` would have `gitmodel init` write outside the work
tree.  Every reader and writer of these files goes through here: a symlink
(the file itself or a folder above it, from the repository root down) is
refused, never followed, and so is a folder where a file belongs or a file
where a folder belongs.  git itself reads in-tree .gitignore/.gitattributes
with O_NOFOLLOW since 2.32; this is the same rule for our own reads and
writes.

Paths are (root, rel): `rel` is posix, relative to `root`, and names the file
in messages.  Nothing above `root` is judged: the repository's own location
is the user's choice.
"""

from __future__ import annotations

import errno
import os
import stat

from gitmodel.errors import PathError, UnsafePathError
from gitmodel.platform.atomic import write_atomic
from gitmodel.platform.plain import NotPlainError, read_plain

SYMLINK = "is a symlink; gitmodel never reads or writes a control file through one"


def _symlink(shown: str, folder: bool = False) -> UnsafePathError:
    return UnsafePathError(f"{shown}: {SYMLINK}",
                           hint=f"replace it with a plain {'folder' if folder else 'file'} (or remove it) "
                                "and run the command again")


def _judge(shown: str, st: os.stat_result, folder: bool) -> None:
    """Refuse `st` unless it is what a control path must be (never a symlink)."""
    _judge_mode(shown, st.st_mode, folder)


def _judge_mode(shown: str, mode: int, folder: bool) -> None:
    if stat.S_ISLNK(mode):
        raise _symlink(shown, folder)
    if folder and not stat.S_ISDIR(mode):
        raise PathError(f"{shown}: is a file, not a folder", hint="remove or rename it and run the command again")
    if not folder and stat.S_ISDIR(mode):
        raise PathError(f"{shown}: is a folder, not a file", hint="remove or rename it and run the command again")
    if not folder and not stat.S_ISREG(mode):
        raise PathError(f"{shown}: is not a regular file", hint="remove it and run the command again")


def _lstat(path: str) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None


def _parents(root: str, rel: str) -> bool:
    """Whether every folder above `rel` exists, each a plain folder (else refused)."""
    parts = rel.split("/")[:-1]
    for i in range(len(parts)):
        shown = "/".join(parts[:i + 1])
        st = _lstat(os.path.join(root, shown))
        if st is None:
            return False
        _judge(shown, st, folder=True)
    return True


def is_dir(root: str, rel: str) -> bool:
    """Whether the control folder `rel` exists (False when missing; refused
    when it, or a folder above it, is a symlink or a file)."""
    return _present(root, rel, folder=True)


def _present(root: str, rel: str, folder: bool) -> bool:
    if not _parents(root, rel):
        return False
    st = _lstat(os.path.join(root, rel))
    if st is None:
        return False
    _judge(rel, st, folder=folder)
    return True


def ensure_dir(root: str, rel: str) -> None:
    """Create the control folder `rel` (and its parents) as plain folders."""
    parts = rel.split("/")
    for i in range(len(parts)):
        shown = "/".join(parts[:i + 1])
        path = os.path.join(root, shown)
        try:
            os.mkdir(path)
        except FileExistsError:
            st = _lstat(path)
            if st is not None:
                _judge(shown, st, folder=True)


def exists(root: str, rel: str) -> bool:
    """Whether the control file `rel` exists (refused when it is not a plain file)."""
    return _present(root, rel, folder=False)


def read(root: str, rel: str) -> bytes | None:
    """The bytes of control file `rel`, or None when it does not exist."""
    if not _parents(root, rel):
        return None
    try:
        return read_plain(os.path.join(root, rel))
    except (FileNotFoundError, NotADirectoryError):
        return None
    except NotPlainError as e:
        _judge_mode(rel, e.mode, folder=False)
        raise
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise _symlink(rel) from None
        raise


def read_text(root: str, rel: str) -> str | None:
    """Control file `rel` as UTF-8 text, or None when it does not exist."""
    data = read(root, rel)
    if data is None:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise PathError(f"{rel}: not UTF-8 text", hint="fix the file by hand") from None


def write(root: str, rel: str, data: bytes, mode: int = 0o644) -> None:
    """Replace control file `rel` with `data` (atomically, `mode` exactly);
    its folder must exist.  What is there must be a plain file or nothing: a
    symlink is refused, not replaced (the rename would not write through it,
    but silently swapping a committed symlink for a file hides the attack)."""
    if not _parents(root, rel):
        raise FileNotFoundError(errno.ENOENT, "no such folder", os.path.join(root, os.path.dirname(rel)))
    st = _lstat(os.path.join(root, rel))
    if st is not None:
        _judge(rel, st, folder=False)
    write_atomic(os.path.join(root, rel), data, mode)
