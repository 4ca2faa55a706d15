"""Reading a file that a stranger may have put there (a pointer, a control
file, anything a clone brings): never through a symlink, never blocking.

O_NOFOLLOW makes the open itself refuse a symlink (ELOOP), with no window
between a check and the open; O_NONBLOCK makes a FIFO open at once instead
of waiting for a writer, and O_NOCTTY keeps a terminal device from becoming
ours.  What was opened is then judged by fstat before a byte is read: only
a regular file is read, anything else raises NotPlainError with its mode.
"""

from __future__ import annotations

import errno
import os
import stat

FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | getattr(os, "O_NOCTTY", 0)


class NotPlainError(OSError):
    """What is at the path is not a regular file (a folder, a FIFO, a device)."""

    def __init__(self, path: str, mode: int) -> None:
        super().__init__(errno.EINVAL, "not a regular file", path)
        self.mode = mode


def read_plain(path: str, limit: int | None = None) -> bytes:
    """The bytes of the regular file at `path` (at most `limit`).  Raises
    what os.open raises (FileNotFoundError; OSError ELOOP for a symlink)
    and NotPlainError for anything but a regular file."""
    fd = os.open(path, FLAGS)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise NotPlainError(path, mode)
        if limit is not None:
            return os.read(fd, limit)
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)
