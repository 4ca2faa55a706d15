"""`gitmodel add`: files and folders, pointers, .gitignore and staging, the
read-only object store, re-adding (unchanged, changed, racily clean)."""

from __future__ import annotations

import os
import re
from pathlib import Path

from tests.support.git import git
from tests.support.state import cache_state, repo_state
from tests.support.store import assert_objects_sound, hash_file, objects, oid_of, pointer_fields, settle

OID_RE = re.compile(r"^xxh128:[0-9a-f]{32}$")


def lib_add(root: Path, *paths: str, stage: bool = True) -> list:
    from gitmodel.repo import Repo
    from gitmodel.workspace.track import add

    return add(Repo.discover(str(root)), list(paths), stage=stage)


def test_add_file_writes_pointer_object_ignore_and_stages(gm, repo: Path) -> None:
    data = os.urandom(4096)
    (repo / "models").mkdir()
    (repo / "models" / "clf.pkl").write_bytes(data)
    r = gm("add", "models/clf.pkl")
    assert r.code == 0, r
    assert "added models/clf.pkl" in r.out

    ptr = repo / "models" / "clf.pkl.gm"
    fields = pointer_fields(ptr)
    assert [k for k, _ in fields] == ["version", "kind", "oid", "size"]
    values = dict(fields)
    assert values["version"] == "gitmodel/1"
    assert values["kind"] == "file"
    assert OID_RE.match(values["oid"])
    assert values["oid"] == oid_of(data)
    assert values["size"] == "4096"
    assert ptr.read_text().endswith("\n")

    # The object: read-only, sharded by the first two hex digits.
    hexd = values["oid"].split(":")[1]
    obj = repo / ".git" / "gitmodel" / "objects" / "xxh128" / hexd[:2] / hexd[2:]
    assert obj.read_bytes() == data
    assert not obj.stat().st_mode & 0o222
    assert_objects_sound(repo)

    # The user's file is untouched, and ignored beside itself.
    assert (repo / "models" / "clf.pkl").read_bytes() == data
    assert (repo / "models" / "clf.pkl").stat().st_mode & 0o200
    assert "/clf.pkl" in (repo / "models" / ".gitignore").read_text().splitlines()
    assert git("check-ignore", "models/clf.pkl", cwd=repo).strip() == "models/clf.pkl"

    staged = set(git("diff", "--cached", "--name-only", cwd=repo).split())
    assert {"models/clf.pkl.gm", "models/.gitignore"} <= staged
    assert "models/clf.pkl" not in staged


def test_add_directory_writes_manifest(gm, repo: Path) -> None:
    d = repo / "data"
    (d / "sub").mkdir(parents=True)
    (d / "b.csv").write_text("b\n")
    (d / "a.csv").write_text("a\n")
    (d / "sub" / "c.bin").write_bytes(b"\0\1\2")
    (d / "run.sh").write_text("#!/bin/sh\n")
    (d / "run.sh").chmod(0o755)
    r = gm("add", "data")
    assert r.code == 0, r
    assert "4 files" in r.out

    fields = pointer_fields(repo / "data.gm")
    assert [k for k, _ in fields] == ["version", "kind", "oid", "size", "files"]
    values = dict(fields)
    assert values["kind"] == "dir"
    assert values["files"] == "4"
    assert values["size"] == str(2 + 2 + 3 + 10)

    # The manifest is a tree per folder: the root's names its files and the
    # tree of sub/, with the bytes and files below it.
    lines = objects(repo)[values["oid"]].read_bytes().decode().splitlines()
    assert lines[0] == "gitmodel-tree 1"
    rows = [line.split("\t") for line in lines[1:]]
    assert [r[3] for r in rows] == ["a.csv", "b.csv", "run.sh", "sub"]  # sorted
    by_path = {r[3]: r for r in rows}
    assert by_path["a.csv"][:3] == [oid_of(b"a\n"), "2", "644"]
    assert by_path["run.sh"][2] == "755"
    assert by_path["sub"][1:3] == ["3", "d1"]
    sub = objects(repo)[by_path["sub"][0]].read_bytes().decode().splitlines()
    c_oid = oid_of(b"\0\1\2")
    assert sub == ["gitmodel-tree 1", f"{c_oid}\t3\t644\tc.bin"]
    # Each file is an object too.
    for row in rows:
        assert row[0] in objects(repo)
    assert_objects_sound(repo)
    assert "/data" in (repo / ".gitignore").read_text().splitlines()
    staged = set(git("diff", "--cached", "--name-only", cwd=repo).split())
    assert {"data.gm", ".gitignore"} <= staged


