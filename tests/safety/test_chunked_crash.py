"""Crash safety of chunked files: a real `gitmodel` subprocess SIGKILLed (or
raising) at each named point of a chunked add and of a gc of chunked data.

After each crash: the user's file is intact, no chunk list names an object
the cache lacks (chunks are published before their list, and gc deletes a
list before its chunks), every object hashes to its name, `gitmodel fsck`
finds nothing wrong (leftovers of the killed write are not problems), a
rerun succeeds, and the file checks out to the same bytes."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest

from tests.maintenance.test_chunked_maintenance import assert_lists_complete, lists, mirror, named
from tests.support.cli import gm_proc
from tests.support.files import write
from tests.support.git import commit_without_hooks, make_repo
from tests.support.store import age, assert_objects_sound, cache_root, oid_of, store_objects, temps

MiB = 1 << 20
ENV = {"GITMODEL_CHUNK_THRESHOLD": "1MiB"}
ADD_POINTS = ["chunks:pack-filled", "pack:before-index", "chunks:before-list"]
GC_POINTS = ["gc:enumerated", "gc:before-delete", "gc:list-deleted", "gc:object-deleted", "pack:before-index",
             "gc:pack-written", "gc:pack-deleted", "gc:done"]


@pytest.fixture(autouse=True)
def _small_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITMODEL_CHUNK_THRESHOLD", "1MiB")


def data_of(seed: int, size: int = 3 * MiB) -> bytes:
    return random.Random(seed).randbytes(size)


def crash(root: Path, how: str, point: str, *args: str) -> None:
    env = {**ENV, "GITMODEL_FAULT": point}
    if how == "raise":
        env["GITMODEL_FAULT_MODE"] = "raise"
    r = gm_proc(*args, cwd=root, env=env)
    assert r.code == (-9 if how == "kill" else 3), (point, r)


def assert_sound(gm, root: Path) -> None:
    cache = cache_root(root)
    assert_objects_sound(root)
    assert_lists_complete(cache)
    r = gm("fsck", cwd=root)
    assert r.code == 0, r


def rebuilt(gm, root: Path, rel: str) -> bytes:
    (root / rel).unlink()
    r = gm("checkout", rel, cwd=root)
    assert r.code == 0, r
    return (root / rel).read_bytes()


@pytest.mark.parametrize("how", ["kill", "raise"])
@pytest.mark.parametrize("point", ADD_POINTS)
def test_crash_during_chunked_add_then_rerun(gm, tmp_path: Path, point: str, how: str) -> None:
    root = make_repo(tmp_path / "crash")
    data = data_of(1)
    write(root, "model.bin", data)
    crash(root, how, point, "add", "model.bin")
    assert (root / "model.bin").read_bytes() == data, "the crash damaged the user's file"
    assert not lists(cache_root(root)), "a chunk list was published by an add that did not finish"
    assert_sound(gm, root)

    r = gm("add", "model.bin", cwd=root)
    assert r.code == 0, r
    assert oid_of(data) in lists(cache_root(root))
    assert_sound(gm, root)
    assert rebuilt(gm, root, "model.bin") == data
    # What the crash left (a pack without its index, a temp list) is gc's to remove.
    leftovers = temps(cache_root(root)) + [p for p in (cache_root(root) / "packs").glob("*.pack")
                                           if not p.with_suffix(".idx").exists()]
    age(leftovers, 30)
    r = gm("gc", cwd=root)
    assert r.code == 0, r
    assert not [p for p in leftovers if p.exists()]
    assert_sound(gm, root)


def build_gc(root: Path, gm) -> dict[str, str]:
    """A garbage loose object, a draft whose pack nothing reaches (deleted
    whole), and a first version whose pack the last version shares only a
    sixth of (rewritten): every deleting step of gc, on chunked data."""
    write(root, "small.txt", b"garbage")
    assert gm("add", "small.txt", cwd=root).code == 0
    write(root, "small.txt", b"kept")
    draft = data_of(1)
    v1 = data_of(2)
    v2 = v1[:MiB // 2] + data_of(3, 5 * MiB // 2)
    oids = {}
    for name, data in (("draft", draft), ("v1", v1), ("v2", v2)):
        write(root, "model.bin", data)
        assert gm("add", "model.bin", "small.txt", cwd=root).code == 0
        oids[name] = oid_of(data)
    commit_without_hooks(root, "v2")
    cache = cache_root(root)
    age(list(store_objects(cache).values()) + list(lists(cache).values()), 30)  # type: ignore[arg-type]
    return oids


@pytest.mark.parametrize("how", ["kill", "raise"])
@pytest.mark.parametrize("point", GC_POINTS)
def test_crash_during_gc_of_chunked_data_then_rerun(gm, tmp_path: Path, point: str, how: str) -> None:
    root = make_repo(tmp_path / "crash")
    oids = build_gc(root, gm)
    cache = cache_root(root)
    v2_chunks = named(lists(cache)[oids["v2"]])
    dry = json.loads(gm("gc", "--keep-days", "0", "--dry-run", "--json", cwd=root).out)
    assert dry["packs_deleted"] and dry["packs_rewritten"] and dry["lists_deleted"], dry  # every step is crossed
    crash(root, how, point, "gc", "--keep-days", "0")
    assert v2_chunks <= set(store_objects(cache)), "gc deleted a reachable chunk"
    assert oids["v2"] in lists(cache)
    assert_sound(gm, root)

    r = gm("gc", "--keep-days", "0", cwd=root)
    assert r.code == 0, r
    assert set(lists(cache)) == {oids["v2"]}
    assert_sound(gm, root)
    assert rebuilt(gm, root, "model.bin") == data_of(2)[:MiB // 2] + data_of(3, 5 * MiB // 2)


REMOTE_GC_POINTS = ["gc:enumerated", "gc:before-delete", "gc:list-deleted", "gc:object-deleted", "gc:pack-deleted"]


@pytest.mark.parametrize("how", ["kill", "raise"])
@pytest.mark.parametrize("point", REMOTE_GC_POINTS)
def test_crash_during_remote_gc_of_chunked_data_then_rerun(gm, tmp_path: Path, point: str, how: str) -> None:
    root = make_repo(tmp_path / "crash")
    store = tmp_path / "store"
    assert gm("remote", "add", "storage", str(store), "--default", cwd=root).code == 0
    assert gm("push", cwd=root).code == 0
    oids = build_gc(root, gm)
    mirror(root, store)
    shutil.copytree(cache_root(root) / "objects", store / "objects", dirs_exist_ok=True)
    age(list(store_objects(store).values()) + list(lists(store).values()), 30)  # type: ignore[arg-type]
    v2_chunks = named(lists(store)[oids["v2"]])
    crash(root, how, point, "gc", "-r", "storage", "--keep-days", "0")
    assert v2_chunks <= set(store_objects(store)), "remote gc deleted a reachable chunk"
    assert_lists_complete(store)
    r = gm("fsck", "-r", "storage", cwd=root)
    assert r.code == 0, r

    r = gm("gc", "-r", "storage", "--keep-days", "0", cwd=root)
    assert r.code == 0, r
    assert set(lists(store)) == {oids["v2"]}
    assert_lists_complete(store)
    assert gm("fsck", "-r", "storage", cwd=root).code == 0
