"""push / fetch / pull end to end, with real git repositories and a folder
remote or the real S3 server: files and directories, nothing to send,
revision selection, interrupted transfers, concurrent pushes."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from gitmodel.repo import Repo
from gitmodel.transfer import fetch as fetching
from gitmodel.transfer import push as pushing
from gitmodel.transfer import wanted
from tests.support.cli import GITMODEL, gm_proc, gm_run
from tests.support.files import write_at
from tests.support.git import clone, git, make_repo
from tests.support.remote import (
    Store,
    add_commit,
    add_remote,
    cache_intact,
    cache_tmp,
    populate,
    push_json,
    v1_tagged_then_v2,
)
from tests.support.store import cache_oids, folder_files


@dataclass
class Setup:
    kind: str
    root: Path  # the first repository, data added and committed, remote configured and committed
    files: dict[str, bytes]
    store: Store
    url: str


@pytest.fixture(params=["local", "s3"])
def setup(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Setup:
    kind = str(request.param)
    root = make_repo(tmp_path / "origin-repo")
    monkeypatch.chdir(root)
    files = populate(root)
    add_commit(root)
    if kind == "local":
        store = Store("local", path=tmp_path / "store")
        url = add_remote(root, "local", tmp_path / "store")
    else:
        bucket, endpoint = request.getfixturevalue("s3_bucket"), request.getfixturevalue("s3_env")
        store = Store("s3", endpoint=endpoint, bucket=bucket)
        url = add_remote(root, "s3", tmp_path / "unused", endpoint=endpoint, bucket=bucket)
    git("add", "-A", cwd=root)
    git("commit", "-qm", "remote", cwd=root)
    return Setup(kind, root, files, store, url)


def test_push_then_pull_in_a_clone(setup: Setup, tmp_path: Path) -> None:
    r = gm_run(["push"], cwd=setup.root)
    assert r.code == 0, r
    assert "pushed 6 objects" in r.out  # model, manifest, tree of sub/, 3 distinct files (dup.txt shares b.txt's)
    assert setup.store.oids() == cache_oids(setup.root)
    assert setup.store.all_intact()
    other = clone(setup.root, tmp_path / "clone")
    r = gm_run(["pull"], cwd=other)
    assert r.code == 0, r
    for rel, data in setup.files.items():
        assert (other / rel).read_bytes() == data
    assert gm_run(["status", "--json"], cwd=other).out.count('"unchanged"') == 2
    assert cache_intact(other) and cache_tmp(other) == []


def test_fetch_then_checkout(setup: Setup, tmp_path: Path) -> None:
    assert gm_run(["push", "-q"], cwd=setup.root).code == 0
    other = clone(setup.root, tmp_path / "clone")
    r = gm_run(["fetch", "data"], cwd=other)
    assert r.code == 0 and "fetched 5 objects" in r.out, r  # manifest, tree of sub/, 3 files
    assert not (other / "data").exists()  # fetch fills the cache only
    assert gm_run(["checkout", "data"], cwd=other).code == 0
    assert (other / "data/sub/c.bin").read_bytes() == setup.files["data/sub/c.bin"]
    r = gm_run(["fetch", "--json"], cwd=other)
    assert json.loads(r.out)["downloaded"] == 1  # only model.bin was left


def test_a_second_push_sends_nothing(setup: Setup) -> None:
    first = push_json(cwd=setup.root)
    assert first["uploaded"] == 6
    second = push_json(cwd=setup.root)
    assert second["uploaded"] == 0 and second["missing"] == []
    assert "nothing to push" in gm_run(["push"], cwd=setup.root).out
    # Without the local record the remote is asked, and still nothing moves.
    shutil.rmtree(setup.root / ".git/gitmodel/remotes")
    assert push_json(cwd=setup.root)["uploaded"] == 0
    assert push_json("--check-remote", cwd=setup.root)["uploaded"] == 0


def test_the_record_is_only_a_hint(setup: Setup) -> None:
    """An object the record claims but the remote lost is found with --check-remote."""
    assert push_json(cwd=setup.root)["uploaded"] == 6
    model_oid = wanted.collect(Repo.discover(str(setup.root)), ["model.bin"]).files.popitem()[0]
    setup.store.remove(model_oid)
    assert push_json(cwd=setup.root)["uploaded"] == 0  # the record still believes it is there
    assert push_json("--check-remote", cwd=setup.root)["uploaded"] == 1
    assert model_oid in setup.store.oids()


def test_push_of_one_path(setup: Setup) -> None:
    report = push_json("model.bin", cwd=setup.root)
    assert report["uploaded"] == 1
    assert len(setup.store.oids()) == 1


def test_corrupt_object_on_the_remote_never_reaches_cache_or_workspace(setup: Setup, tmp_path: Path) -> None:
    assert gm_run(["push", "-q"], cwd=setup.root).code == 0
    model_oid = wanted.collect(Repo.discover(str(setup.root)), ["model.bin"]).files.popitem()[0]
    setup.store.overwrite(model_oid, b"not the model")
    other = clone(setup.root, tmp_path / "clone")
    r = gm_run(["pull", "model.bin"], cwd=other)
    assert r.code == 1
    assert model_oid in r.err and "remote 'origin'" in r.err and "corrupt" in r.err
    assert len(r.err.strip().splitlines()) == 1
    assert model_oid not in cache_oids(other) and cache_tmp(other) == []
    assert not (other / "model.bin").exists()


def test_pull_reports_objects_the_remote_lacks(setup: Setup, tmp_path: Path) -> None:
    assert gm_run(["push", "-q"], cwd=setup.root).code == 0
    model_oid = wanted.collect(Repo.discover(str(setup.root)), ["model.bin"]).files.popitem()[0]
    setup.store.remove(model_oid)
    other = clone(setup.root, tmp_path / "clone")
    r = gm_run(["pull"], cwd=other)
    assert r.code == 1
    assert "model.bin" in r.err and model_oid in r.err
    assert (other / "data/a.txt").read_bytes() == setup.files["data/a.txt"]  # the rest arrived
    with pytest.raises(Exception, match="not on remote 'origin'"):
        fetching.fetch(Repo.discover(str(other)))


def test_push_of_objects_missing_from_the_cache(setup: Setup, tmp_path: Path) -> None:
    other = clone(setup.root, tmp_path / "clone")  # pointers, but an empty cache
    r = gm_run(["push"], cwd=other)
    assert r.code == 1 and "not in the local cache" in r.err
    assert setup.store.oids() == set()  # no manifest without its files


def test_library_fetch_oids_expands_manifests(setup: Setup, tmp_path: Path) -> None:
    assert gm_run(["push", "-q"], cwd=setup.root).code == 0
    repo_a = Repo.discover(str(setup.root))
    dir_oid = next(iter(wanted.collect(repo_a, ["data"]).dirs))
    other = clone(setup.root, tmp_path / "clone")
    repo_b = Repo.discover(str(other))
    repo_b.require_init()
    report = fetching.fetch_oids(repo_b, [dir_oid])
    assert report.downloaded == 5  # the manifest, the tree of sub/, and three distinct files
    assert report.missing == []
    again = fetching.fetch_oids(repo_b, [dir_oid])
    assert again.downloaded == 0


def test_library_push_oids(setup: Setup) -> None:
    repo = Repo.discover(str(setup.root))
    want = wanted.collect(repo, ["data"])
    report = pushing.push_oids(repo, list(want.dirs))
    assert report.uploaded == 5
    assert len(setup.store.oids()) == 5


def test_two_clones_push_the_same_objects_at_once(setup: Setup, tmp_path: Path) -> None:
    other = clone(setup.root, tmp_path / "clone")
    for rel, data in setup.files.items():  # the same content, added independently
        write_at(other / rel, data)
    assert gm_run(["add", "model.bin", "data"], cwd=other).code == 0
    procs = [subprocess.Popen([*GITMODEL, "push", "-q", "-j", "2"], cwd=cwd, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for cwd in (setup.root, other)]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    assert setup.store.oids() == cache_oids(setup.root)
    assert setup.store.all_intact() and setup.store.temps() == []


# -- revisions ----------------------------------------------------------------

@pytest.fixture
def versions(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Store, dict[str, bytes], dict[str, bytes]]:
    """A repository with a tag v1, then new content on main, and a branch `exp` with more."""
    root = make_repo(tmp_path / "repo")
    monkeypatch.chdir(root)
    v1, v2 = v1_tagged_then_v2(root, tmp_path / "store")
    git("checkout", "-q", "-b", "exp", cwd=root)
    write_at(root / "exp.bin", b"experiment")
    add_commit(root, "exp", paths=("exp.bin",))
    git("checkout", "-q", "main", cwd=root)
    assert gm_run(["checkout", "-f"], cwd=root).code == 0
    return root, Store("local", path=tmp_path / "store"), v1, v2


def oids_at(root: Path, rev: str) -> set[str]:
    repo = Repo.discover(str(root))
    want = wanted.collect(repo, revs_=[rev])
    out = set(want.files)
    for m in want.dirs:
        files, trees = folder_files(repo.cache.read_bytes, m)
        out |= trees | set(files.values())
    return out


def test_push_rev_selects_that_revision(versions) -> None:  # type: ignore[no-untyped-def]
    root, store, _, _ = versions
    r = gm_run(["push", "--rev", "v1"], cwd=root)
    assert r.code == 0, r
    assert store.oids() == oids_at(root, "v1")
    assert not (oids_at(root, "main") <= store.oids())


def test_push_all_tags_and_all_branches(versions) -> None:  # type: ignore[no-untyped-def]
    root, store, _, _ = versions
    assert gm_run(["push", "--all-tags"], cwd=root).code == 0
    assert store.oids() == oids_at(root, "v1")
    assert gm_run(["push", "--all-branches"], cwd=root).code == 0
    assert store.oids() == oids_at(root, "v1") | oids_at(root, "main") | oids_at(root, "exp")


def test_push_rev_with_a_path(versions) -> None:  # type: ignore[no-untyped-def]
    root, store, v1, _ = versions
    assert gm_run(["push", "--rev", "v1", "model.bin"], cwd=root).code == 0
    assert len(store.oids()) == 1
    r = gm_run(["push", "--rev", "v1", "nowhere"], cwd=root)
    assert r.code == 1 and "nowhere" in r.err


def test_fetch_rev_into_a_clone(versions, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    root, store, v1, _ = versions
    assert gm_run(["push", "--all-tags", "--all-branches"], cwd=root).code == 0
    other = clone(root, tmp_path / "clone")
    assert gm_run(["fetch", "--rev", "v1"], cwd=other).code == 0
    assert cache_oids(other) == oids_at(root, "v1")
    git("checkout", "-q", "v1", cwd=other)
    assert gm_run(["checkout"], cwd=other).code == 0
    assert (other / "model.bin").read_bytes() == v1["model.bin"]


def test_unknown_revision_changes_nothing(versions) -> None:  # type: ignore[no-untyped-def]
    root, store, _, _ = versions
    r = gm_run(["push", "--rev", "v9"], cwd=root)
    assert r.code == 1 and "v9" in r.err and len(r.err.strip().splitlines()) == 1
    assert store.oids() == set()


# -- interruptions ------------------------------------------------------------------

def test_push_killed_before_manifests_then_rerun(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_repo(tmp_path / "repo")
    monkeypatch.chdir(root)
    files = populate(root)
    add_commit(root)
    add_remote(root, "local", tmp_path / "store")
    git("commit", "-qam", "remote", cwd=root)
    store = Store("local", path=tmp_path / "store")
    r = gm_proc("push", cwd=root, env={"GITMODEL_FAULT": "push:files-published"})
    assert r.code == -9, r
    dir_oid = next(iter(wanted.collect(Repo.discover(str(root)), ["data"]).dirs))
    assert dir_oid not in store.oids() and len(store.oids()) == 4  # every file, no manifest
    # A clone sees no half directory: the manifest is simply not there yet.
    other = clone(root, tmp_path / "clone")
    r2 = gm_run(["pull", "data"], cwd=other)
    assert r2.code == 1 and not (other / "data").exists()
    again = push_json(cwd=root)
    assert again["uploaded"] == 2  # only the manifest and its tree of sub/ were still missing
    assert gm_run(["pull"], cwd=other).code == 0
    assert (other / "data/b.txt").read_bytes() == files["data/b.txt"]


def test_push_killed_midway_then_rerun_moves_only_the_rest(setup: Setup) -> None:
    r = gm_proc("push", "-j", "1", cwd=setup.root, env={"GITMODEL_FAULT": "push:object-uploaded"})
    assert r.code == -9, r
    before = setup.store.oids()
    assert setup.store.all_intact()
    if setup.kind == "s3":
        assert len(before) == 1  # each PUT is visible at once
    again = push_json(cwd=setup.root)
    assert again["uploaded"] == 6 - len(before)
    assert setup.store.oids() == cache_oids(setup.root) and setup.store.all_intact()


def test_fetch_killed_midway_then_rerun(setup: Setup, tmp_path: Path) -> None:
    assert gm_run(["push", "-q"], cwd=setup.root).code == 0
    other = clone(setup.root, tmp_path / "clone")
    r = gm_proc("fetch", "-j", "1", cwd=other, env={"GITMODEL_FAULT": "fetch:object-stored"})
    assert r.code == -9, r
    assert len(cache_oids(other)) == 1 and cache_intact(other)
    again = gm_run(["fetch", "--json"], cwd=other)
    assert again.code == 0 and json.loads(again.out)["downloaded"] == 5
    assert cache_oids(other) == cache_oids(setup.root) and cache_intact(other)


def test_push_interrupted_by_an_error_records_nothing_unpublished(setup: Setup) -> None:
    env = {"GITMODEL_FAULT": "push:object-uploaded", "GITMODEL_FAULT_MODE": "raise"}
    r = gm_proc("push", "-j", "1", cwd=setup.root, env=env)
    assert r.code == 3
    assert setup.store.temps() == []  # a failed push cleans its unpublished temps
    again = push_json(cwd=setup.root)
    assert setup.store.oids() == cache_oids(setup.root)
    assert again["uploaded"] + again["present"] >= 5


def test_quiet_push_prints_no_progress(setup: Setup) -> None:
    r = gm_proc("push", "-q", cwd=setup.root)
    assert r.code == 0 and r.err == ""
    assert "pushed 6 objects" in r.out


@pytest.mark.parametrize("jobs", ["1", "4"])
def test_push_interrupted_by_ctrl_c_then_rerun(setup: Setup, jobs: str) -> None:
    env = {"GITMODEL_FAULT": "push:object-uploaded", "GITMODEL_FAULT_MODE": "interrupt"}
    r = gm_proc("push", "-j", jobs, cwd=setup.root, env=env)
    assert r.code == 130 and "interrupted" in r.err, r
    assert setup.store.all_intact() and setup.store.temps() == []
    assert gm_run(["push", "-q"], cwd=setup.root).code == 0
    assert setup.store.oids() == cache_oids(setup.root)
