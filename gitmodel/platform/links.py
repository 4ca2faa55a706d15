"""Link modes: how checkout materialises a cache object in the workspace
(reflink, hardlink, symlink or copy), and how a workspace file is
recognised as linked into the cache or left half-written by a crash.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable

from gitmodel.platform import faults
from gitmodel.platform.atomic import SaveFile, tmp_name, unlink_quiet
from gitmodel.platform.copy import copy_file, copy_into, reflink


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


PLACE_BEFORE_RENAME = "fsutil:place-before-rename"  # the crash tests name it
LINK_MODES = ("reflink", "hardlink", "symlink", "copy")


class Placer:
    """Materialises cache objects in the workspace with one link mode,
    falling back towards copy, and remembering a fallback so that 20,000
    files on a filesystem without reflinks cost one failed clone, not 20,000.

    Each file appears under its name only when complete (temp + rename), so
    an interrupted checkout never leaves half a file under the user's name."""

    def __init__(self, link: str) -> None:
        self.link = link
        self._umask = _umask()
        self._faulty = faults.armed()

    def place(self, src: str, dst: str, executable: bool = False) -> str:
        """Returns the mode actually used."""
        tmp = tmp_name(os.path.dirname(dst))
        used = self.link
        if executable and used in ("hardlink", "symlink"):
            # A link shares the read-only object's mode (0444), so the file
            # would lose its executable bit and status would call it
            # modified forever: executables are copied (this file only).
            used = "copy"
        elif used in ("hardlink", "symlink") and _has_other_names(src):
            # The object's inode has a second name already (a folder remote
            # that hard-linked it, or another workspace file): linking it
            # here too would make one in-place write to this file change
            # every copy.  An inode gets at most two names, the cache's and
            # one more; gitmodel/remote/local.py keeps the same rule, so one
            # independent copy always survives (this file only).
            used = "copy"
        try:
            if used == "hardlink":
                try:
                    os.link(src, tmp)
                except OSError:
                    used = self.link = "copy"
            elif used == "symlink":
                os.symlink(src, tmp)
            elif used == "reflink" and not reflink(src, tmp):
                used = self.link = "copy"
            mode = 0o755 if executable else 0o644  # the umask applies, as in git's checkout
            if used == "copy":
                copy_file(src, tmp, mode)
            elif used == "reflink":
                os.chmod(tmp, mode & ~_umask())
            faults.point(PLACE_BEFORE_RENAME)
            os.replace(tmp, dst)
        except BaseException:
            unlink_quiet(tmp)
            raise
        return used


    def place_written(self, fill: Callable[[Callable[[bytes], object]], None], dst: str,
                      executable: bool = False) -> os.stat_result:
        """Write a file whose bytes `fill` produces (a chunked file rebuilt
        from its chunks: in any link mode a plain file, as there is no whole
        copy to link to).  It gets its name only once `fill` has returned,
        which is when the rebuild is verified."""
        mode = (0o755 if executable else 0o644) & ~self._umask
        with SaveFile(os.path.dirname(dst), mode, durable=False, umask=True) as f:
            fill(f.write)
            f.commit(dst, fault=PLACE_BEFORE_RENAME)
        return os.stat(dst)

    def place_bytes(self, data: bytes | memoryview, dst: str, executable: bool = False) -> os.stat_result:
        """Write a packed object's bytes as a new file (in any link mode: a
        pack cannot be linked to, and its objects are small); returns its stat.

        Where nothing stands at `dst` the file is created under its own name
        (a temp file and a rename would double the directory updates, the
        cost of a 20,000-file checkout).  It carries no permission bits until
        its bytes are in, so a file a crash left half-written is recognisable
        (`is_unfinished`) and a rerun replaces it.  An existing file is
        replaced atomically (temp + rename), never truncated."""
        mode = (0o755 if executable else 0o644) & ~self._umask  # the umask applies, as in git's checkout
        try:
            fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, UNFINISHED)
        except FileExistsError:
            with SaveFile(os.path.dirname(dst), mode, durable=False, umask=True) as f:
                f.write(data)
                f.commit(dst, fault=PLACE_BEFORE_RENAME)
            return os.stat(dst)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            if self._faulty:
                faults.point(PLACE_BEFORE_RENAME)
            os.fchmod(fd, mode)
            st = os.fstat(fd)
        except BaseException:
            os.close(fd)
            unlink_quiet(dst)
            raise
        os.close(fd)
        return st


def _has_other_names(path: str) -> bool:
    try:
        return os.stat(path).st_nlink > 1
    except OSError:
        return False  # the link itself will say what is wrong


UNFINISHED = 0  # the mode of a file placed under its own name until its bytes are in


def is_unfinished(st: os.stat_result) -> bool:
    """A regular file with no permission bits: one our checkout was writing
    when it was interrupted (users do not keep data files at mode 000)."""
    return stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == UNFINISHED


def is_linked_to(path: str, st: os.stat_result, cache_root: str) -> bool:
    """True when a workspace file shares its inode with, or points into, the cache."""
    if stat.S_ISLNK(st.st_mode):
        return os.path.realpath(path).startswith(os.path.realpath(cache_root) + os.sep)
    return st.st_nlink > 1 and not (st.st_mode & 0o222)


def make_writable_copy(path: str) -> None:
    """Replace a hard/sym-linked file with an independent writable copy."""
    with SaveFile(os.path.dirname(path), 0o644 | (os.stat(path).st_mode & 0o111), durable=False) as f:
        copy_into(os.path.realpath(path), f.fd)
        f.commit(path)
