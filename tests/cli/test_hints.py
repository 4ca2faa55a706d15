"""Errors carry their hint as data: the library raises `message` and `hint`
apart, the Python API shows both, and the CLI renders them as the same one
line as before (`gitmodel: error: <message>; <hint>`)."""

from __future__ import annotations

import ast
from collections.abc import Callable
from pathlib import Path

import pytest

import gitmodel
from gitmodel.errors import GitmodelError, os_error, os_error_message, render
from gitmodel.formats import FormatError
from tests.support.cli import GM, assert_one_line_error
from tests.support.git import make_repo, save

LIBRARY = Path(gitmodel.__file__).parent
# How a what-to-do-next hint starts; a message must not end with one after "; ".
ADVICE = ("run ", "see ", "check ", "use ", "pass ", "fix ", "remove ", "install ", "add ", "or ", "try ",
          "create ", "declare ", "restore ", "rename ", "move ", "wait ", "set ", "change ", "upgrade ",
          "name ", "give ", "delete ", "push ", "fetch ", "replace ", "pick ", "tag ", "commit ", "merge ",
          "track ", "assign ", "take ", "resolve ", "clone ", "grant ")


def _raised(call: Callable[[], object]) -> GitmodelError:
    with pytest.raises(GitmodelError) as info:
        call()
    return info.value


def _cli_line(gm: GM, *args: str, cwd: Path) -> str:
    return assert_one_line_error(gm(*args, cwd=cwd))


def test_status_without_init_hints_at_init(tmp_path: Path, gm: GM) -> None:
    root = make_repo(tmp_path / "plain", init_gitmodel=False)
    e = _raised(lambda: gitmodel.status(repo=root))
    assert e.hint == "run `gitmodel init` first"
    assert e.message.startswith("gitmodel is not set up in ") and "gitmodel init" not in e.message
    assert str(e) == render(e.message, e.hint) == f"{e.message}; {e.hint}"
    assert _cli_line(gm, "status", cwd=root) == f"gitmodel: error: {e.message}; {e.hint}"


def test_bad_rev_hints_at_git_log(repo: Path, gm: GM) -> None:
    save(repo, "m.bin", b"weights", "model")
    e = _raised(lambda: gitmodel.tag("clf", "v1.0.0", rev="no-such-rev", path="m.bin", repo=repo))
    assert e.message == "unknown revision 'no-such-rev'"
    assert e.hint == "check it with `git log --oneline` or `git tag`"
    line = "gitmodel: error: unknown revision 'no-such-rev'; check it with `git log --oneline` or `git tag`"
    assert _cli_line(gm, "tag", "clf", "v1.0.0", "--rev", "no-such-rev", "--path", "m.bin", cwd=repo) == line
    assert _cli_line(gm, "log", "m.bin", "--rev", "no-such-rev", cwd=repo) == line


def test_unknown_model_and_untracked_path(repo: Path, gm: GM) -> None:
    save(repo, "m.bin", b"weights", "model")
    e = _raised(lambda: gitmodel.promote("nope", "v1.0.0", "prod", repo=repo))
    assert e.message == "model 'nope' has no versions"
    assert e.hint == "create one with `gitmodel tag nope`"
    assert _cli_line(gm, "promote", "nope", "v1.0.0", "prod", cwd=repo) == f"gitmodel: error: {e}"
    (repo / "untracked.bin").write_bytes(b"x")
    e = _raised(lambda: gitmodel.checkout(["untracked.bin"], repo=repo))
    assert e.hint == "run `gitmodel add untracked.bin` to track it" and "gitmodel add" not in e.message
    assert _cli_line(gm, "checkout", "untracked.bin", cwd=repo) == f"gitmodel: error: {e.message}; {e.hint}"


def test_subclasses_with_their_own_init_keep_the_hint() -> None:
    e = FormatError("metrics.json", "not valid JSON (line 1, column 2: oops)")
    assert e.message == "metrics.json: not valid JSON (line 1, column 2: oops)"
    assert e.hint == "fix the file and run the command again"
    assert str(e) == "metrics.json: not valid JSON (line 1, column 2: oops); fix the file and run the command again"
    assert FormatError("m.json", "bad", hint=None).hint is None


def test_os_errors_keep_their_line_with_the_hint_apart() -> None:
    full = os_error(OSError(28, "No space left on device", "/x/y"))
    assert full is not None
    assert full.message == "No space left on device (/x/y): no space left on the device"
    assert full.hint == "free some space and run the command again"
    assert os_error_message(OSError(28, "No space left on device", "/x/y")) == (
        "No space left on device (/x/y): no space left on the device; free some space and run the command again")
    read_only = os_error(OSError(30, "Read-only file system"))
    assert read_only is not None and read_only.hint is None
    assert str(read_only) == "Read-only file system: the filesystem is read-only; gitmodel needs to write there"
    assert os_error(OSError(2, "No such file or directory")) is None


def _text(node: ast.expr) -> str:
    """The literal text of a message (placeholders as {})."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
    return ""


def test_no_library_error_embeds_its_hint_in_the_message() -> None:
    """Every library error passes what to do next as `hint=`: none ends its
    message with "; run `...`" (or another piece of advice after "; ")."""
    offenders = []
    for path in sorted(LIBRARY.rglob("*.py")):
        if path.relative_to(LIBRARY).parts[0] in ("cli", "commands"):
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not (isinstance(node, ast.Call) and node.args):
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            if not name.endswith("Error") and name != "__init__":
                continue
            text = _text(node.args[0])
            tail = text.rsplit("; ", 1)[1] if "; " in text else ""
            if "; run `" in text or tail.startswith(ADVICE):
                offenders.append(f"{path.relative_to(LIBRARY.parent)}:{node.lineno}: {text}")
    assert not offenders, "\n".join(offenders)
