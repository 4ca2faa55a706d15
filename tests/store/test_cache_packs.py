"""Packs in the cache: an add of many small files writes one pack and no
loose copies, re-adding the same content writes none, checkout writes packed
objects out as plain files in every link mode, the Python API reads them, and
a damaged pack index is a one-line error naming it."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import pytest

import gitmodel
from gitmodel.errors import CorruptObjectError
from tests.support.cli import assert_one_line_error
from tests.support.files import write_random_files
from tests.support.git import git, set_link
from tests.support.state import cache_state
from tests.support.store import (
    assert_objects_sound,
    cache_root,
    flip_byte,
    loose_objects,
    oid_of,
    pack_entries,
    packs,
    pointer_oid,
)


def only_pack(root: Path) -> tuple[Path, Path]:
    found = packs(cache_root(root))
    assert len(found) == 1, found
    ((pack, idx),) = found.values()
    assert idx is not None, f"{pack} has no index"
    return pack, idx


def test_add_of_a_20_file_folder_makes_one_pack_and_no_loose_objects(gm, repo: Path) -> None:
    files = write_random_files(repo, "d", 20, 1, most=5000)
    r = gm("add", "d")
    assert r.code == 0, r
    pack, idx = only_pack(repo)
    entries = pack_entries(idx)
    assert {o for o, _, _ in entries} == {oid_of(data) for data in files.values()}
    assert pack.stat().st_size == sum(size for _, _, size in entries)
    # The folder's manifest is the only loose object.
    assert set(loose_objects(repo)) == {pointer_oid(repo / "d.gm")}
    for p in (pack, idx):
        assert not p.stat().st_mode & 0o222, f"{p} is writable"
    assert_objects_sound(repo)


def test_re_adding_the_same_content_writes_no_new_pack(gm, repo: Path) -> None:
    files = write_random_files(repo, "d", 20, 1, most=5000)
    assert gm("add", "d").code == 0
    before = cache_state(repo)
    # The same bytes again, so that nothing can be skipped by the stat cache:
    # touched files, and a copy of the folder under another name.
    for rel in files:
        os.utime(repo / rel, ns=(1, 1))
    shutil.copytree(repo / "d", repo / "e")
    r = gm("add", "d", "e")
    assert r.code == 0, r
    after = cache_state(repo)
    assert [k for k in after if k.startswith("packs/")] == [k for k in before if k.startswith("packs/")]
    new = set(after) - set(before)
    # At most one new loose object: e's manifest (equal to d's when the names are).
    assert len([k for k in new if k.startswith("objects/")]) <= 1, new
    assert not [k for k in new if ".gm-tmp-" in k]


@pytest.mark.parametrize("mode", ["reflink", "hardlink", "symlink", "copy"])
def test_checkout_from_a_pack_in_every_link_mode(gm, repo: Path, mode: str) -> None:
    files = write_random_files(repo, "d", 20, 1, most=5000)
    assert gm("add", "d").code == 0
    git("commit", "-qm", "d")
    set_link(repo, mode)
    shutil.rmtree(repo / "d")
    r = gm("checkout")
    assert r.code == 0, r
    for rel, data in files.items():
        lst = (repo / rel).lstat()
        # A pack cannot be linked to: plain private files, whatever the mode.
        assert stat.S_ISREG(lst.st_mode) and lst.st_nlink == 1, (rel, mode)
        assert lst.st_mode & 0o200
        assert (repo / rel).read_bytes() == data
    assert set(loose_objects(repo)) == {pointer_oid(repo / "d.gm")}, "checkout unpacked objects into loose copies"
    r = gm("status", "--json")
    assert r.code == 0 and [s["state"] for s in json.loads(r.out)] == ["unchanged"], r


def test_api_open_and_read_bytes_of_a_packed_object(gm, repo: Path) -> None:
    files = write_random_files(repo, "d", 20, 1, most=5000)
    assert gm("add", "d").code == 0
    git("commit", "-qm", "d")
    rel, data = "d/f007.bin", files["d/f007.bin"]
    (repo / rel).unlink()  # read from the cache, not the workspace
    assert oid_of(data) in {o for o, _, _ in pack_entries(only_pack(repo)[1])}
    assert gitmodel.read_bytes(rel, repo=repo) == data
    assert gitmodel.read_bytes(rel, rev="HEAD", repo=repo) == data
    with gitmodel.open(rel, rev="HEAD", repo=repo) as f:
        assert f.read() == data
    assert set(loose_objects(repo)) == {pointer_oid(repo / "d.gm")}


def test_api_refuses_a_corrupt_packed_object(gm, repo: Path) -> None:
    files = write_random_files(repo, "d", 20, 1, most=5000)
    assert gm("add", "d").code == 0
    git("commit", "-qm", "d")
    pack, idx = only_pack(repo)
    (off, size), = [(o, s) for oid, o, s in pack_entries(idx) if oid == oid_of(files["d/f003.bin"])]
    flip_byte(pack, off)
    with pytest.raises(CorruptObjectError):
        gitmodel.open("d/f003.bin", rev="HEAD", repo=repo)
    with pytest.raises(CorruptObjectError):
        gitmodel.read_bytes("d/f003.bin", rev="HEAD", repo=repo)


def test_a_damaged_pack_index_is_a_one_line_error_naming_it(gm, repo: Path) -> None:
    write_random_files(repo, "d", 20, 1, most=5000)
    assert gm("add", "d").code == 0
    git("commit", "-qm", "d")
    _, idx = only_pack(repo)
    flip_byte(idx, 20)
    shutil.rmtree(repo / "d")
    r = gm("checkout")
    line = assert_one_line_error(r, idx.name, "damaged", "gitmodel fsck")
    assert "--repair" not in line


@pytest.mark.parametrize("slow", [False, True], ids=["one-thread", "threads"])
def test_checkout_of_thousands_of_packed_files(gm, repo: Path, slow: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """Checkout times its first files and spreads the rest over threads only
    when the kernel's creates are slow; both ways restore every byte and
    leave a stat cache that status trusts."""
    from gitmodel.workspace import checkout as workspace

    if slow:
        monkeypatch.setattr(workspace, "SLOW_CREATE", 0.0)  # every create counts as slow
    files: dict[str, bytes] = {}
    for k in range(4):
        files.update(write_random_files(repo, f"d/s{k}", 1250, seed=k, most=200))
    assert gm("add", "d").code == 0
    shutil.rmtree(repo / "d")
    r = gm("checkout")
    assert r.code == 0, r
    assert {str(p.relative_to(repo)) for p in (repo / "d").rglob("*") if p.is_file()} == set(files)
    for rel, data in files.items():
        assert (repo / rel).read_bytes() == data, rel
        mode = stat.S_IMODE((repo / rel).stat().st_mode)
        assert mode & 0o600 == 0o600 and not mode & 0o111, (rel, oct(mode))  # finished, not left at 000
    st = json.loads(gm("status", "--json").out)
    assert [s["state"] for s in st] == ["unchanged"], st
