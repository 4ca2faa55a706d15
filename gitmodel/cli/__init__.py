"""The command line: parses and dispatches, nothing else.

`app` lives in gitmodel.cli.app; one module per command group registers
its commands on it (core, remote, registry, ...); each command imports its implementation from
`gitmodel.commands` only when it runs, so that `gitmodel --help` stays
fast.  Errors are mapped to exit codes in one place,
`main()`:  GitmodelError -> one line, exit 1;  usage errors -> one line,
exit 1;  Ctrl-C -> 130;  anything else is a bug -> exit 3 (traceback with
GITMODEL_DEBUG=1).
"""

from __future__ import annotations

import copy
import os
import sys

import typer

# Each command group registers its commands on `app` when imported; the
# group modules import `app` from gitmodel.cli.app, never from this package,
# so there is no import cycle.  One line per group; each group module is
# owned by the code it dispatches to.
from gitmodel.cli import (
    core,  # noqa: E402,F401  (init, add, status, checkout, remove, unprotect)
    gitflow,  # noqa: E402,F401  (install-hooks, uninstall-hooks, log; internal: hook, textconv)
    maintenance,  # noqa: E402,F401  (gc, fsck)
    metrics,  # noqa: E402,F401  (metrics/params show|diff, diff, report, plot)
    registry,  # noqa: E402,F401  (model add|list, tag, promote, deprecate, verify, versions, show, history, rollback)
    remote,  # noqa: E402,F401  (remote add|list|remove|modify|default, push, fetch, pull, get)
)
from gitmodel.cli.app import app

__all__ = ["app", "main", "run"]


def _fail(message: str, code: int) -> int:
    print(f"gitmodel: error: {message}", file=sys.stderr)
    return code


def main(argv: list[str] | None = None) -> int:
    from gitmodel.errors import GitmodelError, os_error, render

    debug = os.environ.get("GITMODEL_DEBUG") == "1"
    try:
        rv = _app_for(sys.argv[1:] if argv is None else argv)(args=argv, prog_name="gitmodel", standalone_mode=False)
        if rv == 130:  # typer turns Ctrl-C into a returned 130 before the handler below can see it
            print("gitmodel: interrupted", file=sys.stderr)
        return _refusals(rv if isinstance(rv, int) else 0)
    except typer.Exit as e:
        return _refusals(e.exit_code)
    except GitmodelError as e:
        _refusals(1)
        if debug:
            raise
        return _fail(render(e.message, e.hint), e.exit_code)
    except typer.TyperException as e:  # usage errors from the vendored click
        message = e.format_message().rstrip()
        hint = "" if "--help" in message else f"{'' if message.endswith('.') else '.'} Run `gitmodel --help`."
        return _fail(message + hint, 1)
    except (KeyboardInterrupt, typer.Abort):
        print("gitmodel: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except OSError as e:
        known = os_error(e)
        if debug:
            raise
        if known is None:  # a bare `raise` here would skip the handler below: a traceback, exit 1
            return _unexpected(e)
        return _fail(render(known.message, known.hint), 1)
    except Exception as e:
        if debug:
            raise
        return _unexpected(e)


def _refusals(code: int) -> int:
    """Print what the command refused and went on without (a pointer at
    `.git.gm`): one error line each; any refusal makes the exit code 1."""
    from gitmodel.errors import take_refused

    refused = take_refused()
    for error in refused:
        _fail(str(error), 1)
    return max(code, 1) if refused else code


def _app_for(args: list[str]) -> typer.Typer:
    """`app` with only the command (or command group) named on the command
    line.  typer builds every registered command's parameters from its
    signature on each run (~25 ms for ~40 commands, paid by every command,
    hooks included); only the one that runs needs them.  The full app
    still answers `gitmodel`, `gitmodel --help` and unknown commands."""
    if not args or args[0].startswith("-"):
        return app
    from typer.main import get_command_name

    name = args[0]
    commands = [c for c in app.registered_commands
                if (c.name or (get_command_name(c.callback.__name__) if c.callback else None)) == name]
    groups = [g for g in app.registered_groups
              if (g.name or (g.typer_instance.info.name if g.typer_instance else None)) == name]
    if not commands and not groups:
        return app
    only = copy.copy(app)
    # A second, hidden command keeps it a group: typer runs a lone command
    # as the whole program, which would read the command's name as an argument.
    only.registered_commands = [*commands, typer.models.CommandInfo(name="-", callback=_noop, hidden=True)]
    only.registered_groups = groups
    return only


def _noop() -> None:
    pass


def _unexpected(e: Exception) -> int:
    return _fail(f"unexpected {type(e).__name__}: {e}. This is a bug; rerun with GITMODEL_DEBUG=1 "
                 f"for the traceback and report it", 3)


def run() -> None:
    import signal

    code = 130
    try:
        code = main()
    except KeyboardInterrupt:  # landed between main's own handler and here
        print("gitmodel: interrupted", file=sys.stderr)
    finally:
        # The command is over and its exit code decided.  A Ctrl-C from here
        # on could only break into the interpreter's shutdown (joining
        # threads, atexit, flushing), which prints a traceback and undoes
        # nothing: ignore it.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.exit(code)
