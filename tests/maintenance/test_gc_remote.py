"""gc -r REMOTE: deletes remote objects nothing reaches, only when this
clone has fetched every ref of its git remotes, under a lock on the remote."""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

import pytest

from tests.support.cli import assert_one_line_error, gm_run
from tests.support.git import commit_without_hooks, git
from tests.support.state import tree_state
from tests.support.store import age, bad_objects, objects, oid_of, pointer_oid, store_objects, write_with_oid

SKIP = {"GITMODEL_SKIP_PUSH": "1"}


def gm(root: Path, *args: str):  # noqa: ANN201 - conftest.Result
    return gm_run(list(args), cwd=root)


@pytest.fixture
def shared(repo: Path, tmp_path: Path) -> dict[str, object]:
    """A clone with a git remote (bare repository) and a folder storage
    remote; a draft pushed to storage but never committed is garbage."""
    store = tmp_path / "store"
    origin = tmp_path / "origin.git"
    git("init", "-q", "--bare", str(origin))
    git("remote", "add", "origin", str(origin), cwd=repo)
    assert gm(repo, "remote", "add", "storage", str(store), "--default").code == 0
    assert gm(repo, "remote", "modify", "storage", "link", "copy").code == 0
    draft = write_with_oid(repo, "model.bin", b"a draft that was pushed, never committed")
    assert gm(repo, "add", "model.bin").code == 0
    assert gm(repo, "push").code == 0
    final = write_with_oid(repo, "model.bin", b"the final model")
    write_with_oid(repo, "data/a.txt", b"a")
    assert gm(repo, "add", "model.bin", "data").code == 0
    assert gm(repo, "push").code == 0
    commit_without_hooks(repo, "v1", allow_empty=False)
    git("push", "-q", "origin", "HEAD:main", cwd=repo, env=SKIP)
    age(store_objects(store), 30)
    return {"repo": repo, "store": store, "origin": origin, "draft": draft, "final": final}


def test_deletes_unreachable_remote_objects(shared: dict[str, object]) -> None:
    repo, store = shared["repo"], shared["store"]
    assert isinstance(repo, Path) and isinstance(store, Path)
    before = set(store_objects(store))
    r = gm(repo, "gc", "-r", "storage")
    assert r.code == 0, r
    assert "freed" in r.out and "on remote 'storage'" in r.out, r
    after = set(store_objects(store))
    assert before - after == {shared["draft"]}
    assert shared["final"] in after and oid_of(b"a") in after
    assert shared["draft"] in objects(repo), "remote gc touched the local cache"
    assert not bad_objects(store)
    assert not (store / "meta" / "locks" / "gc.json").exists(), "the remote lock was not released"
    assert gm(repo, "fsck", "-r", "storage").code == 0


def test_dry_run_changes_nothing(shared: dict[str, object]) -> None:
    repo, store = shared["repo"], shared["store"]
    assert isinstance(repo, Path) and isinstance(store, Path)
    before = tree_state(store, skip_git=False)
    r = gm(repo, "gc", "-r", "storage", "--dry-run", "--json")
    assert r.code == 0, r
    assert [d["oid"] for d in json.loads(r.out)["deleted"]] == [shared["draft"]]
    assert tree_state(store, skip_git=False) == before


def test_grace_period_on_the_remote(shared: dict[str, object]) -> None:
    repo, store = shared["repo"], shared["store"]
    assert isinstance(repo, Path) and isinstance(store, Path)
    age(store_objects(store), 3)
    assert gm(repo, "gc", "-r", "storage").code == 0
    assert shared["draft"] in store_objects(store), "younger than 14 days: kept"
    assert gm(repo, "gc", "-r", "storage", "--keep-days", "2").code == 0
    assert shared["draft"] not in store_objects(store)


def test_refuses_until_every_ref_is_fetched(shared: dict[str, object], tmp_path: Path) -> None:
    """Another clone pushed a branch whose objects only the remote holds:
    this clone cannot see that branch until it fetches, so gc must refuse."""
    repo, store, origin = shared["repo"], shared["store"], shared["origin"]
    assert isinstance(repo, Path) and isinstance(store, Path) and isinstance(origin, Path)
    other = tmp_path / "other"
    git("clone", "-q", str(origin), str(other))
    assert gm(other, "init").code == 0
    git("switch", "-q", "-c", "feature", cwd=other)
    theirs = write_with_oid(other, "theirs.bin", b"only the other clone has this")
    assert gm(other, "add", "theirs.bin").code == 0
    assert gm(other, "push").code == 0
    commit_without_hooks(other, "feature", allow_empty=False)
    git("push", "-q", "origin", "feature", cwd=other, env=SKIP)
    age(store_objects(store), 30)
    before = tree_state(store, skip_git=False)
    line = assert_one_line_error(gm(repo, "gc", "-r", "storage"), "git fetch", "refs/heads/feature")
    assert "nothing deleted" in line
    assert tree_state(store, skip_git=False) == before
    git("fetch", "-q", "origin", cwd=repo)
    assert gm(repo, "gc", "-r", "storage").code == 0
    have = set(store_objects(store))
    assert theirs in have and shared["draft"] not in have


