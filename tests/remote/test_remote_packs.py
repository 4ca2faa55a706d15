"""Packs on remotes: a push sends a local pack whole, a fetch takes a remote
pack whole or reads ranges of it, every byte is verified before it is
installed, and gc -r / fsck -r read packs.  Real git repositories, a folder
remote and the real S3 server (moto on 127.0.0.1)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from gitmodel.errors import CorruptObjectError
from gitmodel.repo import Repo
from gitmodel.store import oid as oidmod
from gitmodel.transfer import fetch as transfer
from tests.support.cli import GITMODEL, gm_proc, gm_run
from tests.support.files import write_at
from tests.support.git import clone, git, make_repo
from tests.support.remote import Store, add_commit, cache_tmp, push_json, remote_of_kind
from tests.support.store import cache_oids

N = 20  # files in the folder: more than PACK_MIN_COUNT, so `add` packs them


@dataclass
class Packed:
    kind: str
    root: Path  # data/ (N small files, one pack in the cache) added, committed, remote configured
    files: dict[str, bytes]
    store: Store
    tmp: Path

    @property
    def oids(self) -> set[str]:
        return {oidmod.of_bytes(d) for d in self.files.values()}


def folder_files(seed: int = 0) -> dict[str, bytes]:
    return {f"data/f{i:02d}.bin": os.urandom(1500) + bytes([seed, i]) for i in range(N)}


@pytest.fixture(params=["local", "s3"])
def packed(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Packed:
    kind = str(request.param)
    root = make_repo(tmp_path / "origin-repo")
    monkeypatch.chdir(root)
    files = folder_files()
    for rel, data in files.items():
        write_at(root / rel, data)
    add_commit(root, paths=("data",))
    store = remote_of_kind(request, kind, root, tmp_path)
    git("add", "-A", cwd=root)
    git("commit", "-qm", "remote", cwd=root)
    return Packed(kind, root, files, store, tmp_path)


def cache_packs(root: Path) -> list[str]:
    folder = root / ".git" / "gitmodel" / "packs"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def the_pack(p: Packed) -> str:
    """The id of the one pack on the remote."""
    ids = {name[len("pack-"):].rsplit(".", 1)[0] for name in p.store.pack_files()}
    assert len(ids) == 1, p.store.pack_files()
    return ids.pop()


def corrupt_pack(p: Packed, packid: str, cut: bool = False) -> str:
    """Damage the remote pack (flip a byte of its first object, or cut it in
    half); returns an object the damage reaches."""
    entries = sorted(p.store.pack_entries(packid), key=lambda e: e[1])
    name = f"pack-{packid}.pack"
    data = bytearray(p.store.read_pack(name))
    if cut:
        half = len(data) // 2
        p.store.write_pack(name, bytes(data[:half]))
        return next(o for o, off, size in entries if off + size > half)
    data[entries[0][1] + 7] ^= 0xFF
    p.store.write_pack(name, bytes(data))
    return entries[0][0]


# -- push ---------------------------------------------------------------------------

def test_a_folder_push_sends_one_pack(packed: Packed) -> None:
    assert len(cache_packs(packed.root)) == 2  # the add made one pack (+ its index)
    report = push_json(cwd=packed.root)
    assert report["uploaded"] == N + 1  # the pack's objects and the manifest
    packid = the_pack(packed)
    assert packed.store.pack_files() == [f"pack-{packid}.idx", f"pack-{packid}.pack"]
    assert cache_packs(packed.root) == packed.store.pack_files()  # the same two files, same name
    loose = packed.store.oids()
    assert len(loose) == 1 and not (loose & packed.oids)  # only the manifest went loose
    assert {o for o, _, _ in packed.store.pack_entries(packid)} == packed.oids


def test_a_second_push_sends_nothing(packed: Packed) -> None:
    assert push_json(cwd=packed.root)["uploaded"] == N + 1
    assert push_json(cwd=packed.root)["uploaded"] == 0
    shutil.rmtree(packed.root / ".git" / "gitmodel" / "remotes")
    assert push_json(cwd=packed.root)["uploaded"] == 0
    second = push_json("--check-remote", cwd=packed.root)
    assert second["uploaded"] == 0 and second["missing"] == []
    assert packed.store.pack_files() == cache_packs(packed.root)


def test_remote_packs_count_as_present_object_by_object(packed: Packed) -> None:
    """A pointer to one packed file (not the folder) is found in the remote's index."""
    assert gm_run(["push", "-q"], cwd=packed.root).code == 0
    write_at(packed.root / "one.bin", packed.files["data/f03.bin"])
    assert gm_run(["add", "one.bin"], cwd=packed.root).code == 0
    shutil.rmtree(packed.root / ".git" / "gitmodel" / "remotes")
    report = push_json("one.bin", cwd=packed.root)
    assert report["uploaded"] == 0 and report["present"] == 1
    kept = packed.root / ".git" / "gitmodel" / "remotes" / "origin" / "packs"
    assert [p.name for p in kept.iterdir()] == [f"pack-{the_pack(packed)}.idx"]


