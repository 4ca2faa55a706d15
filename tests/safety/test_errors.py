"""Bad input and bad environments: each gets one line on stderr, exit 1
(3 for a bug, 130 for Ctrl-C), no traceback, and changes nothing."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from tests.support.cli import assert_one_line_error, gm_proc
from tests.support.files import read_only
from tests.support.git import git
from tests.support.state import assert_unchanged, repo_state, tree_state
from tests.support.store import cache_root, objects, oid_of

MODEL = b"model" * 400
WRITERS = [("add", "m.bin"), ("checkout", "m.bin"), ("remove", "m.bin"), ("unprotect", "m.bin")]
ALL = [("status", "m.bin"), *WRITERS]


@pytest.fixture
def tracked(gm, repo: Path) -> Path:
    """A repository with m.bin and folder d tracked and committed."""
    (repo / "m.bin").write_bytes(MODEL)
    (repo / "d").mkdir()
    (repo / "d" / "a.txt").write_text("a")
    (repo / "d" / "b.txt").write_text("b")
    assert gm("add", "m.bin", "d").code == 0
    git("commit", "-qm", "track", cwd=repo)
    return repo


@pytest.mark.parametrize("args", [("init",), *ALL, ("status",), ("checkout",)])
def test_not_a_git_repository(gm, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: tuple[str, ...]) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "m.bin").write_bytes(MODEL)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    before = tree_state(plain)
    assert_one_line_error(gm(*args, cwd=plain), "not a git repository")
    assert tree_state(plain) == before


def test_commands_before_init(gm, tmp_path: Path) -> None:
    root = tmp_path / "r"
    root.mkdir()
    git("init", "-q", cwd=root)
    (root / "m.bin").write_bytes(MODEL)
    before = tree_state(root)
    assert_one_line_error(gm("add", "m.bin", cwd=root), "gitmodel init")
    assert tree_state(root) == before
    assert not (root / ".git" / "gitmodel").exists()


@pytest.mark.parametrize("cmd", ["add", "status", "checkout", "remove", "unprotect"])
def test_path_outside_the_repository(gm, tracked: Path, tmp_path: Path, cmd: str) -> None:
    outside = tmp_path / "outside.bin"
    outside.write_bytes(MODEL)
    before = repo_state(tracked)
    for path in (str(outside), "../outside.bin"):
        assert_one_line_error(gm(cmd, path), "outside the repository")
    assert_unchanged(tracked, before)
    assert not Path(str(outside) + ".gm").exists()


@pytest.mark.parametrize("path", [".git", ".git/config", ".git/gitmodel", "sub/../.git/HEAD", ".gitmodel",
                                  ".gitmodel/config.toml"])
def test_path_inside_git_or_gitmodel(gm, tracked: Path, path: str) -> None:
    (tracked / "sub").mkdir()
    before = repo_state(tracked)
    assert_one_line_error(gm("add", path), "which gitmodel does not track")
    assert_unchanged(tracked, before)


def test_repository_root_itself(gm, tracked: Path) -> None:
    before = repo_state(tracked)
    assert_one_line_error(gm("add", "."), "repository root")
    assert_unchanged(tracked, before)


@pytest.mark.parametrize("cmd", ["add", "status", "checkout", "remove", "unprotect"])
def test_nonexistent_path(gm, tracked: Path, cmd: str) -> None:
    before = repo_state(tracked)
    line = assert_one_line_error(gm(cmd, "no/such/file"), "no/such/file")
    assert "gitmodel add" in line or "no such file" in line
    assert_unchanged(tracked, before)


def test_one_bad_path_among_good_ones_changes_nothing(gm, tracked: Path) -> None:
    (tracked / "new1.bin").write_bytes(b"one")
    (tracked / "new2.bin").write_bytes(b"two")
    before = repo_state(tracked)
    assert_one_line_error(gm("add", "new1.bin", "missing.bin", "new2.bin"), "missing.bin")
    assert_unchanged(tracked, before)
    assert oid_of(b"one") not in objects(tracked)


@pytest.mark.parametrize("args", ALL + [("status",), ("checkout",)])
def test_pointer_edited_into_nonsense(gm, tracked: Path, args: tuple[str, ...]) -> None:
    ptr = tracked / "m.bin.gm"
    lines = ptr.read_text().splitlines()
    lines[2] = "{{{ not a pointer line }}}"
    ptr.write_text("\n".join(lines) + "\n")
    if args[0] != "add":
        (tracked / "m.bin").unlink()
    before = repo_state(tracked)
    assert_one_line_error(gm(*args), "m.bin.gm:3", "git checkout -- m.bin.gm")
    assert_unchanged(tracked, before)


@pytest.mark.parametrize("args", ALL)
def test_unknown_pointer_format_version(gm, tracked: Path, args: tuple[str, ...]) -> None:
    ptr = tracked / "m.bin.gm"
    ptr.write_text(ptr.read_text().replace("version gitmodel/1", "version gitmodel/7"))
    before = repo_state(tracked)
    assert_one_line_error(gm(*args), "m.bin.gm", "gitmodel/7", "upgrade gitmodel")
    assert_unchanged(tracked, before)


@pytest.mark.parametrize("args", ALL)
def test_malformed_oid(gm, tracked: Path, args: tuple[str, ...]) -> None:
    ptr = tracked / "m.bin.gm"
    ptr.write_text(re.sub(r"oid xxh128:[0-9a-f]+", "oid xxh128:../../../etc/passwd", ptr.read_text()))
    if args[0] != "add":
        (tracked / "m.bin").unlink()
    before = repo_state(tracked)
    assert_one_line_error(gm(*args), "m.bin.gm", "malformed oid")
    assert_unchanged(tracked, before)


def test_symlink_to_outside_as_the_added_path(gm, tracked: Path, tmp_path: Path) -> None:
    (tmp_path / "secret").write_bytes(b"not yours")
    os.symlink(tmp_path / "secret", tracked / "link.bin")
    before = repo_state(tracked)
    assert_one_line_error(gm("add", "link.bin"), "link.bin", "outside the repository")
    assert_unchanged(tracked, before)
    assert oid_of(b"not yours") not in objects(tracked)


def test_symlink_to_outside_inside_an_added_folder(gm, tracked: Path, tmp_path: Path) -> None:
    (tmp_path / "secret").write_bytes(b"not yours")
    (tracked / "e").mkdir()
    (tracked / "e" / "ok.txt").write_text("ok")
    os.symlink(tmp_path / "secret", tracked / "e" / "link")
    before = repo_state(tracked)
    assert_one_line_error(gm("add", "e"), "e/link", "outside the repository")
    assert_unchanged(tracked, before)
    assert oid_of(b"not yours") not in objects(tracked)
    # The same inside an already tracked folder, found by status and re-add.
    os.symlink(tmp_path / "secret", tracked / "d" / "link")
    before = repo_state(tracked)
    assert_one_line_error(gm("add", "d"), "d/link", "outside the repository")
    assert_one_line_error(gm("status", "d"), "d/link", "outside the repository")
    assert_unchanged(tracked, before)


def test_symlink_inside_the_repository_is_followed(gm, tracked: Path) -> None:
    os.symlink("m.bin", tracked / "alias.bin")
    r = gm("add", "alias.bin")
    assert r.code == 0, r
    assert (tracked / "alias.bin.gm").read_text() == (tracked / "m.bin.gm").read_text()


def test_pointer_under_a_symlinked_folder_leading_outside(gm, tracked: Path, tmp_path: Path) -> None:
    """A folder in the repository that is a symlink to somewhere else, holding
    a pointer: gitmodel must neither read through it nor write there."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copy(tracked / "m.bin.gm", elsewhere / "x.bin.gm")
    (elsewhere / "y.bin").write_bytes(b"y")
    os.symlink(elsewhere, tracked / "ext")
    before, outside_before = repo_state(tracked), tree_state(elsewhere)
    for args in (("status", "ext/x.bin"), ("checkout", "ext/x.bin"), ("checkout", "--force", "ext/x.bin.gm"),
                 ("remove", "ext/x.bin"), ("unprotect", "ext/x.bin"), ("add", "ext/y.bin")):
        assert_one_line_error(gm(*args), "outside the repository")
    # Listing every pointer does not wander into it either.
    assert gm("checkout").code == 0
    assert_unchanged(tracked, before)
    assert tree_state(elsewhere) == outside_before


