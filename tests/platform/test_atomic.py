"""The platform layer's promises, tested directly: an atomic write leaves the
old file or the new one and no temp file, gives the mode asked for whatever
the umask, and flushes the folder of the rename; the git runner passes its
environment and stops a git that outlives its timeout."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitmodel.git import runner as gitops
from gitmodel.platform import atomic
from gitmodel.platform.atomic import TMP_PREFIX, SaveFile, write_atomic
from tests.support.git import git

ROOT = Path(__file__).resolve().parents[1]


def temps(folder: Path) -> list[str]:
    return [n for n in os.listdir(folder) if n.startswith(TMP_PREFIX)]


@pytest.fixture
def umask() -> Iterator[None]:
    before = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(before)


class Boom(Exception):
    pass


# -- an exception or a crash mid-write --------------------------------------------

def test_exception_mid_stream_leaves_the_old_file_and_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "f"
    target.write_bytes(b"old")
    with pytest.raises(Boom):
        with SaveFile(tmp_path) as f:
            f.write(b"half of the new")
            f.file.write(b" content")  # buffered, not yet flushed
            raise Boom
    assert target.read_bytes() == b"old"
    assert temps(tmp_path) == []


def test_write_atomic_failing_before_the_rename_leaves_the_old_file(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "f"
    target.write_bytes(b"old")
    monkeypatch.setenv("GITMODEL_FAULT", atomic.BEFORE_RENAME)
    monkeypatch.setenv("GITMODEL_FAULT_MODE", "raise")
    with pytest.raises(Exception, match="injected fault"):
        write_atomic(target, b"new")
    assert target.read_bytes() == b"old"
    assert temps(tmp_path) == []


def test_a_failed_rename_removes_the_temp(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        with SaveFile(tmp_path) as f:
            f.write(b"x")
            f.commit(str(tmp_path / "missing-folder" / "f"))
    assert temps(tmp_path) == []


def test_an_uncommitted_savefile_leaves_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "d"
    folder.mkdir()
    with SaveFile(folder) as f:
        f.write(b"never published")
    assert os.listdir(folder) == []


def test_a_killed_writer_leaves_the_old_file_and_only_a_recognisable_temp(tmp_path: Path) -> None:
    target = tmp_path / "d" / "f"
    target.parent.mkdir()
    target.write_bytes(b"old")
    script = ("import sys; sys.path.insert(0, sys.argv[1]); from gitmodel.platform.atomic import write_atomic; "
              "write_atomic(sys.argv[2], b'new' * 100000)")
    proc = subprocess.run([sys.executable, "-c", script, str(ROOT), str(target)], capture_output=True,
                          env={**os.environ, "GITMODEL_FAULT": atomic.BEFORE_RENAME}, timeout=60)
    assert proc.returncode == -9, proc.stderr
    assert target.read_bytes() == b"old"
    left = set(os.listdir(target.parent)) - {"f"}
    assert len(left) == 1 and left == set(temps(target.parent))  # for gc to recognise


# -- what a commit leaves -----------------------------------------------------------

def test_streamed_content_lands_in_order(tmp_path: Path) -> None:
    target = tmp_path / "f"
    target.write_bytes(b"old")
    with SaveFile(tmp_path) as f:
        f.write(b"a")
        os.write(f.fd, b"b")
        f.file.write(b"c")
        f.write(b"d")  # after `file` was taken: through its buffer, in order
        f.commit(str(target))
    assert target.read_bytes() == b"abcd"
    assert temps(tmp_path) == []


@pytest.mark.parametrize("mask", [0o000, 0o022, 0o077, 0o277])
@pytest.mark.parametrize("mode", [0o644, 0o444, 0o600, 0o755])
def test_mode_is_exact_whatever_the_umask(tmp_path: Path, umask: None, mask: int, mode: int) -> None:
    os.umask(mask)
    write_atomic(tmp_path / "a", b"x", mode=mode)
    with SaveFile(tmp_path, mode, durable=False) as f:
        f.write(b"y")
        f.commit(str(tmp_path / "b"))
    assert (tmp_path / "a").stat().st_mode & 0o7777 == mode
    assert (tmp_path / "b").stat().st_mode & 0o7777 == mode


def test_umask_true_is_the_create_mode(tmp_path: Path, umask: None) -> None:
    os.umask(0o027)
    with SaveFile(tmp_path, 0o666, umask=True) as f:
        f.write(b"y")
        f.commit(str(tmp_path / "b"))
    assert (tmp_path / "b").stat().st_mode & 0o7777 == 0o640


def test_commit_can_recreate_a_deleted_folder(tmp_path: Path) -> None:
    (tmp_path / "tmp").mkdir()
    with SaveFile(tmp_path / "tmp") as f:
        f.write(b"x")
        f.commit(str(tmp_path / "gone" / "f"), makedirs=True)
    assert (tmp_path / "gone" / "f").read_bytes() == b"x"


# -- what reaches the disk ------------------------------------------------------------

class Syscalls:
    """Records fsync / fchmod calls by what their fd names."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[tuple[str, str]] = []
        for name in ("fsync", "fchmod"):
            real = getattr(os, name)

            def spy(fd: int, *args: int, _real=real, _name=name) -> None:  # type: ignore[no-untyped-def]
                self.calls.append((_name, os.readlink(f"/proc/self/fd/{fd}")))
                _real(fd, *args)

            monkeypatch.setattr(os, name, spy)


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="names fds through /proc")
def test_durable_write_fsyncs_the_file_then_the_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spy = Syscalls(monkeypatch)
    write_atomic(tmp_path / "f", b"x")
    fsyncs = [p for c, p in spy.calls if c == "fsync"]
    assert len(fsyncs) == 2
    assert os.path.basename(fsyncs[0]).startswith(TMP_PREFIX)  # the bytes, before the rename
    assert fsyncs[1] == str(tmp_path)  # the rename itself


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="names fds through /proc")
def test_batch_mode_costs_no_fsync_and_no_chmod(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The many-small-files path (a folder remote's batch, the cache's loose
    objects): open, write, close, rename; durability comes from one syncfs."""
    spy = Syscalls(monkeypatch)
    for i in range(20):
        with SaveFile(tmp_path, 0o444, durable=False, umask=True) as f:
            f.write(b"x%d" % i)
            f.commit(str(tmp_path / f"o{i}"))
    assert spy.calls == []


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="names fds through /proc")
def test_an_early_sync_is_not_repeated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spy = Syscalls(monkeypatch)
    with SaveFile(tmp_path, 0o444, umask=True) as f:
        f.write(b"x")
        f.sync()
        f.commit(str(tmp_path / "o"), sync_folder=False)
    assert [c for c, _ in spy.calls] == ["fsync"]


# -- the git runner -------------------------------------------------------------------

def test_runner_passes_the_environment(tmp_path: Path) -> None:
    git("init", "-q", str(tmp_path))
    env = {**os.environ, "GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "gm.probe", "GIT_CONFIG_VALUE_0": "yes"}
    assert gitops.run(["config", "--get", "gm.probe"], cwd=str(tmp_path), env=env).stdout.strip() == b"yes"
    assert gitops.run(["config", "--get", "gm.probe"], cwd=str(tmp_path), check=False).returncode == 1


def test_runner_stops_git_at_its_timeout(tmp_path: Path) -> None:
    git("init", "-q", str(tmp_path))
    start = time.monotonic()
    with pytest.raises(gitops.GitTimeoutError, match="did not finish within 0.5 s"):
        gitops.run(["-c", "alias.slow=!sleep 5", "slow"], cwd=str(tmp_path), timeout=0.5)
    assert time.monotonic() - start < 4.5


def test_runner_timeout_is_a_git_error(tmp_path: Path) -> None:
    """Callers that catch GitError (the CLI's one-line message) catch it too."""
    from gitmodel.errors import GitError

    assert issubclass(gitops.GitTimeoutError, GitError)


def test_one_pygit2_handle_per_repo(tmp_path: Path) -> None:
    """Every in-process reader of a Repo (revs, gc, remote gc) shares one
    handle, and with it libgit2's object and pack caches."""
    from gitmodel.git import revs
    from gitmodel.repo import Repo

    git("init", "-q", str(tmp_path))
    repo = Repo.discover(str(tmp_path))
    assert revs.git(repo) is repo.git is revs.git(repo)
    assert Repo.discover(str(tmp_path)).git is not repo.git