def test_add_empty_directory(gm, repo: Path) -> None:
    (repo / "empty").mkdir()
    r = gm("add", "empty")
    assert r.code == 0, r
    values = dict(pointer_fields(repo / "empty.gm"))
    assert (values["files"], values["size"]) == ("0", "0")


def test_add_no_stage(gm, repo: Path) -> None:
    (repo / "m.bin").write_bytes(b"x" * 100)
    before = git("diff", "--cached", "--name-only", cwd=repo)
    r = gm("add", "--no-stage", "m.bin")
    assert r.code == 0, r
    assert (repo / "m.bin.gm").is_file()
    assert "/m.bin" in (repo / ".gitignore").read_text().splitlines()
    assert git("diff", "--cached", "--name-only", cwd=repo) == before


def test_add_keeps_an_existing_gitignore(gm, repo: Path) -> None:
    (repo / ".gitignore").write_text("*.log")  # no final newline
    (repo / "m.bin").write_bytes(b"m")
    assert gm("add", "m.bin").code == 0
    assert (repo / ".gitignore").read_text() == "*.log\n/m.bin\n"
    assert gm("add", "m.bin").code == 0
    assert (repo / ".gitignore").read_text() == "*.log\n/m.bin\n"  # no second line


def test_add_from_a_subfolder_and_odd_names(gm, repo: Path) -> None:
    sub = repo / "sub"
    sub.mkdir()
    name = "we ird[1]#*.bin"
    (sub / name).write_bytes(b"odd")
    r = gm("add", name, cwd=sub)
    assert r.code == 0, r
    assert (sub / (name + ".gm")).is_file()
    # The ignore line matches exactly this file and nothing else.
    assert git("check-ignore", f"sub/{name}", cwd=repo).strip() == f"sub/{name}"
    (sub / "weird1.bin").write_bytes(b"other")
    assert git("check-ignore", "sub/weird1.bin", cwd=repo, check=False) == ""


def test_readd_unchanged_says_so_and_writes_nothing(gm, repo: Path) -> None:
    (repo / "m.bin").write_bytes(os.urandom(2048))
    (repo / "d").mkdir()
    for i in range(5):
        (repo / "d" / f"f{i}").write_bytes(os.urandom(100))
    assert gm("add", "m.bin", "d").code == 0
    git("commit", "-qm", "add", cwd=repo)
    settle()
    ptrs = [repo / "m.bin.gm", repo / "d.gm", repo / ".gitignore"]
    mtimes = [p.stat().st_mtime_ns for p in ptrs]
    before = repo_state(repo)
    r = gm("add", "m.bin", "d")
    assert r.code == 0, r
    assert "unchanged m.bin" in r.out and "unchanged d" in r.out
    assert "added" not in r.out
    assert [p.stat().st_mtime_ns for p in ptrs] == mtimes
    assert repo_state(repo) == before
    assert git("status", "--porcelain", cwd=repo) == ""


def test_readd_after_change_rehashes_only_the_changed_file(repo: Path) -> None:
    d = repo / "d"
    d.mkdir()
    for i in range(20):
        (d / f"f{i:02}").write_bytes(b"%02d" % i * 50)
    settle()  # past the racy window, so the stat cache records every file
    (first,) = lib_add(repo, "d")
    assert first.changed and first.hashed == 20

    (second,) = lib_add(repo, "d")
    assert not second.changed and second.hashed == 0

    (d / "f07").write_bytes(b"changed")
    settle()
    (third,) = lib_add(repo, "d")
    assert third.changed and third.hashed == 1
    assert third.pointer.oid != first.pointer.oid
    assert third.pointer.size == first.pointer.size - 100 + 7

    # A new file and a deleted one: only the new one is read.
    (d / "new").write_bytes(b"new")
    (d / "f00").unlink()
    settle()
    (fourth,) = lib_add(repo, "d")
    assert fourth.hashed == 1 and fourth.pointer.files == 20