def test_tracked_folder_replaced_by_a_symlink_leading_outside(gm, tracked: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "a.txt").write_text("theirs")
    shutil.rmtree(tracked / "d")
    os.symlink(elsewhere, tracked / "d")
    before, outside_before = repo_state(tracked), tree_state(elsewhere)
    for args in (("status", "d"), ("checkout", "d"), ("checkout", "--force"), ("add", "d")):
        assert_one_line_error(gm(*args), "outside the repository")
    assert_unchanged(tracked, before)
    assert tree_state(elsewhere) == outside_before


def test_hostile_manifest_is_refused_and_writes_nothing(gm, tracked: Path, tmp_path: Path) -> None:
    """A directory pointer whose manifest names paths that leave the folder."""
    from gitmodel.store.cache import Cache

    cache = Cache(str(cache_root(tracked)))
    obj = cache.add_bytes(b"payload")
    evil = cache.add_bytes(f"gitmodel-manifest 1\n{obj}\t7\t644\t../../../evil\n".encode())
    # Named to sort last: a checkout of everything meets it after m.bin.
    (tracked / "zbad.gm").write_text(f"version gitmodel/1\nkind dir\noid {evil}\nsize 7\nfiles 1\n")
    (tracked / "m.bin").unlink()  # something the checkout would otherwise restore
    before = repo_state(tracked)
    for args in (("checkout", "zbad"), ("checkout",), ("checkout", "m.bin", "zbad"), ("status", "zbad")):
        assert_one_line_error(gm(*args), "zbad", "unsafe path")
    assert_unchanged(tracked, before)
    assert not list(tmp_path.rglob("evil"))


