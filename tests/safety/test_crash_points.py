"""Crash safety: an exception raised, or the process SIGKILLed, at each named
point of add and checkout; then a rerun.  After the crash every object under
its final name hashes to that name, the user's files are intact byte for byte
and nothing half-written sits under a user's name; the rerun succeeds and
leaves exactly what a clean run leaves."""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest

from tests.support.cli import gm_proc
from tests.support.git import git, make_repo, set_link
from tests.support.state import index, tree_state
from tests.support.store import assert_objects_sound, cache_root, folder_files, objects, oid_of, packs

# data/ (26 small files) goes into one pack; m.bin (a single small file) loose;
# big.bin streams: every path of add's store step is crossed.
ADD_POINTS = ["cache:pack-filled", "pack:before-index", "cache:temps-written", "cache:object-renamed",
              "cache:large-before-rename", "cache:batch-pack-published", "add:objects-stored",
              "add:manifest-stored", "add:pointer-written", "add:before-stage"]
PATHS = ["data", "m.bin", "big.bin"]


def user_files() -> dict[str, bytes]:
    """The same content every time, so a crashed repository can be compared
    with a clean one."""
    from gitmodel.store import cache

    rnd = random.Random(1234)
    files = {f"data/f{i:02}.bin": rnd.randbytes(rnd.randrange(1, 3000)) for i in range(24)}
    files["data/sub/deep.txt"] = b"deep\n"
    files["data/same.bin"] = files["data/f00.bin"]  # a duplicate within one batch
    files["m.bin"] = rnd.randbytes(4000)
    files["big.bin"] = rnd.randbytes(cache.SMALL + 4321)  # takes the streaming path
    return files


def build(root: Path) -> dict[str, bytes]:
    files = user_files()
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return files


def crash(gm, monkeypatch: pytest.MonkeyPatch, how: str, point: str, root: Path, *args: str) -> None:
    if how == "kill":
        r = gm_proc(*args, cwd=root, env={"GITMODEL_FAULT": point})
        assert r.code == -9, r  # died of SIGKILL at the point
    else:
        with monkeypatch.context() as m:
            m.setenv("GITMODEL_FAULT", point)
            m.setenv("GITMODEL_FAULT_MODE", "raise")
            r = gm(*args, cwd=root)
        assert r.code == 3 and "GITMODEL_DEBUG" in r.err, r


def assert_pointers_sound(root: Path) -> None:
    """Objects before manifests before pointers: any pointer that exists
    names an object that exists, and a folder's manifest names only objects
    that exist."""
    from gitmodel.store import pointer

    have = objects(root)
    for p in root.rglob("*.gm"):
        ptr = pointer.read(str(p))
        assert ptr.oid in have, f"{p} names an object that is not in the cache"
        if ptr.is_dir:
            files, trees = folder_files(lambda o: have[o].read_bytes(), ptr.oid)
            for path, oid in files.items():
                assert oid in have, f"{p}: {path} is not in the cache"
            assert trees <= set(have)


def assert_no_temp_in_worktree(root: Path) -> None:
    assert not [p for p in tree_state(root) if ".gm-tmp-" in p]


_CLEAN: dict[str, tuple[object, ...]] = {}


def clean_result(gm, tmp_path: Path) -> tuple[object, ...]:
    """What `gitmodel add` leaves when nothing goes wrong (work tree, index,
    objects: none depends on where the repository is), computed once."""
    if "add" not in _CLEAN:
        clean = make_repo(tmp_path / "clean")
        build(clean)
        r = gm("add", *PATHS, cwd=clean)
        assert r.code == 0, r
        _CLEAN["add"] = (tree_state(clean), index(clean), set(objects(clean)))
    return _CLEAN["add"]


def assert_same_result(root: Path, clean: tuple[object, ...]) -> None:
    assert (tree_state(root), index(root), set(objects(root))) == clean
    assert_objects_sound(root)


