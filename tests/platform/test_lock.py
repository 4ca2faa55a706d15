"""The repository lock: a second process waits, then fails naming the
holder; a lock whose holder died is taken at once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli import GITMODEL, assert_one_line_error, gm_proc
from tests.support.state import repo_state

HOLDER = """
import sys
from gitmodel.platform.lock import RepoLock
lock = RepoLock(sys.argv[1])
lock.acquire()
print("locked", flush=True)
sys.stdin.read()  # hold until the test closes our stdin
lock.release()
"""


def lock_path(root: Path) -> Path:
    return root / ".git" / "gitmodel" / "lock"


def tracked_file(gm, root: Path) -> None:
    (root / "m.bin").write_bytes(b"m" * 100)
    assert gm("add", "m.bin").code == 0
    (root / "m.bin").unlink()
    (root / "n.bin").write_bytes(b"n" * 100)


@pytest.fixture
def holder(gm, repo: Path) -> Iterator[subprocess.Popen[str]]:
    """A tracked file m.bin (deleted from the workspace), an untracked n.bin,
    and a process we control that holds the repository lock."""
    tracked_file(gm, repo)
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(lock_path(repo))], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "locked"
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


@pytest.mark.parametrize("args", [("add", "n.bin"), ("checkout",), ("remove", "m.bin"), ("unprotect", "m.bin")])
def test_second_process_fails_naming_the_holder(gm, repo: Path, holder: subprocess.Popen[str],
                                                args: tuple[str, ...]) -> None:
    before = repo_state(repo)
    r = gm_proc(*args, env={"GITMODEL_LOCK_TIMEOUT": "0.3"})
    assert_one_line_error(r, f"pid {holder.pid}", "locked")
    assert repo_state(repo) == before


def test_status_does_not_need_the_lock(gm, repo: Path, holder: subprocess.Popen[str]) -> None:
    r = gm_proc("status", env={"GITMODEL_LOCK_TIMEOUT": "0"})
    assert r.code == 0 and "missing" in r.out, r


def has_open(pid: int, path: Path) -> bool:
    fd_dir = f"/proc/{pid}/fd"
    try:
        names = os.listdir(fd_dir)
    except FileNotFoundError:
        return False
    for n in names:
        try:
            if os.readlink(os.path.join(fd_dir, n)) == str(path):
                return True
        except OSError:
            pass
    return False


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc to see the waiter's open lock")
def test_second_process_waits_for_the_lock(gm, repo: Path, holder: subprocess.Popen[str]) -> None:
    waiter = subprocess.Popen([*GITMODEL, "add", "n.bin"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env={**os.environ, "GITMODEL_LOCK_TIMEOUT": "60"})
    try:
        # Once the waiter has the lock file open it is in its wait loop
        # (it cannot get further while the holder holds the lock).
        lock = lock_path(repo).resolve()
        while not has_open(waiter.pid, lock):
            assert waiter.poll() is None, waiter.communicate()
        assert waiter.poll() is None
        assert not (repo / "n.bin.gm").exists()
        assert holder.stdin is not None
        holder.stdin.close()  # release
        out, err = waiter.communicate(timeout=60)
        assert waiter.returncode == 0, (out, err)
        assert "added n.bin" in out
    finally:
        if waiter.poll() is None:
            waiter.kill()
            waiter.wait()


def test_lock_of_a_killed_holder_is_taken_at_once(gm, repo: Path, holder: subprocess.Popen[str]) -> None:
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    # Its note is still in the lock file, but the kernel dropped its lock:
    # no waiting (timeout 0) and nothing to clean by hand.
    assert f"pid {holder.pid}" in lock_path(repo).read_text()
    r = gm_proc("add", "n.bin", env={"GITMODEL_LOCK_TIMEOUT": "0"})
    assert r.code == 0, r
    assert (repo / "n.bin.gm").is_file()


def test_lock_is_reentrant_and_released(repo: Path) -> None:
    from gitmodel.platform.lock import RepoLock

    lock = RepoLock(str(lock_path(repo)), timeout=0)
    with lock:
        with lock:
            pass
        assert lock.fd >= 0
    assert lock.fd == -1
    # Another holder can take it now, and the note is cleared.
    with RepoLock(str(lock_path(repo)), timeout=0):
        pass
    assert lock_path(repo).read_text() == ""
