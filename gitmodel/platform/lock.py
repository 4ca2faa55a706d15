"""The repository lock around every writing command.

An flock on `<cache>/lock`: the kernel drops it when its holder dies, so a
lock left by a crashed or killed process is taken over at once, with no stale
lock file to clean by hand (DVC's most common lock complaint).  A second
process waits (GITMODEL_LOCK_TIMEOUT seconds, default 30) and then fails
naming the holder, read from the lock file.
"""

from __future__ import annotations

import fcntl
import os
import sys
import time
from types import TracebackType

from gitmodel.errors import LockError

DEFAULT_TIMEOUT = 30.0
# "<pid>:<lock path>" while a process holds the lock, inherited by the git it
# runs and by that git's hooks (see RepoLock._held_by_caller).
HELD_ENV = "GITMODEL_LOCK_HELD"


class RepoLock:
    def __init__(self, path: str, timeout: float | None = None) -> None:
        self.path = path
        env = os.environ.get("GITMODEL_LOCK_TIMEOUT")
        self.timeout = timeout if timeout is not None else float(env) if env else DEFAULT_TIMEOUT
        self.fd = -1
        self.depth = 0
        self._env_before: str | None = None

    def _held_by_caller(self) -> bool:
        """Whether a gitmodel process that holds this lock ran the git command
        whose hook we are (`gitmodel tag --push` runs `git push`, whose
        pre-push hook uploads objects).  That holder is waiting for us, so we
        work under its lock instead of waiting for it until the timeout."""
        pid, _, path = os.environ.get(HELD_ENV, "").partition(":")
        if not pid.isdigit() or int(pid) == os.getpid() or os.path.realpath(path) != os.path.realpath(self.path):
            return False
        try:
            with open(self.path, "rb") as f:
                return f.read(64).startswith(f"pid {pid} on ".encode())  # it holds the lock right now
        except OSError:
            return False

    def acquire(self) -> None:
        if self.depth:
            self.depth += 1
            return
        if self._held_by_caller():
            self.depth = 1  # self.fd stays -1: nothing of ours to release
            return
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + self.timeout
        delay = 0.01
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 512, 0).decode(errors="replace").strip() or "unknown"
                    os.close(fd)
                    raise LockError(
                        f"the repository is locked by another gitmodel process ({holder})",
                        hint="wait for it to finish, or stop it, then run the command again") from None
                time.sleep(delay)
                delay = min(delay * 2, 0.2)
        info = f"pid {os.getpid()} on {os.uname().nodename}: {' '.join(sys.argv[1:3]) or 'python'}"
        os.ftruncate(fd, 0)
        os.pwrite(fd, info.encode(errors="backslashreplace"), 0)  # argv may hold undecodable bytes
        self.fd = fd
        self.depth = 1
        self._env_before = os.environ.get(HELD_ENV)
        os.environ[HELD_ENV] = f"{os.getpid()}:{self.path}"

    def release(self) -> None:
        if not self.depth:
            return
        self.depth -= 1
        if self.depth or self.fd < 0:
            return
        if self._env_before is None:
            os.environ.pop(HELD_ENV, None)
        else:
            os.environ[HELD_ENV] = self._env_before
        os.ftruncate(self.fd, 0)
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        fd, self.fd = self.fd, -1  # forgotten before it is closed (see SaveFile._release)
        os.close(fd)

    def __enter__(self) -> RepoLock:
        self.acquire()
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.release()
