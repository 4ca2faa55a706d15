"""gc, remote gc and fsck on files stored as chunks: a chunked file's bytes
are the objects its chunk list names, which gc must keep while the list is
kept, delete only after the list, and fsck must check by rebuilding the file.

Files of 2-4 MiB are chunked with GITMODEL_CHUNK_THRESHOLD=1MiB.  A folder
remote shares the cache's layout (packs/, chunked/), so a remote holding
chunked files is the cache's packs and lists copied there."""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path

import pytest

from tests.support.cli import assert_one_line_error, run_cli, without_permission_override
from tests.support.files import write
from tests.support.git import commit_without_hooks
from tests.support.store import age, cache_root, flip_byte, oid_of, pack_entries, packs, store_objects

MiB = 1 << 20


@pytest.fixture(autouse=True)
def _small_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITMODEL_CHUNK_THRESHOLD", "1MiB")


def data_of(seed: int, size: int = 3 * MiB) -> bytes:
    return random.Random(seed).randbytes(size)


def track(gm, root: Path, rel: str, data: bytes) -> str:
    write(root, rel, data)
    r = gm("add", rel, cwd=root)
    assert r.code == 0, r
    return oid_of(data)


def lists(store: Path) -> dict[str, Path]:
    """The chunk lists of a store (cache or folder remote): {file oid: path}."""
    base = store / "chunked"
    return {f"{a.name}:{s.name}{f.name}": f for a in base.iterdir() for s in a.iterdir() for f in s.iterdir()
            if not f.name.startswith(".gm-tmp-")} if base.is_dir() else {}


def named(path: Path) -> set[str]:
    """The stored objects a chunk list names (its chains), read from its text."""
    return {o for line in path.read_text().splitlines()[2:] for o in line.split(" ")[2].split(",")}


def assert_lists_complete(store: Path) -> None:
    """No chunk list names an object the store lacks."""
    have = store_objects(store)
    for oid, path in lists(store).items():
        lacking = named(path) - set(have)
        assert not lacking, f"the chunk list of {oid} names {len(lacking)} missing object(s)"


def age_store(store: Path, days: float = 30) -> None:
    age(list(store_objects(store).values()) + list(lists(store).values()), days)  # type: ignore[arg-type]


def mirror(root: Path, store: Path) -> None:
    """Put the cache's packs and chunk lists on a folder remote as they are."""
    for sub in ("packs", "chunked"):
        shutil.copytree(cache_root(root) / sub, store / sub, dirs_exist_ok=True)


def rebuilt(gm, root: Path, rel: str) -> bytes:
    (root / rel).unlink()
    r = gm("checkout", rel, cwd=root)
    assert r.code == 0, r
    return (root / rel).read_bytes()


# -- local gc ---------------------------------------------------------------------------

def test_gc_keeps_every_chunk_of_a_reachable_chunked_file(gm, repo: Path) -> None:
    data = data_of(1)
    oid = track(gm, repo, "model.bin", data)
    commit_without_hooks(repo, "v1")
    cache = cache_root(repo)
    assert oid in lists(cache) and oid not in store_objects(cache), "not stored as chunks"
    before = set(store_objects(cache))
    age_store(cache)
    r = gm("gc", "--keep-days", "0", "--json")
    assert r.code == 0, r
    assert json.loads(r.out)["deleted"] == []
    assert set(store_objects(cache)) == before
    assert_lists_complete(cache)
    assert rebuilt(gm, repo, "model.bin") == data


def test_gc_deletes_an_unreachable_chunk_list_and_then_its_chunks(gm, repo: Path) -> None:
    draft = track(gm, repo, "model.bin", data_of(1))  # replaced before any commit: garbage
    final = track(gm, repo, "model.bin", data_of(2))
    commit_without_hooks(repo, "v1")
    cache = cache_root(repo)
    draft_chunks = named(lists(cache)[draft])
    age_store(cache)
    r = gm("gc", "--keep-days", "0", "--json")
    assert r.code == 0, r
    report = json.loads(r.out)
    assert report["lists_deleted"] == [draft]
    assert draft in {d["oid"] for d in report["deleted"]}
    assert len(report["packs_deleted"]) == 1, report  # the draft's pack: none of it is reachable
    left = lists(cache)
    assert draft not in left and final in left
    assert not draft_chunks & set(store_objects(cache))
    assert_lists_complete(cache)
    assert rebuilt(gm, repo, "model.bin") == data_of(2)
    assert gm("fsck").code == 0


