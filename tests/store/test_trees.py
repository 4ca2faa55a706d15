"""Folder manifests as trees (store/manifest.py): one object per folder,
read back as the flat manifest's entries; old flat manifests still read;
hostile trees refused; trees moved, kept and checked like manifests."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gitmodel.errors import ObjectMissingError, PointerError
from gitmodel.store import manifest
from tests.support.cli import gm_proc, gm_run
from tests.support.git import clone, git
from tests.support.remote import add_remote
from tests.support.store import folder_files, objects, oid_of, pointer_fields, store_objects

OID = "xxh128:" + "0123456789abcdef" * 2


def _entries(paths: list[str]) -> list[manifest.Entry]:
    return [manifest.Entry(p, oid_of(p.encode()), len(p), p.endswith(".sh")) for p in paths]


def test_build_and_expand_round_trip_in_flat_path_order() -> None:
    # `a.txt` sorts before `a/`'s files in a flat manifest ('.' < '/'), and
    # `a-b` too: the trees sort a folder as `name/`, as git does.
    paths = ["a/b/c.bin", "a/d.txt", "a.txt", "a-b", "z.sh", "a/b/e/f.bin", "b/x"]
    entries = _entries(paths)
    root, below = manifest.build(entries)
    assert [prefix for prefix, _ in below] == ["a/b/e/", "a/b/", "a/", "b/"]
    objs = {oid_of(d): d for d in [*(d for _, d in below), root]}
    got, trees = manifest.expand(objs.__getitem__, oid_of(root), "m", len(paths))
    assert got == sorted(entries, key=lambda e: e.path)
    assert manifest.loads(manifest.dumps(entries), "m") == got  # the flat form lists the same, in the same order
    assert {t for t, _ in trees} == set(objs) - {oid_of(root)}
    assert max(d for _, d in trees) == 3  # a/b/e
    # Every tree is stored before the trees above it.
    order = [oid_of(d) for _, d in below]
    for _, data in below:
        for line in data.decode().splitlines()[1:]:
            o, _, mode, _ = line.split("\t")
            if mode.startswith("d"):
                assert order.index(o) < order.index(oid_of(data))


def test_expand_reads_a_flat_manifest_unchanged() -> None:
    entries = _entries(["x/y", "a"])
    data = manifest.dumps(entries)
    got, trees = manifest.expand({oid_of(data): data}.__getitem__, oid_of(data), "m", 2)
    assert got == sorted(entries, key=lambda e: e.path) and trees == []


def _tree(*lines: str) -> bytes:
    return ("\n".join(["gitmodel-tree 1", *lines]) + "\n").encode()


@pytest.mark.parametrize("line, needle", [
    (f"{OID}\t1\t644\ta/b", "malformed"),  # a name is one component
    (f"{OID}\t1\t644\t..", "unsafe"),
    (f"{OID}\t1\t644\t.git", ".git"),
    (f"{OID}\t1\t644\t.GIT", ".git"),
    (f"{OID}\t1\td0\tempty", "no files"),
    (f"{OID}\t1\t600\ta", "malformed"),
    (f"{OID}\t99999999999999999999\t644\ta", "malformed"),
])
def test_hostile_tree_lines_are_refused(line: str, needle: str) -> None:
    with pytest.raises(PointerError, match=needle):
        manifest.loads_tree(_tree(line), "manifest of d")


def test_hostile_trees_are_refused_when_expanded() -> None:
    leaf = _tree(f"{OID}\t1\t644\tf")
    leaf_oid = oid_of(leaf)
    # Duplicate names, and a file that is also a folder.
    for data in (_tree(f"{OID}\t1\t644\ta", f"{OID}\t1\t644\ta"),
                 _tree(f"{OID}\t1\t644\ta", f"{leaf_oid}\t1\td1\ta")):
        with pytest.raises(PointerError, match="duplicate"):
            manifest.expand({oid_of(data): data, leaf_oid: leaf}.__getitem__, oid_of(data), "m")
    # A subtree that says it holds more files, or more bytes, than it does.
    for line, needle in ((f"{leaf_oid}\t1\td5\tsub", "holds 1 files, but 5"),
                         (f"{leaf_oid}\t7\td1\tsub", "says 7 bytes")):
        data = _tree(line)
        with pytest.raises(PointerError, match=needle):
            manifest.expand({oid_of(data): data, leaf_oid: leaf}.__getitem__, oid_of(data), "m")
    # More files than the pointer says, before the subtrees are read.
    data = _tree(f"{leaf_oid}\t1\td1\tx", f"{leaf_oid}\t1\td1\ty")
    with pytest.raises(PointerError, match="more than 1"):
        manifest.expand({oid_of(data): data, leaf_oid: leaf}.__getitem__, oid_of(data), "m", files=1)
    # A subtree that is not there.
    data = _tree(f"{OID}\t1\td1\tgone")

    def read(o: str) -> bytes:
        if o != oid_of(data):
            raise ObjectMissingError(o)
        return data

    with pytest.raises(ObjectMissingError):
        manifest.expand(read, oid_of(data), "m", files=1)


def test_deep_nesting_is_bounded() -> None:
    objs: dict[str, bytes] = {}
    below = _tree(f"{OID}\t1\t644\tf")
    for _ in range(manifest.MAX_DEPTH + 2):
        objs[oid_of(below)] = below
        below = _tree(f"{oid_of(below)}\t1\td1\td")
    objs[oid_of(below)] = below
    with pytest.raises(PointerError, match="deeper than"):
        manifest.expand(objs.__getitem__, oid_of(below), "m")


# -- through the commands ----------------------------------------------------------

def _tracked(repo: Path) -> dict[str, bytes]:
    files = {"data/a.txt": b"a\n", "data/x/b.bin": b"\0b", "data/x/y/c.bin": b"ccc", "data/z/d": b"d"}
    for rel, data in files.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_bytes(data)
    return files


def test_add_writes_a_tree_per_folder_and_status_and_checkout_read_them(gm, repo: Path) -> None:
    files = _tracked(repo)
    assert gm("add", "data").code == 0
    root = dict(pointer_fields(repo / "data.gm"))["oid"]
    have = objects(repo)
    listed, trees = folder_files(lambda o: have[o].read_bytes(), root)
    assert listed == {rel.removeprefix("data/"): oid_of(data) for rel, data in files.items()}
    assert len(trees) == 4  # data, x, x/y, z
    assert "unchanged" in gm("status").out
    shutil.rmtree(repo / "data")
    assert gm("checkout", "data").code == 0
    assert {rel: (repo / rel).read_bytes() for rel in files} == files
    # One changed file rewrites its folder's tree and those above it only.
    (repo / "data/x/y/c.bin").write_bytes(b"changed")
    assert "modified" in gm("status").out
    assert gm("add", "data").code == 0
    have = objects(repo)
    _, trees2 = folder_files(lambda o: have[o].read_bytes(), dict(pointer_fields(repo / "data.gm"))["oid"])
    assert len(trees2 - trees) == 3 and len(trees & trees2) == 1  # z's tree is shared


def test_a_flat_manifest_from_an_older_version_still_works(gm, repo: Path, tmp_path: Path) -> None:
    """A repository written before trees: its flat manifest is read by
    status, checkout, push, pull, fsck and gc unchanged."""
    files = _tracked(repo)
    assert gm("add", "data").code == 0
    from gitmodel.repo import Repo

    cache = Repo.discover(str(repo)).cache
    entries = [manifest.Entry(rel.removeprefix("data/"), oid_of(d), len(d)) for rel, d in files.items()]
    flat = cache.add_bytes(manifest.dumps(entries))
    text = (repo / "data.gm").read_text()
    (repo / "data.gm").write_text(text.replace(dict(pointer_fields(repo / "data.gm"))["oid"], flat))
    git("add", "-A", cwd=repo)
    git("commit", "-qm", "flat", cwd=repo)
    assert "unchanged" in gm("status").out
    add_remote(repo, "local", tmp_path / "store")
    git("commit", "-qam", "remote", cwd=repo)
    assert gm("push").code == 0
    assert gm_run(["gc"], cwd=repo).code == 0
    assert gm_run(["fsck"], cwd=repo).code == 0
    other = clone(repo, tmp_path / "clone")
    r = gm_run(["pull"], cwd=other)
    assert r.code == 0, r
    assert {rel: (other / rel).read_bytes() for rel in files} == files


def test_trees_are_pushed_deepest_first_and_pulled_level_by_level(gm, repo: Path, tmp_path: Path) -> None:
    files = _tracked(repo)
    assert gm("add", "data").code == 0
    add_remote(repo, "local", tmp_path / "store")
    git("add", "-A", cwd=repo)
    git("commit", "-qm", "data", cwd=repo)
    r = gm_proc("push", cwd=repo, env={"GITMODEL_FAULT": "push:files-published"})
    assert r.code == -9, r
    store = store_objects(tmp_path / "store")
    assert not any(p.read_bytes().startswith(b"gitmodel-tree") for p in store.values())  # files first
    assert gm_run(["push"], cwd=repo).code == 0
    other = clone(repo, tmp_path / "clone")
    r = gm_run(["pull"], cwd=other)
    assert r.code == 0, r
    assert {rel: (other / rel).read_bytes() for rel in files} == files
    assert gm_run(["fsck"], cwd=other).code == 0


def test_a_missing_or_damaged_tree_is_one_line(gm, repo: Path, tmp_path: Path) -> None:
    _tracked(repo)
    assert gm("add", "data").code == 0
    root = dict(pointer_fields(repo / "data.gm"))["oid"]
    have = objects(repo)
    sub = next(o for o in folder_files(lambda o: have[o].read_bytes(), root)[1] if o != root)
    path = have[sub]
    path.chmod(0o644)
    path.write_bytes(b"gitmodel-tree 1\nnot a line\n")
    shutil.rmtree(repo / "data")
    r = gm_run(["checkout", "data"], cwd=repo)
    assert r.code == 1 and "Traceback" not in r.err and len(r.err.strip().splitlines()) == 1, r
    r = gm_run(["fsck"], cwd=repo)
    assert r.code == 1 and sub in r.out + r.err, r
    assert not path.exists()  # moved aside by fsck: now the tree is missing
    for args in (["status"], ["checkout", "data"], ["push"]):
        r = gm_run(args, cwd=repo)
        assert r.code in (0, 1) and "Traceback" not in r.err, (args, r)
    assert "not in cache" in gm_run(["status"], cwd=repo).out


def test_a_push_after_one_change_reads_and_sends_only_the_trees_on_its_way(gm, repo: Path, tmp_path: Path) -> None:
    _tracked(repo)
    assert gm("add", "data").code == 0
    add_remote(repo, "local", tmp_path / "store")
    git("add", "-A", cwd=repo)
    git("commit", "-qm", "v1", cwd=repo)
    assert gm("push").code == 0
    (repo / "data/x/y/c.bin").write_bytes(b"v2")
    assert gm("add", "data").code == 0
    import json

    r = gm_run(["push", "--json"], cwd=repo)
    assert r.code == 0, r
    # The file, the trees of x/y and x, and the root; z's tree (already
    # there) is asked about once and nothing below it is read.
    assert json.loads(r.out)["uploaded"] == 4
    other = clone(repo, tmp_path / "clone")
    git("commit", "-qam", "v2", cwd=repo)
    git("pull", "-q", str(repo), cwd=other)
    assert gm_run(["pull"], cwd=other).code == 0
    assert (other / "data/x/y/c.bin").read_bytes() == b"v2"