def test_file_already_tracked_by_git(gm, tracked: Path) -> None:
    (tracked / "code.py").write_text("print()")
    (tracked / "lib").mkdir()
    (tracked / "lib" / "x.py").write_text("x = 1")
    git("add", "code.py", "lib/x.py", cwd=tracked)
    before = repo_state(tracked)
    assert_one_line_error(gm("add", "code.py"), "code.py", "git rm", "--cached")
    assert_one_line_error(gm("add", "lib"), "lib", "git rm", "--cached")
    assert_unchanged(tracked, before)


def test_corrupted_config(gm, tracked: Path) -> None:
    cfg = tracked / ".gitmodel" / "config.toml"
    cfg.write_text(cfg.read_text() + "\n[core\nlink = \n")
    (tracked / "m.bin").unlink()
    (tracked / "n.bin").write_bytes(b"new")
    before = repo_state(tracked)
    for args in (("add", "n.bin"), ("checkout",)):
        assert_one_line_error(gm(*args), "config.toml", "git checkout -- .gitmodel/config.toml")
    assert_unchanged(tracked, before)


def test_read_only_cache(gm, tracked: Path) -> None:
    (tracked / "n.bin").write_bytes(b"new content")
    (tracked / "e").mkdir()
    (tracked / "e" / "f").write_text("f")
    (tracked / "m.bin").write_bytes(b"edited")
    cache = cache_root(tracked)
    folders = [cache / "tmp", *sorted((cache / "objects" / "xxh128").iterdir())]
    before = repo_state(tracked)
    with read_only(*folders):
        for args in (("add", "n.bin"), ("add", "e"), ("checkout", "--force", "m.bin")):
            line = assert_one_line_error(gm(*args))
            assert "writable" in line or "permission" in line.lower() or "not permitted" in line, line
        assert_unchanged(tracked, before)
    # Once writable again, everything works.
    assert gm("add", "n.bin", "e").code == 0


def test_unexpected_error_exits_3_with_the_debug_hint(gm, tracked: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tracked / "n.bin").write_bytes(b"new")
    monkeypatch.setenv("GITMODEL_FAULT", "add:objects-stored,cache:temps-written")
    monkeypatch.setenv("GITMODEL_FAULT_MODE", "raise")
    line = assert_one_line_error(gm("add", "n.bin"), "GITMODEL_DEBUG=1", code=3)
    assert "bug" in line
    assert not (tracked / "n.bin.gm").exists()


