"""Getting bytes and names onto the disk: fsync of a folder, one syncfs for
a batch, early writeback of a range being written.

The C library is reached through ctypes, loaded on first use: importing
ctypes costs start-up time that every command would pay, and most never
need syncfs or sync_file_range.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import ctypes

SYNC_FILE_RANGE_WRITE = 2

_libc: ctypes.CDLL | None = None


def libc() -> ctypes.CDLL:
    import ctypes

    global _libc
    if _libc is None:
        # The running program's own symbols, libc's among them: find_library
        # would spawn `ldconfig -p` to name the same library.
        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


def fsync_dir(folder: str | Path) -> None:
    """Make a rename in `folder` durable."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def syncfs(path: str | Path) -> None:
    """Flush everything dirty on the filesystem holding `path` in one call.

    One syncfs replaces thousands of per-file fsyncs when many small objects
    are written in a batch (the same trick as git's core.fsyncMethod=batch).
    """
    fd = os.open(path, os.O_RDONLY)
    try:
        try:
            fn = libc().syncfs
        except (AttributeError, OSError):  # not Linux: fall back to a global sync
            os.sync()
            return
        if fn(fd) != 0:
            os.sync()
    finally:
        os.close(fd)


def start_writeback(fd: int, offset: int, length: int) -> None:
    """Ask the kernel to start writing a range now, so the final fsync has
    little left to wait for (overlaps disk I/O with the copy)."""
    try:
        fn = libc().sync_file_range
    except (AttributeError, OSError):
        return
    import ctypes

    fn.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    fn(fd, offset, length, SYNC_FILE_RANGE_WRITE)
