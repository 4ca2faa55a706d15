"""Concurrency: two gitmodel processes on one repository or one remote at
the same time end consistent, and a lock left by a dead process is taken
over.  Real processes (`python -m gitmodel`), started together."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.cli import GITMODEL, assert_one_line_error, gm_run
from tests.support.files import write_random_files
from tests.support.git import commit_without_hooks, git
from tests.support.store import bad_objects, cache_root, objects, oid_of, store_objects


def start(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen([*GITMODEL, *args], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "GITMODEL_LOCK_TIMEOUT": "120", **(env or {})})


def finish(*procs: subprocess.Popen[str]) -> list[tuple[int, str, str]]:
    out = []
    for p in procs:
        o, e = p.communicate(timeout=180)
        out.append((p.returncode, o, e))
    return out


def all_ok(results: list[tuple[int, str, str]]) -> None:
    for code, out, err in results:
        assert code == 0, (code, out, err)


def states(root: Path) -> dict[str, str]:
    r = gm_run(["status", "--json"], cwd=root)
    assert r.code == 0, r
    return {s["path"]: s["state"] for s in json.loads(r.out)}


# -- one repository ------------------------------------------------------------------------

def test_two_adds_of_different_paths(repo: Path) -> None:
    a = write_random_files(repo, "a", 200, 1)
    b = write_random_files(repo, "b", 200, 2)
    all_ok(finish(start(repo, "add", "a"), start(repo, "add", "b")))
    assert states(repo) == {"a": "unchanged", "b": "unchanged"}
    assert not bad_objects(cache_root(repo))
    have = objects(repo)
    assert all(oid_of(d) in have for d in {**a, **b}.values())
    staged = git("ls-files", cwd=repo).split()
    assert "a.gm" in staged and "b.gm" in staged


def test_two_adds_of_the_same_folder(repo: Path) -> None:
    write_random_files(repo, "d", 300, 3)
    all_ok(finish(start(repo, "add", "d"), start(repo, "add", "d")))
    assert states(repo) == {"d": "unchanged"}
    assert not bad_objects(cache_root(repo))


def test_add_while_gc_runs(repo: Path) -> None:
    write_random_files(repo, "old", 100, 4)
    assert gm_run(["add", "old"], cwd=repo).code == 0
    commit_without_hooks(repo, "old", allow_empty=False)
    new = write_random_files(repo, "new", 200, 5)
    all_ok(finish(start(repo, "gc", "--keep-days", "0"), start(repo, "add", "new"),
                  start(repo, "gc", "--keep-days", "0")))
    assert states(repo) == {"new": "unchanged", "old": "unchanged"}
    have = objects(repo)
    assert all(oid_of(d) in have for d in new.values())
    assert gm_run(["fsck"], cwd=repo).code == 0


def test_checkout_and_add_and_status_at_once(repo: Path) -> None:
    files = write_random_files(repo, "d", 200, 6)
    assert gm_run(["add", "d"], cwd=repo).code == 0
    commit_without_hooks(repo, "d", allow_empty=False)
    for rel in list(files)[:100]:
        (repo / rel).unlink()
    write_random_files(repo, "e", 100, 7)
    results = finish(start(repo, "checkout"), start(repo, "add", "e"), start(repo, "status"), start(repo, "status"))
    all_ok(results)
    assert states(repo) == {"d": "unchanged", "e": "unchanged"}
    assert all((repo / rel).read_bytes() == data for rel, data in files.items())


def test_linked_worktrees_share_the_cache_safely(repo: Path, tmp_path: Path) -> None:
    commit_without_hooks(repo, "base", allow_empty=False)
    wt = tmp_path / "wt"
    git("worktree", "add", "-q", str(wt), "-b", "wt", cwd=repo)
    write_random_files(repo, "x", 150, 8)
    write_random_files(wt, "x", 150, 8)  # the same bytes from two worktrees at once
    all_ok(finish(start(repo, "add", "x"), start(wt, "add", "x")))
    assert states(repo) == {"x": "unchanged"} and states(wt) == {"x": "unchanged"}
    assert not bad_objects(cache_root(repo))


# -- the repository lock -------------------------------------------------------------------

def lock_file(root: Path) -> Path:
    return cache_root(root) / "lock"


def test_lock_of_a_killed_process_is_recovered(repo: Path) -> None:
    write_random_files(repo, "d", 50, 9)
    r = subprocess.run([*GITMODEL, "add", "d"], cwd=repo, capture_output=True, text=True,
                       env={**os.environ, "GITMODEL_FAULT": "add:objects-stored"})
    assert r.returncode == -signal.SIGKILL, r
    assert "pid" in lock_file(repo).read_text(), "the dead holder's name should still be in the lock file"
    # A short timeout: if the dead process's lock were not free, this would fail.
    r2 = subprocess.run([*GITMODEL, "add", "d"], cwd=repo, capture_output=True, text=True,
                        env={**os.environ, "GITMODEL_LOCK_TIMEOUT": "1"})
    assert r2.returncode == 0, r2
    assert states(repo) == {"d": "unchanged"}


def test_live_holder_is_named_and_waited_for(repo: Path) -> None:
    # Files of 1 MiB and more are stored one by one, each flushed: the lock
    # is held long enough to be seen (400 small files go into one pack in a
    # blink).
    rnd = random.Random(10)
    (repo / "d").mkdir()
    for i in range(12):
        (repo / "d" / f"f{i:02}.bin").write_bytes(rnd.randbytes((5 << 20) // 4 + i))
    holder = start(repo, "add", "d")
    try:
        deadline = time.monotonic() + 60
        while "pid" not in (lock_file(repo).read_text() if lock_file(repo).exists() else ""):
            assert holder.poll() is None and time.monotonic() < deadline, holder.communicate()
            time.sleep(0.005)
        os.kill(holder.pid, signal.SIGSTOP)
        (repo / "other.bin").write_bytes(b"other")
        r = subprocess.run([*GITMODEL, "add", "other.bin"], cwd=repo, capture_output=True, text=True,
                           env={**os.environ, "GITMODEL_LOCK_TIMEOUT": "0.5"})
        from tests.support.cli import Result

        line = assert_one_line_error(Result(r.returncode, r.stdout, r.stderr), "locked")
        assert f"pid {holder.pid}" in line
        assert not (repo / "other.bin.gm").exists()
    finally:
        os.kill(holder.pid, signal.SIGCONT)
    all_ok(finish(holder))
    assert states(repo) == {"d": "unchanged"}


# -- one remote ------------------------------------------------------------------------------

def clone_pair(repo: Path, tmp_path: Path, store_url: str, files_seed: int) -> tuple[Path, Path]:
    write_random_files(repo, "base", 50, files_seed)
    assert gm_run(["add", "base"], cwd=repo).code == 0
    assert gm_run(["remote", "add", "origin", store_url, "--default"], cwd=repo).code == 0
    commit_without_hooks(repo, "base", allow_empty=False)
    other = tmp_path / "other"
    git("clone", "-q", str(repo), str(other))
    assert gm_run(["init"], cwd=other).code == 0
    return repo, other


def test_two_clones_push_the_same_and_different_objects(repo: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    a, b = clone_pair(repo, tmp_path, str(store), 11)
    assert gm_run(["pull"], cwd=b).code == 1  # nothing pushed yet: base is missing on the remote
    import shutil

    shutil.rmtree(b / "base", ignore_errors=True)
    shutil.copytree(a / "base", b / "base")
    shared = write_random_files(a, "shared", 150, 12)
    write_random_files(b, "shared", 150, 12)
    write_random_files(a, "only_a", 100, 13)
    write_random_files(b, "only_b", 100, 14)
    for root in (a, b):
        assert gm_run(["add", "base", "shared", f"only_{'a' if root == a else 'b'}"], cwd=root).code == 0
    all_ok(finish(start(a, "push"), start(b, "push"), start(a, "push"), start(b, "push")))
    assert not bad_objects(store)
    on_remote = set(store_objects(store))
    assert set(objects(a)) <= on_remote and set(objects(b)) <= on_remote
    assert all(oid_of(d) in on_remote for d in shared.values())
    for root in (a, b):
        assert gm_run(["fsck", "-r", "origin"], cwd=root).code == 0


def test_two_pulls_in_one_repository_and_a_push_meanwhile(repo: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    a, b = clone_pair(repo, tmp_path, str(store), 15)
    files = write_random_files(a, "data", 200, 16)
    assert gm_run(["add", "data"], cwd=a).code == 0
    assert gm_run(["push"], cwd=a).code == 0
    commit_without_hooks(a, "data", allow_empty=False)
    git("pull", "-q", "--no-rebase", cwd=b, env={"GITMODEL_SKIP_PUSH": "1"})
    write_random_files(a, "more", 200, 17)
    assert gm_run(["add", "more"], cwd=a).code == 0
    all_ok(finish(start(b, "pull"), start(b, "pull"), start(a, "push")))
    assert all((b / rel).read_bytes() == data for rel, data in files.items())
    assert states(b) == {"base": "unchanged", "data": "unchanged"}
    assert not bad_objects(cache_root(b)) and not bad_objects(store)
    assert gm_run(["fsck", "-r", "origin"], cwd=a).code == 0


def test_two_clones_push_to_s3_at_once(repo: Path, tmp_path: Path, s3_env: str, s3_bucket: str) -> None:
    a, b = clone_pair(repo, tmp_path, f"s3://{s3_bucket}/team", 18)
    for root in (a, b):
        assert gm_run(["remote", "modify", "origin", "endpoint_url", s3_env], cwd=root).code == 0
    import shutil

    shutil.copytree(a / "base", b / "base", dirs_exist_ok=True)
    for root, seed in ((a, 19), (b, 20)):
        write_random_files(root, "shared", 80, 21)
        write_random_files(root, "own", 60, seed)
        assert gm_run(["add", "base", "shared", "own"], cwd=root).code == 0
    all_ok(finish(start(a, "push"), start(b, "push")))
    for root in (a, b):
        r = gm_run(["fsck", "-r", "origin"], cwd=root)
        assert r.code == 0, r


@pytest.mark.parametrize("n", [3])
def test_many_adds_queue_up(repo: Path, n: int) -> None:
    """More writers than one: each waits its turn, none is lost."""
    folders = [f"p{i}" for i in range(n)]
    for i, f in enumerate(folders):
        write_random_files(repo, f, 80, 30 + i)
    all_ok(finish(*[start(repo, "add", f) for f in folders]))
    assert states(repo) == {f: "unchanged" for f in folders}