def test_debug_shows_the_traceback(tracked: Path) -> None:
    (tracked / "n.bin").write_bytes(b"new")
    r = gm_proc("add", "n.bin", env={"GITMODEL_FAULT": "cache:temps-written", "GITMODEL_FAULT_MODE": "raise",
                                     "GITMODEL_DEBUG": "1"})
    assert r.code != 0 and "Traceback" in r.err and "InjectedFault" in r.err, r


def test_ctrl_c_exits_130_and_a_rerun_completes(gm, tracked: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tracked / "n.bin").write_bytes(b"new")
    monkeypatch.setenv("GITMODEL_FAULT", "cache:temps-written")
    monkeypatch.setenv("GITMODEL_FAULT_MODE", "interrupt")
    r = gm("add", "n.bin")
    assert r.code == 130 and "Traceback" not in r.err + r.out, r
    assert not [p for p in objects(tracked) if p == oid_of(b"new")]
    monkeypatch.delenv("GITMODEL_FAULT")
    assert gm("add", "n.bin").code == 0
    assert oid_of(b"new") in objects(tracked)


@pytest.mark.parametrize("args", [("add",), ("add", "--frobnicate", "m.bin"), ("nosuchcommand",),
                                  ("status", "--json", "--yaml")])
def test_usage_errors_are_one_line(gm, tracked: Path, args: tuple[str, ...]) -> None:
    before = repo_state(tracked)
    assert_one_line_error(gm(*args))
    assert_unchanged(tracked, before)


@pytest.mark.parametrize("case", ["newline-file", "tab-folder", "undecodable-in-folder", "undecodable-file"])
def test_names_the_formats_cannot_hold(gm, tracked: Path, case: str) -> None:
    """A manifest line is tab-separated and a .gitignore entry is one line,
    both UTF-8: such names are refused, not written half-broken."""
    base = os.fsencode(tracked)
    if case == "newline-file":
        arg = "new\nline.bin"
        (tracked / arg).write_bytes(b"x")
    elif case == "tab-folder":
        arg = "e"
        (tracked / "e" / "a\tb").mkdir(parents=True)
        (tracked / "e" / "a\tb" / "f").write_bytes(b"x")
    elif case == "undecodable-in-folder":
        arg = "e"
        (tracked / "e").mkdir()
        with open(os.path.join(base, b"e", b"\xff.bin"), "wb") as f:
            f.write(b"x")
    else:
        with open(os.path.join(base, b"\xfe.bin"), "wb") as f:
            f.write(b"x")
        arg = os.fsdecode(b"\xfe.bin")
    before = repo_state(tracked)
    assert_one_line_error(gm("add", arg), "not supported")
    assert_unchanged(tracked, before)


@pytest.mark.parametrize("path", ["a" * 300, "m.bin/inside", "loop/x"])
def test_impossible_paths(gm, tracked: Path, path: str) -> None:
    os.symlink("loop", tracked / "loop")
    before = repo_state(tracked)
    assert_one_line_error(gm("add", path), code=1)
    assert_unchanged(tracked, before)


@pytest.mark.parametrize("errno_, code, needle", [(28, 1, "no space left"), (13, 1, "permission denied"),
                                                   (21, 3, "GITMODEL_DEBUG=1")])
def test_os_errors_map_to_one_line(gm, tracked: Path, monkeypatch: pytest.MonkeyPatch, errno_: int, code: int,
                                   needle: str) -> None:
    """Environment failures the user can fix exit 1; any other OSError is a
    bug (exit 3) and still one line, never a traceback."""
    import gitmodel.commands.status as status_cmd

    def fail(*args: object, **kwargs: object) -> int:
        raise OSError(errno_, os.strerror(errno_), "/some/file")

    monkeypatch.setattr(status_cmd, "run", fail)
    assert_one_line_error(gm("status"), needle, code=code)


