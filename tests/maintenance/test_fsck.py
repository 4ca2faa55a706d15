"""fsck: re-hash, report missing and corrupt objects, move corrupt cache
objects aside so that a fetch heals them, exit 1 when anything is wrong."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.support.cli import assert_one_line_error, gm_proc
from tests.support.files import read_only, write
from tests.support.git import git
from tests.support.state import assert_unchanged, repo_state, tree_state
from tests.support.store import (
    bad_objects,
    cache_root,
    flip_byte,
    object_path,
    objects,
    oid_of,
    pack_entries,
    packs,
    pointer_oid,
    store_objects,
)


def corrupt(path: Path, data: bytes = b"bit rot") -> None:
    os.chmod(path, 0o644)
    path.write_bytes(data)
    os.chmod(path, 0o444)


@pytest.fixture
def tracked(gm, repo: Path) -> Path:
    write(repo, "model.bin", b"model bytes " * 50)
    write(repo, "data/a.txt", b"a")
    write(repo, "data/sub/b.txt", b"b")
    assert gm("add", "model.bin", "data").code == 0
    return repo


def test_clean_cache_is_all_good(gm, tracked: Path) -> None:
    r = gm("fsck")
    assert r.code == 0, r
    assert "checked 5 objects" in r.out and "all good" in r.out, r  # model, manifest, tree of sub/, 2 files


def test_corrupt_object_is_reported_and_moved_aside(gm, tracked: Path) -> None:
    oid = oid_of(b"model bytes " * 50)
    corrupt(object_path(tracked, oid))
    r = gm("fsck")
    assert r.code == 1, r
    assert f"corrupt: {oid} (model.bin)" in r.err, r
    assert "gitmodel pull" in r.err
    assert oid not in objects(tracked), "the corrupt object is still under its name"
    aside = list((cache_root(tracked) / "corrupt").rglob("*"))
    assert any(p.is_file() and p.read_bytes() == b"bit rot" for p in aside)
    # The workspace copy was not touched, and a second fsck now reports it missing.
    assert (tracked / "model.bin").read_bytes() == b"model bytes " * 50
    r2 = gm("fsck")
    assert r2.code == 1 and f"missing: {oid}" in r2.err, r2


def test_fetch_heals_what_fsck_moved_aside(gm, tracked: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    assert gm("remote", "add", "origin", str(store), "--default").code == 0
    # An independent copy: a folder remote on the cache's own filesystem
    # hard-links by default, and then shares the cache's bit rot.
    assert gm("remote", "modify", "origin", "link", "copy").code == 0
    assert gm("push").code == 0
    oid = oid_of(b"a")
    corrupt(object_path(tracked, oid))
    assert gm("fsck").code == 1
    r = gm("fetch")
    assert r.code == 0, r
    assert gm("fsck").code == 0
    assert object_path(tracked, oid).read_bytes() == b"a"


def test_corrupt_file_in_a_folder_names_its_path(gm, tracked: Path) -> None:
    corrupt(object_path(tracked, oid_of(b"b")))
    r = gm("fsck", "--json")
    assert r.code == 1, r
    data = json.loads(r.out)
    assert data["ok"] is False
    (p,) = data["problems"]
    assert p["state"] == "corrupt" and p["paths"] == ["data/sub/b.txt"] and p["moved_to"]


def test_corrupt_manifest(gm, tracked: Path) -> None:
    moid = pointer_oid(tracked / "data.gm")
    corrupt(object_path(tracked, moid), b"gitmodel-manifest 1\n")
    r = gm("fsck", "data")
    assert r.code == 1, r
    assert f"corrupt: {moid} (data)" in r.err, r


def test_paths_limit_the_check(gm, tracked: Path) -> None:
    corrupt(object_path(tracked, oid_of(b"a")))
    r = gm("fsck", "model.bin")
    assert r.code == 0, r
    assert "checked 1 object " in r.out
    r = gm("fsck", "data")
    assert r.code == 1 and "data/a.txt" in r.err, r


def test_missing_object_of_a_workspace_pointer(gm, tracked: Path) -> None:
    oid = oid_of(b"a")
    path = object_path(tracked, oid)
    path.unlink()
    r = gm("fsck")
    assert r.code == 1, r
    assert f"missing: {oid} (data/a.txt)" in r.err


def test_unreferenced_objects_are_checked_too(gm, tracked: Path) -> None:
    write(tracked, "model.bin", b"second version")
    assert gm("add", "model.bin").code == 0
    old = oid_of(b"model bytes " * 50)  # no pointer names it any more
    corrupt(object_path(tracked, old))
    r = gm("fsck")
    assert r.code == 1 and f"corrupt: {old}" in r.err, r


def test_bad_workspace_pointer_is_reported_not_fatal(gm, tracked: Path) -> None:
    (tracked / "model.bin.gm").write_text("version gitmodel/1\noid nonsense\n")
    r = gm("fsck")
    assert r.code == 1, r
    assert "bad pointer" in r.err and "model.bin.gm" in r.err
    assert "checked 5 objects" in r.out  # everything else was still checked


def test_hardlinked_workspace_write_is_caught(gm, repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Root (or a tool that ignores read-only bits) writing into a file that
    is hard-linked to its cache object corrupts the object: fsck catches it,
    puts it aside, and a checkout can no longer spread it."""
    monkeypatch.setenv("GITMODEL_LINK", "hardlink")
    write(repo, "w.bin", b"original")
    assert gm("add", "w.bin").code == 0
    oid = oid_of(b"original")
    assert os.stat(repo / "w.bin").st_ino == os.stat(object_path(repo, oid)).st_ino
    with open(repo / "w.bin", "r+b") as f:  # root ignores the read-only bit
        f.write(b"ORIGINAL")
    r = gm("fsck")
    assert r.code == 1 and f"corrupt: {oid}" in r.err, r
    st = gm("status")
    assert "modified" in st.out or "not in cache" in st.out, st