@pytest.mark.parametrize("how", ["raise", "kill"])
@pytest.mark.parametrize("point", ADD_POINTS)
def test_crash_during_add_then_rerun(gm, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, point: str,
                                     how: str) -> None:
    root = make_repo(tmp_path / "crash")
    files = build(root)
    crash(gm, monkeypatch, how, point, root, "add", *PATHS)

    for rel, data in files.items():
        assert (root / rel).read_bytes() == data, f"{rel} was damaged by the crash"
    assert_objects_sound(root)
    assert_pointers_sound(root)
    assert_no_temp_in_worktree(root)

    r = gm("add", *PATHS, cwd=root)
    assert r.code == 0, r
    assert_same_result(root, clean_result(gm, tmp_path))
    # A pack left without its index (killed between the two) was invisible
    # until then; the rerun published the same pack, index included.
    assert [idx for _, idx in packs(cache_root(root)).values()] != [] and \
        all(idx is not None for _, idx in packs(cache_root(root)).values())
    status = gm("status", "--json", cwd=root)
    assert [s["state"] for s in json.loads(status.out)] == ["unchanged"] * 3, status


@pytest.mark.parametrize("point", ["add:pointer-written", "add:before-stage"])
def test_kill_during_add_in_hardlink_mode(gm, tmp_path: Path, point: str) -> None:
    """In hardlink mode add replaces the user's file by a link to its object:
    a kill before that leaves the file as it was, and the rerun links it."""
    root = make_repo(tmp_path / "crash")
    set_link(root, "hardlink")
    files = build(root)
    r = gm_proc("add", "m.bin", "big.bin", cwd=root, env={"GITMODEL_FAULT": point})
    assert r.code == -9, r
    for rel in ("m.bin", "big.bin"):
        assert (root / rel).read_bytes() == files[rel]
    assert_objects_sound(root)
    assert_pointers_sound(root)
    assert gm("add", "m.bin", "big.bin", cwd=root).code == 0
    for rel in ("m.bin", "big.bin"):
        assert (root / rel).read_bytes() == files[rel]
        assert (root / rel).stat().st_nlink > 1
    assert_objects_sound(root)


def tracked_repo(gm, root: Path) -> dict[str, bytes]:
    make_repo(root)
    files = build(root)
    assert gm("add", *PATHS, cwd=root).code == 0
    git("commit", "-qm", "track", cwd=root)
    return files


@pytest.mark.parametrize("how", ["raise", "kill"])
def test_crash_during_checkout_then_rerun(gm, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    root = tmp_path / "crash"
    files = tracked_repo(gm, root)
    shutil.rmtree(root / "data")
    crash(gm, monkeypatch, how, "checkout:file-placed", root, "checkout")
    # Whatever was placed is whole; nothing half-written under a user's name.
    placed = [p for p in (root / "data").rglob("*") if p.is_file()]
    assert placed
    for p in placed:
        assert p.read_bytes() == files[str(p.relative_to(root))]
    assert_no_temp_in_worktree(root)
    assert_objects_sound(root)

    r = gm("checkout", cwd=root)
    assert r.code == 0, r
    for rel, data in files.items():
        assert (root / rel).read_bytes() == data
    clean = tmp_path / "clean"
    tracked_repo(gm, clean)
    assert tree_state(root) == tree_state(clean)
    assert index(root) == index(clean)


@pytest.mark.parametrize("how", ["raise", "kill"])
def test_crash_during_forced_checkout_keeps_the_users_edit(gm, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           how: str) -> None:
    """checkout --force replaces a modified file only once its content is in
    the cache: a crash right after the replacement loses nothing."""
    root = tmp_path / "crash"
    files = tracked_repo(gm, root)
    edit = b"the user's unsaved experiment"
    (root / "data" / "f03.bin").write_bytes(edit)
    crash(gm, monkeypatch, how, "checkout:file-placed", root, "checkout", "--force", "data")
    now = (root / "data" / "f03.bin").read_bytes()
    assert now in (edit, files["data/f03.bin"])
    if now != edit:
        assert objects(root)[oid_of(edit)].read_bytes() == edit
    assert_objects_sound(root)
    r = gm("checkout", "--force", "data", cwd=root)
    assert r.code == 0, r
    assert (root / "data" / "f03.bin").read_bytes() == files["data/f03.bin"]
    assert objects(root)[oid_of(edit)].read_bytes() == edit
