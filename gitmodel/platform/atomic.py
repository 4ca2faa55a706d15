"""Atomic writes: the one way gitmodel gives a file new content.

borg's SaveFile idea, in one place: the content is written to a temporary
file in the destination's own folder (so the rename cannot cross
filesystems), flushed, given its mode, then renamed over the final name, and
the folder is flushed so the rename itself survives a crash.  A crash leaves
either the old file or the new one, never half of one; an exception leaves
the old file and no temp file.  Temporary names start with `.gm-tmp-` so
that gc and fsck recognise leftovers of a killed process.

`SaveFile` is the streaming primitive (the cache, packs, downloads, the
API's save); `write_atomic` is the whole-bytes shortcut over it (config,
pointers, hooks, metadata).  Hot paths that write thousands of small files
use `durable=False, umask=True`: no fsync, no fchmod, nothing the plain
open/write/close/rename would not cost, and make the batch durable with one
`syncfs` before and after the renames.

The C library (syncfs) is reached through ctypes, loaded on first use:
importing ctypes costs start-up time every command would pay.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, BinaryIO

from gitmodel.platform import faults

if TYPE_CHECKING:
    import ctypes

TMP_PREFIX = ".gm-tmp-"
BEFORE_RENAME = "fsutil:before-rename"  # write_atomic's fault point (the crash tests name it)

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


def tmp_name(folder: str | Path) -> str:
    return os.path.join(folder, f"{TMP_PREFIX}{os.getpid()}-{os.urandom(6).hex()}")


def unlink_quiet(path: str) -> None:
    """Remove a temp file of ours that may already be gone."""
    try:
        os.unlink(path)
    except OSError:
        pass


class SaveFile:
    """A file on its way to a final name: a new temp file in `folder`,
    written through `write`, `fd` (copy_file_range, mmap, pwrite) or `file`
    (a buffered file object, for libraries that want one), then published
    by `commit(path)`.

        with SaveFile(folder, 0o444) as f:
            f.write(data)
            f.commit(final)       # the name may be known only now (a hash)

    Leaving the block without a commit (an exception, a refused hash, a
    caller that found the object stored already) removes the temp file.

    `mode`: the file's permission bits, set exactly (fchmod: the umask
    neither loosens nor tightens them) unless `umask`, where they are the
    create mode and the umask applies (no syscall: the object store's
    read-only files, workspace files as git's checkout makes them).
    `durable`: fsync the file before the rename and its folder after; False
    leaves both to the caller (one syncfs for a batch).  `readable`: opened
    read-write, for a writer that reads back what landed (hashing by mmap).
    The folder must exist; FileNotFoundError otherwise.
    """

    def __init__(self, folder: str | Path, mode: int = 0o644, *, durable: bool = True, umask: bool = False,
                 readable: bool = False) -> None:
        self.mode = mode
        self.durable = durable
        self.tmp = tmp_name(folder)
        self.fd = os.open(self.tmp, (os.O_RDWR if readable else os.O_WRONLY) | os.O_CREAT | os.O_EXCL, mode)
        self._readable = readable
        self._chmod = not umask  # still to do
        self._synced = False
        self._file: BinaryIO | None = None
        self._done = False

    # -- writing --------------------------------------------------------------
    def write(self, data: bytes | bytearray | memoryview) -> None:
        """All of `data`, appended (a short write is retried, never lost)."""
        if self._file is not None:  # keep the order of what went through the buffer
            self._file.write(data)
            return
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view):]

    @property
    def file(self) -> BinaryIO:
        """A buffered file object over `fd` (joblib.dump, pickle, ...); flushed by sync/close/commit."""
        if self._file is None:
            self._file = open(self.fd, "r+b" if self._readable else "wb", closefd=False)
        return self._file

    def sync(self) -> None:
        """Flush the bytes to disk now, for a writer that overlaps the flush
        with other work; close and commit then do not flush again, so
        nothing may be written after it."""
        self._finish_bytes(True)

    def _finish_bytes(self, sync: bool) -> None:
        if self._file is not None:
            self._file.flush()
        if self._chmod:
            os.fchmod(self.fd, self.mode)  # before the fsync, so the mode is as durable as the bytes
            self._chmod = False
        if sync and not self._synced:
            os.fsync(self.fd)
            self._synced = True

    def close(self) -> None:
        """Finish the content (flushed and fsynced when `durable`); the temp
        file stays, for `commit` or `abort`."""
        if self.fd < 0:
            return
        try:
            self._finish_bytes(self.durable)
        finally:
            self._release()

    def _release(self) -> None:
        if self._file is not None:
            try:
                self._file.close()  # flushes into our own temp file, never into an fd number reused later
            except (OSError, ValueError):
                pass
            self._file = None
        # Forgotten before it is closed: a Ctrl-C between the two would
        # otherwise make abort() close it again, and the EBADF of that second
        # close would replace the KeyboardInterrupt (exit 3, not 130).
        fd, self.fd = self.fd, -1
        os.close(fd)

    # -- publishing -----------------------------------------------------------
    def commit(self, path: str, *, fault: str | None = None, makedirs: bool = False,
               sync_folder: bool | None = None) -> None:
        """Give the finished file the name `path` (replacing what is there)
        in one rename, then flush `path`'s folder when `durable`.

        `fault`: a crash-test point reached just before the rename.
        `makedirs`: the destination folder may have gone (an object shard
        deleted by hand): recreate it rather than fail.  `sync_folder`
        overrides `durable` for the folder flush (False: the caller renames
        another file in the same folder and flushes once for both).
        On any failure the temp file is removed and the old `path` stands."""
        try:
            self.close()
            if fault is not None:
                faults.point(fault)
            try:
                os.replace(self.tmp, path)
            except FileNotFoundError:
                if not makedirs or not os.path.exists(self.tmp):
                    raise
                os.makedirs(os.path.dirname(path), exist_ok=True)
                os.replace(self.tmp, path)
        except BaseException:
            self.abort()
            raise
        self._done = True
        if self.durable if sync_folder is None else sync_folder:
            fsync_dir(os.path.dirname(path) or ".")

    def abort(self) -> None:
        """Drop the temp file (idempotent; nothing once committed)."""
        if self.fd >= 0:
            self._release()
        if not self._done:
            self._done = True
            unlink_quiet(self.tmp)

    def __enter__(self) -> SaveFile:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.abort()


def write_atomic(path: str | Path, data: bytes | bytearray | memoryview, mode: int = 0o644,
                 durable: bool = True) -> None:
    """Replace `path` with `data` atomically (temp file, fsync, rename, fsync
    of the folder); `mode` exactly, whatever the umask."""
    path = os.fspath(path)
    with SaveFile(os.path.dirname(path) or ".", mode, durable=durable) as f:
        f.write(data)
        f.commit(path, fault=BEFORE_RENAME)


