"""The layer rules, as import-linter contracts ([tool.importlinter] in
pyproject.toml): cli -> commands -> library, the library never importing the
CLI, low packages never importing high ones, no import cycles but the ones
listed there.  And what the layering is for: `gitmodel --help` imports the
CLI only, the library reports progress and hints as data."""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def test_import_contracts_hold() -> None:
    lint = BIN / "lint-imports"
    if not lint.is_file():
        pytest.fail("lint-imports is missing: `python3 run.py test` installs the test extra (import-linter)")
    # --no-cache: leave no .import_linter_cache in the worktree.
    r = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 broken" in r.stdout, r.stdout


def test_help_imports_the_cli_and_nothing_of_the_library() -> None:
    """`gitmodel --help` must stay fast: typer and cli/ only (and errors,
    which main() maps); commands and the library load when a command runs."""
    code = ("import sys, contextlib, io\n"
            "from gitmodel.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    assert main(['--help']) == 0\n"
            "print(' '.join(sorted(m for m in sys.modules if m.startswith('gitmodel'))))\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    loaded = r.stdout.split()
    extra = [m for m in loaded if not (m == "gitmodel" or m.startswith("gitmodel.cli")
                                       or m in ("gitmodel.errors",))]
    assert extra == [], extra


def test_version(gm) -> None:
    import gitmodel

    r = gm("--version")
    assert r.code == 0 and r.out == f"gitmodel {gitmodel.__version__}\n" and r.err == "", r


def test_version_is_listed_in_help(gm) -> None:
    r = gm("--help")
    assert r.code == 0 and "--version" in r.out, r


def test_error_hint_is_data_and_the_line_is_unchanged(gm, repo: Path) -> None:
    from gitmodel.errors import GitmodelError

    e = GitmodelError("x is broken", hint="run `gitmodel fsck`")
    assert (e.message, e.hint, str(e)) == ("x is broken", "run `gitmodel fsck`", "x is broken; run `gitmodel fsck`")
    assert str(GitmodelError("plain")) == "plain" and GitmodelError("plain").hint is None
    # The CLI renders message and hint on the one line it always printed.
    r = gm("report", "--base", "HEAD", "--fail-on", "nonsense")
    assert r.code == 1 and r.err == ("gitmodel: error: gate 'nonsense' is not KEY<NUMBER (e.g. 'accuracy<-0.01', "
                                     "'loss>5%', 'metrics.json:f1<=-0.02'); fix --fail-on or [report] fail_on\n"), r


def test_api_errors_carry_their_hint(repo: Path) -> None:
    import gitmodel
    from gitmodel.errors import GitmodelError

    with pytest.raises(GitmodelError) as caught:
        gitmodel.read_bytes("nothing-here.bin")
    assert caught.value.message == "nothing-here.bin is not tracked by gitmodel"
    assert caught.value.hint == "see `gitmodel status`"


def test_terminal_progress_is_a_progress_and_library_takes_any() -> None:
    """The library's signatures take the Progress protocol: the CLI's
    terminal class and the no-op both satisfy it."""
    from gitmodel.commands.progress import TerminalProgress
    from gitmodel.progress import NoProgress, Progress

    def use(p: Progress) -> None:
        p.add_total(2, 10)
        p.advance(1, 5)
        p.advance(1, 5)
        p.close()

    out = io.StringIO()
    t = TerminalProgress("adding", stream=out)
    use(t)
    use(NoProgress())
    assert (t.files, t.bytes, t.total_files, t.total_bytes) == (2, 10, 2, 10)


def test_plural() -> None:
    from gitmodel.commands.output import plural

    assert [plural(n, "file") for n in (0, 1, 2)] == ["0 files", "1 file", "2 files"]
    assert plural(1, "loose copy", "loose copies") == "1 loose copy"
    assert plural(3, "loose copy", "loose copies") == "3 loose copies"


def test_counts_of_one_are_singular_in_command_output(gm, repo: Path) -> None:
    """`1 files` is gone from the commands that count: add, status-like
    summaries, checkout."""
    (repo / "d").mkdir()
    (repo / "d" / "only.txt").write_text("one")
    r = gm("add", "d")
    assert r.code == 0 and "(1 file, " in r.out, r
    (repo / "d" / "only.txt").unlink()
    r = gm("checkout", "d")
    assert r.code == 0 and r.out.startswith("1 file restored, "), r


def test_the_library_never_prints() -> None:
    """Only cli/ and commands/ write to the terminal: no print() and no
    sys.stdout / sys.stderr in the library (it returns results, raises
    errors, and reports progress through gitmodel.progress.Progress)."""
    import ast

    pkg = ROOT / "gitmodel"
    found: list[str] = []
    for path in sorted(pkg.rglob("*.py")):
        rel = path.relative_to(pkg).as_posix()
        if rel.startswith(("cli/", "commands/")) or rel == "__main__.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print":
                found.append(f"{rel}:{node.lineno}: print()")
            if (isinstance(node, ast.Attribute) and node.attr in ("stdout", "stderr")
                    and isinstance(node.value, ast.Name) and node.value.id == "sys"):
                found.append(f"{rel}:{node.lineno}: sys.{node.attr}")
    assert found == [], found