def test_gc_keeps_chunks_two_versions_share(gm, repo: Path) -> None:
    v1 = data_of(1)
    v2 = v1[:MiB] + data_of(9, 100_000) + v1[MiB:]  # an insertion: most chunks are the same
    old = track(gm, repo, "model.bin", v1)
    new = track(gm, repo, "model.bin", v2)
    commit_without_hooks(repo, "v2")
    cache = cache_root(repo)
    shared = named(lists(cache)[old]) & named(lists(cache)[new])
    assert len(shared) > 10, "FastCDC should have kept most chunks"
    age_store(cache)
    r = gm("gc", "--keep-days", "0")
    assert r.code == 0, r
    assert old not in lists(cache)
    assert shared <= set(store_objects(cache))
    assert_lists_complete(cache)
    assert rebuilt(gm, repo, "model.bin") == v2


def test_a_young_chunk_list_keeps_its_chunks_however_old_they_are(gm, repo: Path) -> None:
    draft = track(gm, repo, "model.bin", data_of(1))
    track(gm, repo, "model.bin", data_of(2))
    commit_without_hooks(repo, "v1")
    cache = cache_root(repo)
    age(list(store_objects(cache).values()), 30)  # type: ignore[arg-type]  # the packs are old, the lists new
    r = gm("gc", "--json")
    assert r.code == 0, r
    assert json.loads(r.out)["deleted"] == []
    assert draft in lists(cache)
    assert_lists_complete(cache)


def test_storing_a_chunked_file_again_restarts_its_grace_period(gm, repo: Path) -> None:
    draft = track(gm, repo, "model.bin", data_of(1))
    track(gm, repo, "model.bin", data_of(2))
    commit_without_hooks(repo, "v1")
    cache = cache_root(repo)
    age_store(cache)
    track(gm, repo, "other.bin", data_of(1))  # the draft's bytes again, work in progress
    r = gm("gc", "--json")  # the default 14 days
    assert r.code == 0, r
    assert draft in lists(cache)
    assert_lists_complete(cache)


def test_a_damaged_chunk_list_still_keeps_every_object_it_names(gm, repo: Path) -> None:
    oid = track(gm, repo, "model.bin", data_of(1))
    commit_without_hooks(repo, "v1")
    cache = cache_root(repo)
    path = lists(cache)[oid]
    chunks = named(path)
    os.chmod(path, 0o644)
    path.write_text("garbled\n" + path.read_text()[40:].replace(" ", "  "))  # parses no more
    age_store(cache)
    r = gm("gc", "--keep-days", "0")
    assert r.code == 0, r
    assert chunks <= set(store_objects(cache))


def test_a_chunk_list_gc_cannot_read_stops_every_deletion(gm, repo: Path, tmp_path: Path) -> None:
    oid = track(gm, repo, "model.bin", data_of(1))
    write(repo, "garbage.bin", b"garbage")
    assert gm("add", "garbage.bin").code == 0
    (repo / "garbage.bin.gm").unlink()
    commit_without_hooks(repo, "v1")
    cache = cache_root(repo)
    path = lists(cache)[oid]
    moved = tmp_path / "elsewhere"
    shutil.move(path, moved)
    os.symlink(moved, path)  # a symlink is never read through
    age_store(cache)
    before = set(store_objects(cache))
    r = gm("gc", "--keep-days", "0")
    assert_one_line_error(r, "nothing deleted")
    assert "chunk list" in r.err, r
    assert set(store_objects(cache)) == before


def test_inventory_knows_chunk_lists_and_their_leftovers(gm, repo: Path) -> None:
    from gitmodel.repo import Repo
    from gitmodel.store.inventory import scan_cache

    oid = track(gm, repo, "model.bin", data_of(1))
    shard = lists(cache_root(repo))[oid].parent
    temp = shard / ".gm-tmp-123-abcdef"  # a chunk list write killed before its rename
    temp.write_bytes(b"gitmodel-chunks 1\n")
    inv = scan_cache(Repo.discover(str(repo)).cache)
    assert [s.oid for s in inv.lists] == [oid]
    assert inv.lists[0].size == lists(cache_root(repo))[oid].stat().st_size
    assert str(temp) in [t.path for t in inv.temps]
    assert oid not in {s.oid for s in inv.objects}
    age([temp], 30)
    r = gm("gc")
    assert r.code == 0 and "1 stale temp file" in r.out, r
    assert not temp.exists() and oid in lists(cache_root(repo))


def test_gc_dry_run_names_the_chunk_lists_it_would_delete(gm, repo: Path) -> None:
    draft = track(gm, repo, "model.bin", data_of(1))
    track(gm, repo, "model.bin", data_of(2))
    commit_without_hooks(repo, "v1")
    age_store(cache_root(repo))
    r = gm("gc", "--keep-days", "0", "--dry-run")
    assert r.code == 0, r
    assert f"would delete {draft[7:17]}" in r.out, r
    assert draft in lists(cache_root(repo))


# -- remote gc ----------------------------------------------------------------------------