def test_readd_single_file_uses_the_stat_cache(repo: Path) -> None:
    (repo / "m.bin").write_bytes(os.urandom(3000))
    settle()
    (a,) = lib_add(repo, "m.bin")
    (b,) = lib_add(repo, "m.bin")
    assert (a.hashed, b.hashed) == (1, 0)
    assert not b.changed


def test_racily_clean_file_is_still_seen_as_modified(gm, repo: Path) -> None:
    """A file changed in the same instant it was recorded, with its size and
    mtime put back, must not be mistaken for unchanged (git's racily-clean
    rule: a stat too close to the file's own mtime is not trusted)."""
    f = repo / "m.bin"
    f.write_bytes(b"A" * 1000)
    (a,) = lib_add(repo, "m.bin")  # at once: the file is racy
    st = f.stat()
    f.write_bytes(b"B" * 1000)
    os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert f.stat().st_size == st.st_size and f.stat().st_mtime_ns == st.st_mtime_ns
    r = gm("status", "m.bin")
    assert "modified" in r.out, r
    (b,) = lib_add(repo, "m.bin")
    assert b.changed and b.hashed == 1
    assert b.pointer.oid == oid_of(b"B" * 1000) != a.pointer.oid


def test_changed_file_updates_pointer_and_keeps_old_object(gm, repo: Path) -> None:
    f = repo / "m.bin"
    f.write_bytes(b"v1" * 500)
    assert gm("add", "m.bin").code == 0
    old = dict(pointer_fields(repo / "m.bin.gm"))["oid"]
    f.write_bytes(b"v2" * 700)
    r = gm("add", "m.bin")
    assert r.code == 0 and "added m.bin" in r.out, r
    new = dict(pointer_fields(repo / "m.bin.gm"))
    assert new["oid"] == oid_of(b"v2" * 700) and new["size"] == "1400"
    assert {old, new["oid"]} <= set(objects(repo))


def test_same_content_is_stored_once(gm, repo: Path) -> None:
    (repo / "a.bin").write_bytes(b"same" * 100)
    (repo / "b.bin").write_bytes(b"same" * 100)
    (repo / "d").mkdir()
    (repo / "d" / "c.bin").write_bytes(b"same" * 100)
    (repo / "d" / "e.bin").write_bytes(b"same" * 100)
    assert gm("add", "a.bin", "b.bin", "d").code == 0
    assert len(objects(repo)) == 2  # the content and d's manifest
    assert not [p for p in cache_state(repo) if ".gm-tmp-" in p]


def test_add_large_file_takes_the_streaming_path(gm, repo: Path) -> None:
    from gitmodel.store import cache

    data = os.urandom(cache.SMALL + 12345)  # just above the small-file bound
    (repo / "big.bin").write_bytes(data)
    r = gm("add", "big.bin")
    assert r.code == 0, r
    values = dict(pointer_fields(repo / "big.bin.gm"))
    assert values["oid"] == oid_of(data)
    assert values["size"] == str(len(data))
    assert objects(repo)[values["oid"]].read_bytes() == data
    assert_objects_sound(repo)
    assert not [p for p in cache_state(repo) if ".gm-tmp-" in p]


def test_add_pointer_file_itself_is_refused(gm, repo: Path) -> None:
    (repo / "m.bin").write_bytes(b"m")
    assert gm("add", "m.bin").code == 0
    r = gm("add", "m.bin.gm")
    assert r.code == 1 and "add the file it points to" in r.err


def test_add_inside_a_tracked_folder_is_refused(gm, repo: Path) -> None:
    (repo / "d").mkdir()
    (repo / "d" / "x").write_text("x")
    assert gm("add", "d").code == 0
    r = gm("add", "d/x")
    assert r.code == 1 and "gitmodel add d" in r.err, r


def test_add_several_paths_at_once(gm, repo: Path) -> None:
    for n in ("a", "b", "c"):
        (repo / n).write_bytes(n.encode() * 10)
    r = gm("add", "a", "b", "c", "a")
    assert r.code == 0, r
    assert r.out.count("added") == 3
    assert (repo / ".gitignore").read_text().splitlines() == ["/a", "/b", "/c"]
    assert {hash_file(repo / n) for n in "abc"} <= set(objects(repo))
