"""The textconv diff driver: `git diff` and `git log -p` show pointer changes
as sizes, short oids and, for folders, the files added, removed, changed."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from tests.support.files import write
from tests.support.git import commit_with_hooks, git, gm_add
from tests.support.store import cache_root, objects, oid_of, pointer_oid


def diff_lines(root: Path, *args: str) -> list[str]:
    out = git("diff", *args, cwd=root)
    return [line for line in out.splitlines() if line[:1] in "+-" and not line.startswith(("+++", "---"))]


def test_a_file_change_shows_sizes_and_short_oids(gm, repo: Path) -> None:
    write(repo, "m.bin", b"x" * 1000)
    gm_add(repo, "m.bin")
    commit_with_hooks(repo, "v1")
    write(repo, "m.bin", b"y" * 3 * 1024 * 1024)
    gm_add(repo, "m.bin")
    lines = diff_lines(repo, "--cached")
    assert len(lines) == 2, lines
    assert lines[0].startswith("-gitmodel file: 1000 B (1000 bytes), oid ")
    assert lines[1].startswith("+gitmodel file: 3.0 MiB (3145728 bytes), oid ")
    assert lines[0].endswith(f"oid {oid_of(b'x' * 1000)[7:17]}"), lines
    assert lines[1].endswith(f"oid {oid_of(b'y' * 3 * 1024 * 1024)[7:17]}"), lines


def test_a_folder_change_lists_files_added_removed_changed(gm, repo: Path) -> None:
    write(repo, "d/keep.txt", "same")
    write(repo, "d/change.txt", "before")
    write(repo, "d/gone.txt", "bye")
    gm_add(repo, "d")
    commit_with_hooks(repo, "v1")
    write(repo, "d/change.txt", "after!")
    (repo / "d" / "gone.txt").unlink()
    write(repo, "d/sub/new.txt", "hello")
    gm_add(repo, "d")
    commit_with_hooks(repo, "v2")
    lines = diff_lines(repo, "HEAD~1", "HEAD")
    heads = [line for line in lines if "gitmodel folder" in line]
    assert heads[0].startswith("-gitmodel folder: 3 files, 13 B (13 bytes), manifest ")
    assert heads[1].startswith("+gitmodel folder: 3 files, 15 B (15 bytes), manifest ")
    changed = {(line[0], line[1:].split("  ")[0]) for line in lines if line not in heads}
    assert changed == {("-", "change.txt"), ("+", "change.txt"), ("-", "gone.txt"), ("+", "sub/new.txt")}
    # keep.txt is context, not a change; `git log -p` uses the same driver.
    log = git("log", "-p", "-1", cwd=repo)
    assert " keep.txt  4 B  " in log and "+sub/new.txt  5 B  " in log


def test_without_the_manifest_one_line_says_so(gm, repo: Path) -> None:
    write(repo, "d/a.txt", "a")
    gm_add(repo, "d")
    commit_with_hooks(repo, "v1")
    manifest_oid = pointer_oid(repo / "d.gm")
    obj = objects(repo)[manifest_oid]
    os.chmod(obj.parent, 0o755)
    obj.unlink()
    out = git("show", "HEAD", cwd=repo)
    assert "+gitmodel folder: 1 file, 1 B (1 bytes), manifest " in out
    assert "(file list not shown: manifest" in out and "gitmodel fetch" in out
    assert cache_root(repo).is_dir()


def test_anything_not_a_pointer_is_shown_as_it_is(gm, repo: Path, tmp_path: Path) -> None:
    import subprocess

    odd = tmp_path / "odd.gm"
    odd.write_text("<<<<<<< HEAD\nnot a pointer\n")
    proc = subprocess.run([sys.executable, "-m", "gitmodel", "textconv", str(odd)], cwd=repo, capture_output=True,
                          text=True)
    assert proc.returncode == 0 and proc.stdout == odd.read_text(), proc


def test_textconv_outside_a_repository(tmp_path: Path, monkeypatch) -> None:
    """A bare repository or a plain folder: no cache, still a readable line."""
    from gitmodel.git.textconv import textconv

    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    p = tmp_path / "x.gm"
    p.write_text("version gitmodel/1\nkind dir\noid xxh128:" + "ab" * 16 + "\nsize 2048\nfiles 2\n")
    monkeypatch.chdir(tmp_path)
    out = textconv(str(p))
    assert out.splitlines() == ["gitmodel folder: 2 files, 2.0 KiB (2048 bytes), manifest ababababab",
                                "(file list not shown: manifest ababababab is not in the cache; "
                                "run `gitmodel fetch` to see it)"]