def test_a_few_objects_of_a_pack_go_loose(packed: Packed) -> None:
    """Fewer than half of a pack wanted: those objects are sent alone, read out of the pack."""
    write_at(packed.root / "one.bin", packed.files["data/f03.bin"])
    assert gm_run(["add", "one.bin"], cwd=packed.root).code == 0
    report = push_json("one.bin", cwd=packed.root)
    assert report["uploaded"] == 1
    assert packed.store.pack_files() == []
    assert packed.store.oids() == {oidmod.of_bytes(packed.files["data/f03.bin"])}
    assert packed.store.all_intact()


def test_two_clones_push_the_same_pack_at_once(packed: Packed) -> None:
    other = clone(packed.root, packed.tmp / "clone")
    for rel, data in packed.files.items():  # the same files, added independently: the same pack
        write_at(other / rel, data)
    assert gm_run(["add", "data"], cwd=other).code == 0
    assert cache_packs(other) == cache_packs(packed.root)
    procs = [subprocess.Popen([*GITMODEL, "push", "-q"], cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for cwd in (packed.root, other)]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    packid = the_pack(packed)
    assert packed.store.pack_files() == [f"pack-{packid}.idx", f"pack-{packid}.pack"]
    assert packed.store.read_pack(f"pack-{packid}.pack") == \
        (packed.root / ".git/gitmodel/packs" / f"pack-{packid}.pack").read_bytes()
    assert packed.store.temps() == []


def test_push_killed_mid_pack_upload_then_rerun(packed: Packed) -> None:
    r = gm_proc("push", cwd=packed.root, env={"GITMODEL_FAULT": "remote:pack-before-index"})
    assert r.code == -9, r
    packid = the_pack(packed)
    assert packed.store.pack_files() == [f"pack-{packid}.pack"]  # no index: it does not count
    assert packed.store.oids() == set()  # and no manifest names its objects yet
    other = clone(packed.root, packed.tmp / "clone")
    assert gm_run(["pull"], cwd=other).code == 1 and not (other / "data").exists()
    assert push_json(cwd=packed.root)["uploaded"] == N + 1
    assert packed.store.pack_files() == [f"pack-{packid}.idx", f"pack-{packid}.pack"]
    assert gm_run(["pull"], cwd=other).code == 0
    for rel, data in packed.files.items():
        assert (other / rel).read_bytes() == data


# -- fetch ----------------------------------------------------------------------------

def test_a_clone_pulls_the_pack_whole(packed: Packed) -> None:
    assert gm_run(["push", "-q"], cwd=packed.root).code == 0
    other = clone(packed.root, packed.tmp / "clone")
    r = gm_run(["pull"], cwd=other)
    assert r.code == 0, r
    for rel, data in packed.files.items():
        assert (other / rel).read_bytes() == data
    assert cache_packs(other) == packed.store.pack_files()  # installed as the same pack
    assert not (cache_oids(other) & packed.oids)  # no loose copies
    assert cache_tmp(other) == []
    again = gm_run(["fetch", "--json"], cwd=other)
    assert again.code == 0 and json.loads(again.out)["downloaded"] == 0


def test_fetch_of_one_object_reads_a_range(packed: Packed) -> None:
    assert gm_run(["push", "-q"], cwd=packed.root).code == 0
    other = clone(packed.root, packed.tmp / "clone")
    repo = Repo.discover(str(other))
    one = oidmod.of_bytes(packed.files["data/f07.bin"])
    report = transfer.fetch_oids(repo, [one], expand=False)
    assert report.downloaded == 1 and report.downloaded_bytes == len(packed.files["data/f07.bin"])
    assert cache_oids(other) == {one}  # stored loose, verified
    assert cache_packs(other) == []  # the pack itself was not downloaded
    assert Repo.discover(str(other)).cache.read_bytes(one) == packed.files["data/f07.bin"]


@pytest.mark.parametrize("cut", [False, True], ids=["flipped-byte", "truncated"])
def test_a_damaged_remote_pack_is_refused_whole(packed: Packed, cut: bool) -> None:
    assert gm_run(["push", "-q"], cwd=packed.root).code == 0
    packid = the_pack(packed)
    bad = corrupt_pack(packed, packid, cut=cut)
    other = clone(packed.root, packed.tmp / "clone")
    r = gm_run(["pull"], cwd=other)
    assert r.code == 1, r
    assert len(r.err.strip().splitlines()) == 1, r.err
    assert bad in r.err and "remote 'origin'" in r.err and "corrupt" in r.err
    assert cache_packs(other) == [] and cache_tmp(other) == []
    assert not (cache_oids(other) & packed.oids)
    assert not (other / "data").exists()


@pytest.mark.parametrize("cut", [False, True], ids=["flipped-byte", "truncated"])
def test_a_damaged_object_read_by_range_is_refused(packed: Packed, cut: bool) -> None:
    assert gm_run(["push", "-q"], cwd=packed.root).code == 0
    bad = corrupt_pack(packed, the_pack(packed), cut=cut)
    other = clone(packed.root, packed.tmp / "clone")
    repo = Repo.discover(str(other))
    with pytest.raises(CorruptObjectError) as e:
        transfer.fetch_oids(repo, [bad], expand=False)
    assert bad in str(e.value) and "remote 'origin'" in str(e.value)
    assert cache_oids(other) == set() and cache_tmp(other) == []


# -- get, gc -r, fsck -r --------------------------------------------------------------------

def test_get_from_a_repository_whose_objects_are_packed(packed: Packed) -> None:
    out = packed.tmp / "deploy"
    out.mkdir()
    r = gm_run(["get", str(packed.root), "data"], cwd=out)  # from its own cache: a pack
    assert r.code == 0, r
    for rel, data in packed.files.items():
        assert (out / rel).read_bytes() == data
    assert gm_run(["push", "-q"], cwd=packed.root).code == 0
    other = clone(packed.root, packed.tmp / "clone")  # no objects: from the remote's pack
    r = gm_run(["get", str(other), "data", "-o", "again"], cwd=out)
    assert r.code == 0, r
    for rel, data in packed.files.items():
        assert (out / "again" / rel.split("/", 1)[1]).read_bytes() == data


def push_a_draft(p: Packed) -> dict[str, bytes]:
    """A second folder pushed (its own pack) but never committed, then dropped."""
    draft = {rel.replace("data/", "draft/"): os.urandom(900) for rel in p.files}
    for rel, data in draft.items():
        write_at(p.root / rel, data)
    assert gm_run(["add", "draft"], cwd=p.root).code == 0
    assert gm_run(["push", "-q", "draft"], cwd=p.root).code == 0
    assert len(p.store.pack_files()) == 4
    shutil.rmtree(p.root / "draft")
    (p.root / "draft.gm").unlink()
    git("rm", "-q", "--cached", "--ignore-unmatch", "draft.gm", cwd=p.root)
    return draft


def test_gc_remote_deletes_a_dead_pack_and_keeps_a_live_one(packed: Packed) -> None:
    assert gm_run(["push", "-q"], cwd=packed.root).code == 0
    live = the_pack(packed)
    draft = push_a_draft(packed)
    r = gm_run(["gc", "-r", "origin", "--keep-days", "0", "--json"], cwd=packed.root)
    assert r.code == 0, r
    report = json.loads(r.out)
    assert {d["oid"] for d in report["deleted"]} >= {oidmod.of_bytes(d) for d in draft.values()}
    assert packed.store.pack_files() == [f"pack-{live}.idx", f"pack-{live}.pack"]
    other = clone(packed.root, packed.tmp / "clone")
    assert gm_run(["pull"], cwd=other).code == 0
    assert (other / "data/f00.bin").read_bytes() == packed.files["data/f00.bin"]


def test_gc_remote_keeps_a_partly_reachable_pack_whole(packed: Packed) -> None:
    assert gm_run(["push", "-q"], cwd=packed.root).code == 0
    draft = push_a_draft(packed)
    before = packed.store.pack_files()
    write_at(packed.root / "keep.bin", draft["draft/f00.bin"])  # one object of the draft's pack stays in use
    add_commit(packed.root, "keep one", paths=("keep.bin",))
    r = gm_run(["gc", "-r", "origin", "--keep-days", "0"], cwd=packed.root)
    assert r.code == 0, r
    assert packed.store.pack_files() == before  # kept whole: 1 of its 20 objects is used
    other = clone(packed.root, packed.tmp / "clone")
    assert gm_run(["pull"], cwd=other).code == 0
    assert (other / "keep.bin").read_bytes() == draft["draft/f00.bin"]


def test_fsck_remote_finds_a_corrupt_packed_object(packed: Packed) -> None:
    assert gm_run(["push", "-q"], cwd=packed.root).code == 0
    clean = gm_run(["fsck", "-r", "origin"], cwd=packed.root)
    assert clean.code == 0 and f"checked {N + 1} objects" in clean.out, clean
    bad = corrupt_pack(packed, the_pack(packed))
    r = gm_run(["fsck", "-r", "origin"], cwd=packed.root)
    assert r.code == 1, r
    assert f"corrupt: {bad}" in r.err, r
    assert gm_run(["fsck", "-r", "origin", "data"], cwd=packed.root).code == 1