def test_file_inside_a_tracked_folder_names_the_folder(gm, tracked: Path) -> None:
    before = repo_state(tracked)
    for cmd in ("status", "checkout", "remove", "unprotect"):
        assert_one_line_error(gm(cmd, "d/a.txt"), "tracked folder d")
    assert_unchanged(tracked, before)


@pytest.mark.parametrize("rules", ["models/\n", "*.gm\n"])
def test_pointer_that_git_would_ignore(gm, tracked: Path, rules: str) -> None:
    """A pointer git ignores could be neither staged nor committed: add says
    so before writing anything (and --no-stage is the user's way round)."""
    (tracked / "models").mkdir()
    (tracked / "models" / "clf.pkl").write_bytes(b"clf")
    with open(tracked / ".gitignore", "a") as f:
        f.write(rules)
    before = repo_state(tracked)
    assert_one_line_error(gm("add", "models/clf.pkl"), "models/clf.pkl.gm", "git ignores it", rules.strip())
    assert_unchanged(tracked, before)
    assert oid_of(b"clf") not in objects(tracked)
    r = gm("add", "--no-stage", "models/clf.pkl")
    assert r.code == 0, r


def test_negated_rule_lets_the_pointer_through(gm, tracked: Path) -> None:
    with open(tracked / ".gitignore", "a") as f:
        f.write("*.gm\n!keep.bin.gm\n")
    (tracked / "keep.bin").write_bytes(b"k")
    r = gm("add", "keep.bin")
    assert r.code == 0, r
    assert "keep.bin.gm" in git("diff", "--cached", "--name-only", cwd=tracked)


def test_git_failure_message_is_what_git_said(gm, tracked: Path) -> None:
    """git's `hint:` lines are not the message; the line before them is."""
    from gitmodel.errors import GitError
    from gitmodel.git import runner as gitops

    (tracked / "ign").write_text("x")
    (tracked / ".gitignore").write_text((tracked / ".gitignore").read_text() + "ign\n")
    with pytest.raises(GitError) as e:
        gitops.stage(str(tracked), ["ign"])
    msg = str(e.value)
    assert "hint" not in msg and "ignored" in msg and msg.endswith("ign") and "\n" not in msg, msg


def test_ctrl_c_lets_a_running_git_command_finish(repo: Path) -> None:
    """Killing git mid-write can leave .git/index.lock or config.lock behind,
    and every later git command fails on it: on Ctrl-C gitmodel waits for
    the git it started, then stops.  The git here is an alias that sleeps,
    then writes config; the Ctrl-C reaches gitmodel alone, while it waits."""
    import signal
    import subprocess
    import sys
    import time

    # The handler is set even if the test was started with Ctrl-C ignored.
    script = ("import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
              "sys.path.insert(0, sys.argv[1]); from gitmodel.git import runner as gitops; "
              "gitops.run(['-c', 'alias.slow=!sleep 1 && git config gm.test done', 'slow'], cwd=sys.argv[2])")
    proc = subprocess.Popen([sys.executable, "-c", script, str(Path(__file__).resolve().parents[2]), str(repo)],
                            stderr=subprocess.PIPE)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert b"KeyboardInterrupt" in err and proc.returncode != 0
    assert git("config", "--get", "gm.test", cwd=repo).strip() == "done"
    assert not (repo / ".git" / "config.lock").exists()


def test_ctrl_c_after_the_command_finished_changes_nothing(repo: Path) -> None:
    """A Ctrl-C that lands while the interpreter shuts down (joining threads,
    running atexit) used to print a traceback under a finished command.
    Here it lands for sure: an atexit hook sends it after a real `status`."""
    import subprocess
    import sys

    script = ("import atexit, os, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
              "sys.path.insert(0, sys.argv[1]); from gitmodel import cli; "
              "atexit.register(lambda: os.kill(os.getpid(), signal.SIGINT)); "
              "sys.argv = ['gitmodel', 'status']; cli.run()")
    r = subprocess.run([sys.executable, "-c", script, str(Path(__file__).resolve().parents[2])],
                       cwd=repo, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "Traceback" not in r.stderr and "KeyboardInterrupt" not in r.stderr, r