@pytest.fixture
def remote(gm, repo: Path, tmp_path: Path) -> Path:
    store = tmp_path / "store"
    assert gm("remote", "add", "storage", str(store), "--default").code == 0
    assert gm("push").code == 0  # nothing to push yet: the remote's layout and records
    return store


def test_remote_gc_keeps_the_chunks_of_reachable_lists_and_deletes_the_rest_list_first(
        gm, repo: Path, remote: Path) -> None:
    draft = track(gm, repo, "model.bin", data_of(1))
    final = track(gm, repo, "model.bin", data_of(2))
    commit_without_hooks(repo, "v1")
    mirror(repo, remote)
    draft_chunks = named(lists(remote)[draft])
    age_store(remote)
    r = gm("gc", "-r", "storage", "--keep-days", "0", "--json")
    assert r.code == 0, r
    report = json.loads(r.out)
    assert report["lists_deleted"] == [draft]
    assert draft not in lists(remote) and final in lists(remote)
    assert not draft_chunks & set(store_objects(remote))
    assert_lists_complete(remote)
    assert draft in lists(cache_root(repo)), "remote gc touched the local cache"


def test_remote_gc_keeps_a_young_unreachable_list_with_its_chunks(gm, repo: Path, remote: Path) -> None:
    draft = track(gm, repo, "model.bin", data_of(1))
    track(gm, repo, "model.bin", data_of(2))
    commit_without_hooks(repo, "v1")
    mirror(repo, remote)
    age(list(store_objects(remote).values()), 30)  # type: ignore[arg-type]
    r = gm("gc", "-r", "storage")
    assert r.code == 0, r
    assert draft in lists(remote)
    assert_lists_complete(remote)


def test_remote_gc_reads_the_remote_list_not_the_caches(gm, repo: Path, remote: Path) -> None:
    """Another clone may have pushed a list of the same file naming other
    chunks: what the remote's list names is what the remote needs."""
    oid = track(gm, repo, "model.bin", data_of(1))
    commit_without_hooks(repo, "v1")
    mirror(repo, remote)
    extra = b"a chunk only the remote's list names"
    xo = oid_of(extra)
    loose = remote / "objects" / "xxh128" / xo[7:9] / xo[9:]
    loose.parent.mkdir(parents=True, exist_ok=True)
    loose.write_bytes(extra)
    path = lists(remote)[oid]
    os.chmod(path, 0o644)
    path.write_text(path.read_text().replace("\n", f"\n# {xo}\n", 1))
    age_store(remote)
    r = gm("gc", "-r", "storage", "--keep-days", "0")
    assert r.code == 0, r
    assert loose.exists()


def test_remote_gc_refuses_when_a_reachable_list_cannot_be_read(gm, repo: Path, remote: Path) -> None:
    oid = track(gm, repo, "model.bin", data_of(1))
    commit_without_hooks(repo, "v1")
    mirror(repo, remote)
    age_store(remote)
    os.chmod(lists(remote)[oid], 0)  # listed, but not readable (root too: the child drops its override)
    before = set(store_objects(remote))
    preexec = without_permission_override if os.geteuid() == 0 else None
    r = run_cli(["gc", "-r", "storage", "--keep-days", "0"], repo, preexec=preexec)
    assert_one_line_error(r, "nothing deleted")
    assert f"the chunk list of {oid}" in r.err, r
    assert set(store_objects(remote)) == before


# -- fsck ----------------------------------------------------------------------------------

def chunk_in_pack(root: Path, oid: str) -> tuple[Path, int]:
    """(pack, offset) of the first stored chunk of a chunked file."""
    first = next(iter(sorted(named(lists(cache_root(root))[oid]))))
    for pack, idx in packs(cache_root(root)).values():
        for o, off, _ in pack_entries(idx):  # type: ignore[arg-type]
            if o == first:
                return pack, off
    raise AssertionError("chunk not packed")


def test_fsck_rebuilds_and_verifies_a_chunked_file(gm, repo: Path) -> None:
    track(gm, repo, "model.bin", data_of(1))
    r = gm("fsck", "--json")
    assert r.code == 0, r
    report = json.loads(r.out)
    n = len(store_objects(cache_root(repo)))
    assert report["checked"] == n + 1 and report["checked_bytes"] > 2 * 3 * MiB - 1, report  # chunks, then the file
    assert gm("fsck", "model.bin").code == 0


