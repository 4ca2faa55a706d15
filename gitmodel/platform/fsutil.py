"""The platform layer: every write gitmodel makes to disk goes through here.

Atomicity lives in one place (borg's SaveFile idea): content is written to a
temporary file in the destination's own folder, flushed, then renamed over
the final name, so a crash leaves either the old file or the new one, never
half of one.  Temporary names start with `.gm-tmp-` so that gc and fsck can
recognise leftovers.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import ctypes

from gitmodel.platform import faults

TMP_PREFIX = ".gm-tmp-"
COPY_CHUNK = 32 << 20  # large enough that per-call overhead vanishes, small enough to pipeline
FICLONE = 0x40049409  # linux/fs.h: _IOW(0x94, 9, int)
SYNC_FILE_RANGE_WRITE = 2

_libc: ctypes.CDLL | None = None


def _c() -> ctypes.CDLL:
    # ctypes is imported on first use: it costs start-up time every command would pay.
    import ctypes

    global _libc
    if _libc is None:
        # The running program's own symbols, libc's among them: find_library
        # would spawn `ldconfig -p` to name the same library.
        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


def tmp_name(folder: str | Path) -> str:
    return os.path.join(folder, f"{TMP_PREFIX}{os.getpid()}-{os.urandom(6).hex()}")


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
            fn = _c().syncfs
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
        fn = _c().sync_file_range
    except (AttributeError, OSError):
        return
    import ctypes

    fn.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    fn(fd, offset, length, SYNC_FILE_RANGE_WRITE)


def write_atomic(path: str | Path, data: bytes, mode: int = 0o644, durable: bool = True) -> None:
    """Replace `path` with `data` atomically (temp file, fsync, rename)."""
    path = os.fspath(path)
    folder = os.path.dirname(path) or "."
    tmp = tmp_name(folder)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        try:
            view = memoryview(data)
            while view:
                n = os.write(fd, view)
                view = view[n:]
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.chmod(tmp, mode)  # the umask must not loosen or tighten what we asked for
        faults.point("fsutil:before-rename")
        os.replace(tmp, path)
    except BaseException:
        unlink_quiet(tmp)
        raise
    if durable:
        fsync_dir(folder)


def unlink_quiet(path: str) -> None:
    """Remove a temp file of ours that may already be gone."""
    try:
        os.unlink(path)
    except OSError:
        pass


def write_new(path: str, data: bytes | memoryview, mode: int = 0o444, durable: bool = False) -> None:
    """Write `data` to a new file (never an existing one); on failure the
    partial file is removed.  `durable`: fsync before returning."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        if durable:
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        unlink_quiet(path)
        raise
    os.close(fd)


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
    sfd = os.open(src, os.O_RDONLY)
    try:
        # Small files: one read and one write beat copy_file_range's setup.
        data = os.read(sfd, SMALL_COPY)
        dfd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        try:
            if len(data) < SMALL_COPY:
                view = memoryview(data)
                while view:
                    view = view[os.write(dfd, view):]
            else:
                copy_fd(sfd, dfd, os.fstat(sfd).st_size)
        finally:
            os.close(dfd)
    finally:
        os.close(sfd)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


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
            faults.point("fsutil:place-before-rename")
            os.replace(tmp, dst)
        except BaseException:
            unlink_quiet(tmp)
            raise
        return used


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
            tmp = tmp_name(os.path.dirname(dst))
            try:
                write_new(tmp, data, mode)
                faults.point("fsutil:place-before-rename")
                os.replace(tmp, dst)
            except BaseException:
                unlink_quiet(tmp)
                raise
            return os.stat(dst)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            if self._faulty:
                faults.point("fsutil:place-before-rename")
            os.fchmod(fd, mode)
            st = os.fstat(fd)
        except BaseException:
            os.close(fd)
            unlink_quiet(dst)
            raise
        os.close(fd)
        return st


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
    folder = os.path.dirname(path)
    tmp = tmp_name(folder)
    try:
        copy_file(os.path.realpath(path), tmp)
        os.chmod(tmp, 0o644 | (os.stat(path).st_mode & 0o111))
        os.replace(tmp, path)
    except BaseException:
        unlink_quiet(tmp)
        raise