def test_refuses_when_a_remote_ref_names_an_unknown_commit(shared: dict[str, object], tmp_path: Path) -> None:
    """A ref outside heads/tags (a pull request) whose commit this clone
    lacks may name objects too."""
    repo, origin = shared["repo"], shared["origin"]
    assert isinstance(repo, Path) and isinstance(origin, Path)
    other = tmp_path / "other"
    git("clone", "-q", str(origin), str(other))
    (other / "x.txt").write_text("pr")
    commit_without_hooks(other, "pr", allow_empty=False)
    git("push", "-q", "origin", "HEAD:refs/pull/1/head", cwd=other, env=SKIP)
    assert_one_line_error(gm(repo, "gc", "-r", "storage"), "refs/pull/1/head", "git fetch")


def test_known_record_is_dropped_so_push_heals(shared: dict[str, object]) -> None:
    """After remote gc, push must not trust its record of what the remote
    held: content that comes back must be uploaded again."""
    repo, store = shared["repo"], shared["store"]
    assert isinstance(repo, Path) and isinstance(store, Path)
    assert gm(repo, "gc", "-r", "storage").code == 0
    write_with_oid(repo, "model.bin", b"a draft that was pushed, never committed")  # the draft is back
    assert gm(repo, "add", "model.bin").code == 0
    r = gm(repo, "push")
    assert r.code == 0, r
    assert shared["draft"] in store_objects(store)
    assert gm(repo, "fsck", "-r", "storage").code == 0


def write_lock(store: Path, **fields: object) -> Path:
    path = store / "meta" / "locks" / "gc.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(fields))
    return path


def test_remote_lock_held_by_another_gc(shared: dict[str, object]) -> None:
    repo, store = shared["repo"], shared["store"]
    assert isinstance(repo, Path) and isinstance(store, Path)
    lock = write_lock(store, holder="gitmodel gc", host="build-server", pid=4242, token="x",
                      created=time.time(), expires=time.time() + 600)
    before = set(store_objects(store))
    line = assert_one_line_error(gm(repo, "gc", "-r", "storage"), "locked", "build-server", "4242")
    assert "wait" in line
    assert set(store_objects(store)) == before and lock.exists()
    # A dry run takes no lock and still works.
    assert gm(repo, "gc", "-r", "storage", "--dry-run").code == 0


@pytest.mark.parametrize("case", ["expired", "dead-pid", "torn"])
def test_stale_remote_lock_is_taken_over(shared: dict[str, object], case: str) -> None:
    repo, store = shared["repo"], shared["store"]
    assert isinstance(repo, Path) and isinstance(store, Path)
    if case == "expired":
        lock = write_lock(store, holder="gitmodel gc", host="elsewhere", pid=1, expires=time.time() - 1)
    elif case == "dead-pid":
        dead = 2 ** 22 - 7  # above any pid_max default: no such process
        lock = write_lock(store, holder="gitmodel gc", host=socket.gethostname(), pid=dead,
                          expires=time.time() + 600)
    else:
        lock = store / "meta" / "locks" / "gc.json"
        lock.parent.mkdir(parents=True)
        lock.write_bytes(b'{"holder": "gitmod')  # a crash mid-write
    r = gm(repo, "gc", "-r", "storage")
    assert r.code == 0, r
    assert shared["draft"] not in store_objects(store)
    assert not lock.exists()


def test_kill_during_remote_gc_leaves_a_lock_that_is_recovered(shared: dict[str, object]) -> None:
    import subprocess

    from tests.support.cli import GITMODEL

    repo, store = shared["repo"], shared["store"]
    assert isinstance(repo, Path) and isinstance(store, Path)
    r = subprocess.run([*GITMODEL, "gc", "-r", "storage"], cwd=repo, capture_output=True, text=True,
                       env={**os.environ, "GITMODEL_FAULT": "gc:before-delete"})
    assert r.returncode == -9, r
    assert (store / "meta" / "locks" / "gc.json").exists()
    assert not bad_objects(store)
    assert shared["final"] in store_objects(store)
    # Same host, dead pid: taken over at once.
    r2 = gm(repo, "gc", "-r", "storage")
    assert r2.code == 0, r2
    assert shared["draft"] not in store_objects(store)


