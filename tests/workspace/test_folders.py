"""Adding and comparing a folder one subfolder at a time
(workspace/folders.py, status's trees): what is reused unread, what is
read again, and the rules that keep reuse safe."""

from __future__ import annotations

import shutil
from pathlib import Path

from gitmodel.repo import Repo
from gitmodel.workspace import status as st
from gitmodel.workspace import track
from tests.support.cli import gm_run
from tests.support.store import folder_files, objects, pointer_fields, settle


def _make(repo: Path, folders: int = 4, per: int = 20) -> None:
    for f in range(folders):
        d = repo / "data" / f"part{f}" / "inner"
        d.mkdir(parents=True)
        for i in range(per):
            (d / f"x{i:02}.bin").write_bytes(b"%d-%d " % (f, i) * 40)
        (repo / "data" / f"part{f}" / "top.txt").write_bytes(b"top %d\n" % f)


def _add(repo: Path) -> track.AddResult:
    (r,) = track.add(Repo.discover(str(repo)), ["data"])
    return r


def _trees(repo: Path) -> set[str]:
    have = objects(repo)
    return folder_files(lambda o: have[o].read_bytes(), dict(pointer_fields(repo / "data.gm"))["oid"])[1]


def test_a_readd_reads_only_the_subfolder_that_changed(repo: Path) -> None:
    _make(repo)
    settle()
    first = _add(repo)
    assert first.hashed == 84 and first.pointer.files == 84
    trees1 = _trees(repo)
    assert len(trees1) == 1 + 4 * 2  # data, part*, part*/inner
    assert _add(repo).hashed == 0  # nothing changed: every tree reused
    (repo / "data/part2/inner/x05.bin").write_bytes(b"changed")
    settle()
    third = _add(repo)
    assert third.hashed == 1 and third.changed
    trees3 = _trees(repo)
    assert len(trees3 - trees1) == 3  # part2/inner, part2, data: the trees on its way
    assert [s.state for s in st.status(Repo.discover(str(repo)), ["data"])] == ["unchanged"]


def test_status_names_changes_below_unchanged_folders(repo: Path) -> None:
    _make(repo)
    settle()
    _add(repo)
    (repo / "data/part1/inner/x00.bin").write_bytes(b"edited")
    (repo / "data/part3/inner/x01.bin").unlink()
    (repo / "data/part0/new").mkdir()
    (repo / "data/part0/new/n.txt").write_bytes(b"n")
    (repo / "data/part0/top.txt").chmod(0o755)
    (s,) = st.status(Repo.discover(str(repo)), ["data"])
    assert s.state == "modified"
    assert s.modified == ["part0/top.txt", "part1/inner/x00.bin"]
    assert s.deleted == ["part3/inner/x01.bin"]
    assert s.added == ["part0/new/n.txt"]
    # A folder gone as a whole: all its files deleted.
    shutil.rmtree(repo / "data/part2")
    (s,) = st.status(Repo.discover(str(repo)), ["data"])
    assert [p for p in s.deleted if p.startswith("part2/")] == \
        [f"part2/inner/x{i:02}.bin" for i in range(20)] + ["part2/top.txt"]

def test_reuse_needs_the_completeness_mark(repo: Path, gm) -> None:  # type: ignore[no-untyped-def]
    """A tree is reused unread only while it is marked complete: gc and fsck
    clear the marks, and the next add checks the objects again, storing any
    that went missing meanwhile."""
    _make(repo, folders=2, per=3)
    settle()
    _add(repo)
    have = objects(repo)
    files, _ = folder_files(lambda o: have[o].read_bytes(), dict(pointer_fields(repo / "data.gm"))["oid"])
    victim = have[files["part1/inner/x02.bin"]]
    assert isinstance(victim, Path)  # loose: a folder of a few files
    victim.chmod(0o644)
    victim.unlink()
    Repo.discover(str(repo)).statcache.clear_complete()  # what gc and fsck do
    again = _add(repo)
    assert again.hashed == 1 and not again.changed
    assert files["part1/inner/x02.bin"] in objects(repo)
    assert gm_run(["fsck"], cwd=repo).code == 0


def test_many_small_files_go_into_one_pack_across_subfolders(repo: Path) -> None:
    _make(repo, folders=5, per=20)
    _add(repo)
    packs = list((repo / ".git/gitmodel/packs").glob("*.pack"))
    assert len(packs) == 1  # one pack for the whole add, not one per subfolder
    loose = [o for o, p in objects(repo).items() if isinstance(p, Path)]
    assert set(loose) == _trees(repo)  # only the trees stay loose (push sends them after their files)