def test_bit_rot_under_a_hardlinked_file_is_not_hidden_by_the_stat_cache(gm, repo: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Bit rot changes bytes, not the stat: once fsck has found the object
    corrupt, status must hash the hard-linked workspace file again instead
    of trusting the stat cache's old answer."""
    import time

    from gitmodel.repo import Repo
    from gitmodel.store import statcache

    monkeypatch.setenv("GITMODEL_LINK", "hardlink")
    write(repo, "w.bin", b"original")
    assert gm("add", "w.bin").code == 0
    good = oid_of(b"original")
    with open(object_path(repo, good), "r+b") as f:  # the disk flips bits...
        f.write(b"ORIGINAL")
    time.sleep(statcache.RACY_NS / 1e9 + 0.05)
    # ...which no stat shows: the stat cache still vouches for the old content.
    sc = Repo.discover(str(repo)).statcache
    sc.record_many([(os.stat(repo / "w.bin"), good)])
    sc.close()
    assert "unchanged" in gm("status").out
    # The shard folder cannot be written (so the object cannot be moved
    # aside, which would change the shared inode's ctime): only forgetting
    # the hint makes status look at the bytes again.
    with read_only(object_path(repo, good).parent):
        r = gm("fsck")
        assert r.code == 1 and "could not move it aside" in r.err, r
        r = gm("status")
    assert "unchanged" not in r.out, r


def test_moving_aside_clears_completeness_marks(gm, tracked: Path) -> None:
    corrupt(object_path(tracked, oid_of(b"a")))
    assert gm("fsck").code == 1
    r = gm("status", "--json")
    (d,) = [s for s in json.loads(r.out) if s["path"] == "data"]
    assert d["in_cache"] is False, r


def test_fsck_changes_nothing_when_all_is_well(gm, tracked: Path) -> None:
    before = repo_state(tracked)
    assert gm("fsck").code == 0
    assert_unchanged(tracked, before)


def test_unknown_path_is_one_line(gm, tracked: Path) -> None:
    before = repo_state(tracked)
    assert_one_line_error(gm("fsck", "nope.bin"), "nope.bin")
    assert_unchanged(tracked, before)


# -- remote ----------------------------------------------------------------------------

@pytest.fixture
def pushed(gm, tracked: Path, tmp_path: Path) -> Path:
    store = tmp_path / "store"
    assert gm("remote", "add", "origin", str(store), "--default").code == 0
    assert gm("remote", "modify", "origin", "link", "copy").code == 0
    r = gm("push")
    assert r.code == 0, r
    return store


def test_remote_clean(gm, tracked: Path, pushed: Path) -> None:
    r = gm("fsck", "-r", "origin")
    assert r.code == 0, r
    assert "checked 5 objects" in r.out, r


def test_remote_corrupt_and_missing_are_reported_and_left_alone(gm, tracked: Path, pushed: Path) -> None:
    objs = store_objects(pushed)
    bad, gone = oid_of(b"a"), oid_of(b"model bytes " * 50)
    corrupt(objs[bad])
    objs[gone].unlink()
    before = tree_state(pushed, skip_git=False)
    r = gm("fsck", "-r", "origin")
    assert r.code == 1, r
    assert f"corrupt: {bad} (data/a.txt)" in r.err and f"missing: {gone} (model.bin)" in r.err, r
    assert tree_state(pushed, skip_git=False) == before, "remote fsck changed the remote"
    assert bad in objects(tracked), "remote fsck touched the local cache"


def test_remote_paths(gm, tracked: Path, pushed: Path) -> None:
    corrupt(store_objects(pushed)[oid_of(b"a")])
    assert gm("fsck", "-r", "origin", "model.bin").code == 0
    assert gm("fsck", "-r", "origin", "data").code == 1


def test_remote_unknown_name(gm, tracked: Path) -> None:
    assert_one_line_error(gm("fsck", "-r", "nope"), "nope")


def test_in_a_linked_worktree(gm, tracked: Path, tmp_path: Path) -> None:
    git("add", "-A", cwd=tracked)
    git("commit", "-q", "--no-verify", "-m", "c", cwd=tracked)
    wt = tmp_path / "wt"
    git("worktree", "add", "-q", str(wt), "-b", "wt", cwd=tracked)
    r = gm("fsck", cwd=wt)
    assert "checked 5 objects" in r.out, r


def test_hardlinked_folder_remote_shares_the_flip_byte(gm, tracked: Path, tmp_path: Path) -> None:
    """A folder remote that hard-links to the cache (the remotes' `auto` on
    one filesystem) is no backup against a corrupted cache object: fsck -r
    must say so rather than vouch for the remote."""
    store = tmp_path / "store"
    assert gm("remote", "add", "origin", str(store), "--default").code == 0
    assert gm("remote", "modify", "origin", "link", "hardlink").code == 0
    assert gm("push").code == 0
    oid = oid_of(b"a")
    if os.stat(store_objects(store)[oid]).st_ino != os.stat(object_path(tracked, oid)).st_ino:
        pytest.skip("the folder remote did not hard-link here")
    corrupt(object_path(tracked, oid))
    r = gm("fsck", "-r", "origin")
    assert r.code == 1 and f"corrupt: {oid}" in r.err, r


# -- packs -------------------------------------------------------------------------------

def packed_folder(gm, root: Path, n: int = 20) -> dict[str, bytes]:
    files = {f"d/f{i:02}.bin": f"packed {i} ".encode() * 40 for i in range(n)}
    for rel, data in files.items():
        write(root, rel, data)
    assert gm("add", "d").code == 0
    git("add", "-A", cwd=root)
    git("commit", "-qm", "d", cwd=root)
    return files


def the_pack(root: Path) -> tuple[str, Path, Path]:
    found = packs(cache_root(root))
    assert len(found) == 1, found
    ((packid, (pack, idx)),) = found.items()
    assert idx is not None
    return packid, pack, idx


def test_packed_objects_are_checked(gm, repo: Path) -> None:
    packed_folder(gm, repo)
    r = gm("fsck")
    assert r.code == 0 and "checked 21 objects" in r.out and "all good" in r.out, r


def test_corrupt_packed_object_is_reported_and_dropped_from_its_pack(gm, repo: Path) -> None:
    files = packed_folder(gm, repo)
    old_id, pack, idx = the_pack(repo)
    bad = oid_of(files["d/f05.bin"])
    ((off, _),) = [(o, s) for oid, o, s in pack_entries(idx) if oid == bad]
    flip_byte(pack, off + 3)
    r = gm("fsck")
    assert r.code == 1, r
    assert f"corrupt: {bad} (d/f05.bin)" in r.err and "gitmodel pull" in r.err, r
    # A new pack without it; the old one kept aside as evidence.
    new_id, _, new_idx = the_pack(repo)
    assert new_id != old_id
    assert {o for o, _, _ in pack_entries(new_idx)} == {oid_of(d) for rel, d in files.items() if rel != "d/f05.bin"}
    assert not pack.exists() and not idx.exists()
    assert list((cache_root(repo) / "corrupt" / "packs").glob(f"pack-{old_id}.pack.*"))
    assert not bad_objects(cache_root(repo))
    r = gm("fsck")
    assert r.code == 1 and f"missing: {bad} (d/f05.bin)" in r.err, r
    assert (repo / "d/f05.bin").read_bytes() == files["d/f05.bin"], "the workspace copy is untouched"


def test_fetch_restores_what_fsck_dropped_from_a_pack(gm, repo: Path, tmp_path: Path) -> None:
    files = packed_folder(gm, repo)
    assert gm("remote", "add", "origin", str(tmp_path / "store"), "--default").code == 0
    assert gm("remote", "modify", "origin", "link", "copy").code == 0  # its own bytes, not the cache's inode
    assert gm("push").code == 0
    _, pack, idx = the_pack(repo)
    bad = oid_of(files["d/f11.bin"])
    ((off, _),) = [(o, s) for oid, o, s in pack_entries(idx) if oid == bad]
    flip_byte(pack, off)
    assert gm("fsck").code == 1
    r = gm("fetch")
    assert r.code == 0, r
    r = gm("fsck")
    assert r.code == 0, r
    assert objects(repo)[bad].read_bytes() == files["d/f11.bin"]


def test_fsck_with_paths_checks_the_packed_objects_they_use(gm, repo: Path) -> None:
    write(repo, "model.bin", b"model")
    assert gm("add", "model.bin").code == 0
    files = packed_folder(gm, repo)
    _, pack, idx = the_pack(repo)
    bad = oid_of(files["d/f02.bin"])
    ((off, _),) = [(o, s) for oid, o, s in pack_entries(idx) if oid == bad]
    flip_byte(pack, off)
    assert gm("fsck", "model.bin").code == 0
    r = gm("fsck", "d")
    assert r.code == 1 and f"corrupt: {bad} (d/f02.bin)" in r.err, r


def test_damaged_pack_index_is_reported_and_moved_aside(gm, repo: Path) -> None:
    files = packed_folder(gm, repo)
    packid, pack, idx = the_pack(repo)
    flip_byte(idx, 40)
    r = gm("fsck")
    assert r.code == 1, r
    assert "bad pack: " in r.err and idx.name in r.err and "damaged" in r.err, r
    assert not idx.exists() and not pack.exists()
    aside = cache_root(repo) / "corrupt" / "packs"
    assert list(aside.glob(f"pack-{packid}.idx.*")) and list(aside.glob(f"pack-{packid}.pack.*"))
    # Its objects now count as missing (a fetch would bring them back), and
    # every other command works again.
    assert f"missing: {oid_of(files['d/f00.bin'])} (d/f00.bin)" in r.err, r
    r = gm("status")
    assert r.code == 0, r


@pytest.mark.parametrize("point", ["pack:before-index", "fsck:pack-rewritten", "fsck:moved-aside"])
def test_kill_while_fsck_rewrites_a_pack_then_rerun(gm, repo: Path, point: str) -> None:
    files = packed_folder(gm, repo)
    _, pack, idx = the_pack(repo)
    bad = oid_of(files["d/f09.bin"])
    ((off, _),) = [(o, s) for oid, o, s in pack_entries(idx) if oid == bad]
    flip_byte(pack, off)
    r = gm_proc("fsck", cwd=repo, env={"GITMODEL_FAULT": point})
    assert r.code == -9, r
    # No good object lost on the way (both packs may exist for a moment).
    have = objects(repo)
    assert {oid_of(d) for rel, d in files.items() if rel != "d/f09.bin"} <= set(have)
    r = gm("fsck")
    assert r.code == 1 and (f"corrupt: {bad}" in r.err or f"missing: {bad}" in r.err), r
    r = gm("fsck")
    assert r.code == 1 and f"missing: {bad} (d/f09.bin)" in r.err and "corrupt: " not in r.err, r
    assert not bad_objects(cache_root(repo)) and len(packs(cache_root(repo))) == 1