def test_manifest_only_on_the_remote_is_read_from_there(shared: dict[str, object]) -> None:
    repo, store = shared["repo"], shared["store"]
    assert isinstance(repo, Path) and isinstance(store, Path)
    moid = pointer_oid(repo / "data.gm")
    path = objects(repo)[moid]
    os.chmod(path.parent, 0o755)
    path.unlink()
    assert gm(repo, "gc", "-r", "storage").code == 0
    assert oid_of(b"a") in store_objects(store), "a file of a reachable folder was deleted"
    assert moid in store_objects(store)


def test_manifest_nowhere_refuses(shared: dict[str, object]) -> None:
    repo, store = shared["repo"], shared["store"]
    assert isinstance(repo, Path) and isinstance(store, Path)
    moid = pointer_oid(repo / "data.gm")
    objects(repo)[moid].unlink()
    os.chmod(store_objects(store)[moid], 0o644)
    store_objects(store)[moid].unlink()
    before = tree_state(store, skip_git=False)
    assert_one_line_error(gm(repo, "gc", "-r", "storage"), "nothing deleted", moid)
    after = tree_state(store, skip_git=False)
    def data(state: dict[str, tuple[str, int, bytes]]) -> dict[str, tuple[str, int, bytes]]:
        return {k: v for k, v in state.items() if not k.startswith("meta")}  # the lock's empty folder may stay

    assert data(after) == data(before)
    assert not (store / "meta" / "locks" / "gc.json").exists()


def test_without_a_git_remote_warns(repo: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    assert gm(repo, "remote", "add", "storage", str(store), "--default").code == 0
    write_with_oid(repo, "a.bin", b"1")
    assert gm(repo, "add", "a.bin").code == 0
    assert gm(repo, "push").code == 0
    write_with_oid(repo, "a.bin", b"2")
    assert gm(repo, "add", "a.bin").code == 0
    assert gm(repo, "push").code == 0
    commit_without_hooks(repo, "c", allow_empty=False)
    r = gm(repo, "gc", "-r", "storage", "--keep-days", "0")
    assert r.code == 0, r
    assert "no git remote" in r.err
    assert set(store_objects(store)) == {oid_of(b"2")}


def test_unknown_remote(repo: Path) -> None:
    assert_one_line_error(gm(repo, "gc", "-r", "nope"), "nope")


def test_s3_remote_gc(repo: Path, tmp_path: Path, s3_env: str, s3_bucket: str) -> None:
    import boto3

    assert gm(repo, "remote", "add", "s3", f"s3://{s3_bucket}/team", "--default").code == 0
    assert gm(repo, "remote", "modify", "s3", "endpoint_url", s3_env).code == 0
    draft = write_with_oid(repo, "m.bin", b"draft on s3")
    assert gm(repo, "add", "m.bin").code == 0
    assert gm(repo, "push").code == 0
    final = write_with_oid(repo, "m.bin", b"final on s3")
    assert gm(repo, "add", "m.bin").code == 0
    assert gm(repo, "push").code == 0
    commit_without_hooks(repo, "c", allow_empty=False)
    s3 = boto3.client("s3", endpoint_url=s3_env, region_name="us-east-1")

    def keys() -> set[str]:
        return {o["Key"] for o in s3.list_objects_v2(Bucket=s3_bucket).get("Contents", [])}

    r = gm(repo, "gc", "-r", "s3")  # everything is younger than 14 days
    assert r.code == 0 and "1 younger than 14 days" in r.out, r
    r = gm(repo, "gc", "-r", "s3", "--keep-days", "0")
    assert r.code == 0, r
    have = keys()
    hexd = lambda o: o.split(":")[1][2:]  # noqa: E731
    assert any(hexd(final) in k for k in have) and not any(hexd(draft) in k for k in have)
    assert not any("locks" in k for k in have), "the lock object was not removed"
    # A lock held by someone else is honoured on S3 too.
    s3.put_object(Bucket=s3_bucket, Key="team/meta/locks/gc.json",
                  Body=json.dumps({"holder": "gitmodel gc", "host": "ci", "pid": 7, "expires": time.time() + 60}))
    assert_one_line_error(gm(repo, "gc", "-r", "s3", "--keep-days", "0"), "locked", "ci")
    assert gm(repo, "fsck", "-r", "s3").code == 0