def test_fsck_names_the_file_of_a_corrupt_chunk_and_sets_its_list_aside(gm, repo: Path) -> None:
    oid = track(gm, repo, "model.bin", data_of(1))
    pack, off = chunk_in_pack(repo, oid)
    flip_byte(pack, off + 10)
    r = gm("fsck")
    assert r.code == 1, r
    assert f"corrupt: {oid}" in r.err or f"missing: {oid} (model.bin)" in r.err, r
    assert "(model.bin (a chunk))" in r.err, r
    assert oid not in lists(cache_root(repo)), "the list of a broken file still says it is complete"
    assert list((cache_root(repo) / "corrupt" / "chunked").iterdir())
    assert_lists_complete(cache_root(repo))
    r2 = gm("fsck")
    assert r2.code == 1 and f"missing: {oid} (model.bin): not in the cache" in r2.err, r2
    assert (repo / "model.bin").read_bytes() == data_of(1), "fsck touched the workspace"
    # The workspace copy is sound: adding it again heals the cache.
    assert gm("add", "model.bin").code == 0
    assert gm("fsck").code == 0
    assert rebuilt(gm, repo, "model.bin") == data_of(1)


def test_fsck_reports_a_missing_chunk_by_its_file(gm, repo: Path) -> None:
    oid = track(gm, repo, "model.bin", data_of(1))
    for pack, idx in packs(cache_root(repo)).values():
        assert idx is not None
        idx.unlink()
        pack.unlink()
    r = gm("fsck", "model.bin")
    assert r.code == 1, r
    assert f"missing: {oid} (model.bin):" in r.err and "of its chunks are not in the cache" in r.err, r
    assert oid not in lists(cache_root(repo))


def test_fsck_catches_a_list_whose_chunks_rebuild_another_file(gm, repo: Path) -> None:
    oid = track(gm, repo, "model.bin", data_of(1))
    path = lists(cache_root(repo))[oid]
    head, first, second, *rest = path.read_text().splitlines(keepends=True)[1:]
    os.chmod(path, 0o644)
    path.write_text("gitmodel-chunks 1\n" + head + second + first + "".join(rest))  # sizes still add up
    r = gm("fsck")
    assert r.code == 1, r
    assert f"corrupt: {oid} (model.bin)" in r.err and "rebuild a different file" in r.err, r
    assert oid not in lists(cache_root(repo))


def test_fsck_reports_an_unparsable_list(gm, repo: Path) -> None:
    oid = track(gm, repo, "model.bin", data_of(1))
    path = lists(cache_root(repo))[oid]
    os.chmod(path, 0o644)
    path.write_bytes(path.read_bytes().replace(b"file ", b"fi le ", 1))
    r = gm("fsck")
    assert r.code == 1, r
    assert f"corrupt: {oid} (model.bin): its chunk list is not valid" in r.err, r
    assert len(r.err.splitlines()) == 2, r  # the problem and its hint


def test_fsck_remote_checks_the_remotes_chunk_lists(gm, repo: Path, remote: Path) -> None:
    oid = track(gm, repo, "model.bin", data_of(1))
    mirror(repo, remote)
    r = gm("fsck", "-r", "storage")
    assert r.code == 0, r
    assert gm("fsck", "-r", "storage", "model.bin").code == 0
    # A chunk the remote's list names is gone from the remote.
    first = min(named(lists(remote)[oid]))
    for pack, idx in packs(remote).values():
        assert idx is not None
        if first in {o for o, _, _ in pack_entries(idx)}:
            idx.unlink()
            pack.unlink()
    r = gm("fsck", "-r", "storage", "model.bin")
    assert r.code == 1, r
    assert f"missing: {oid} (model.bin): " in r.err and "of its chunks are missing or corrupt" in r.err, r


def test_fsck_remote_reports_a_bad_remote_list(gm, repo: Path, remote: Path) -> None:
    oid = track(gm, repo, "model.bin", data_of(1))
    mirror(repo, remote)
    path = lists(remote)[oid]
    path.write_bytes(path.read_bytes()[:-30])
    r = gm("fsck", "-r", "storage")
    assert r.code == 1, r
    assert f"corrupt: {oid} (model.bin): chunk list:" in r.err, r


def _fetch_knows_chunk_lists() -> bool:
    from gitmodel.transfer import fetch

    return hasattr(fetch, "DAMAGED_LIST")  # the transfer of chunked files (issue 15, item 2)


@pytest.mark.skipif(not _fetch_knows_chunk_lists(), reason="needs fetch of chunked files")
def test_fetch_heals_a_chunked_file_fsck_set_aside(gm, repo: Path, remote: Path) -> None:
    """fsck moves the corrupt chunk and the file's list aside; the next
    fetch downloads the missing chunk and a good list from the remote."""
    oid = track(gm, repo, "model.bin", data_of(1))
    mirror(repo, remote)  # an independent copy of the packs and the list
    pack, off = chunk_in_pack(repo, oid)
    flip_byte(pack, off + 10)
    assert gm("fsck").code == 1
    assert oid not in lists(cache_root(repo))
    r = gm("fetch")
    assert r.code == 0, r
    assert oid in lists(cache_root(repo))
    assert gm("fsck").code == 0
    assert rebuilt(gm, repo, "model.bin") == data_of(1)
