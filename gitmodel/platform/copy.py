"""Copies: in-kernel (copy_file_range) where the filesystem allows, reflinks
(copy-on-write clones), and plain copies to a new file.

A buffered copy is the fallback only for the errnos that mean "not here"
(another filesystem, an old kernel): a real I/O error is raised, never
swallowed into a slower path that would hide it.
"""

from __future__ import annotations

import errno
import fcntl
import os
from collections.abc import Callable

from gitmodel.platform.atomic import libc, tmp_name, unlink_quiet

COPY_CHUNK = 32 << 20  # large enough that per-call overhead vanishes, small enough to pipeline
FICLONE = 0x40049409  # linux/fs.h: _IOW(0x94, 9, int)
SYNC_FILE_RANGE_WRITE = 2


_NO_KERNEL_COPY = (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.EPERM)


def _copy_step(src: int, dst: int, offset: int, want: int) -> int:
    """Copy up to `want` bytes at `offset` of `src` to the same place in
    `dst`, in the kernel (copy_file_range) where it can, else through a
    buffer; returns how many (0 at `src`'s end)."""
    try:
        return os.copy_file_range(src, dst, want, offset, offset)
    except AttributeError:  # not Linux
        pass
    except OSError as e:  # another filesystem, an old kernel
        if e.errno not in _NO_KERNEL_COPY:
            raise
    data = os.pread(src, min(want, COPY_CHUNK), offset)
    done = 0
    while done < len(data):
        done += os.pwrite(dst, data[done:], offset + done)
    return len(data)


def copy_fd(src: int, dst: int, size: int, on_chunk: Callable[[int, int], None] | None = None,
            chunk: int = COPY_CHUNK) -> int:
    """Copy `size` bytes from `src` to `dst`, calling `on_chunk(offset,
    length)` after each chunk (of up to `chunk` bytes) lands in `dst`.
    Returns the number of bytes copied (stops early at EOF)."""
    offset = 0
    while offset < size:
        n = _copy_step(src, dst, offset, min(chunk, size - offset))
        if n == 0:
            break
        if on_chunk is not None:
            on_chunk(offset, n)
        offset += n
    return offset


def copy_range(src: int, dst: int, offset: int, length: int) -> None:
    """Copy bytes [offset, offset + length) of `src` to the same place in
    `dst` (a chunk that already landed in a file being written, passed on
    to a second file)."""
    end = offset + length
    while offset < end:
        n = _copy_step(src, dst, offset, end - offset)
        if n == 0:
            raise OSError(errno.EIO, f"copy_range: {length} bytes from offset {offset} are not there")
        offset += n


def can_clone(src_folder: str, dst_folder: str) -> bool:
    """Whether a file in `src_folder` can be reflinked into `dst_folder`
    (probed with an empty temp file: costs two creates, no data)."""
    probe = tmp_name(src_folder)
    try:
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError:
        return False
    try:
        dst = tmp_name(dst_folder)
        if reflink(probe, dst):
            unlink_quiet(dst)
            return True
        return False
    finally:
        unlink_quiet(probe)


def reflink(src: str, dst: str) -> bool:
    """Try a copy-on-write clone; False where the filesystem cannot."""
    try:
        sfd = os.open(src, os.O_RDONLY)
    except OSError:
        return False
    try:
        dfd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            fcntl.ioctl(dfd, FICLONE, sfd)
            return True
        except OSError:
            os.close(dfd)
            dfd = -1
            unlink_quiet(dst)
            return False
        finally:
            if dfd >= 0:
                os.close(dfd)
    finally:
        os.close(sfd)


SMALL_COPY = 1 << 20


def copy_file(src: str, dst: str, mode: int = 0o644) -> None:
    """Plain copy to a new file `dst` (which must not exist)."""
    dfd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        copy_into(src, dfd)
    finally:
        os.close(dfd)


def copy_into(src: str, dfd: int) -> None:
    """The whole file `src`, written to the open file `dfd`."""
    sfd = os.open(src, os.O_RDONLY)
    try:
        # Small files: one read and one write beat copy_file_range's setup.
        data = os.read(sfd, SMALL_COPY)
        if len(data) < SMALL_COPY:
            view = memoryview(data)
            while view:
                view = view[os.write(dfd, view):]
        else:
            copy_fd(sfd, dfd, os.fstat(sfd).st_size)
    finally:
        os.close(sfd)


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
