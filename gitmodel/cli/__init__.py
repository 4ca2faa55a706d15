"""The command line: parses and dispatches, nothing else.

One module per command group registers its commands on `app` (core,
remote, registry, ...); each command imports its implementation from
`gitmodel.commands` only when it runs, so that `gitmodel --help` stays
fast.  Errors are mapped to exit codes in one place,
`main()`:  GitmodelError -> one line, exit 1;  usage errors -> one line,
exit 1;  Ctrl-C -> 130;  anything else is a bug -> exit 3 (traceback with
GITMODEL_DEBUG=1).
"""

from __future__ import annotations

import os
import sys

import typer

app = typer.Typer(
    name="gitmodel",
    help="Version ML models and data inside Git: pointer files, a side cache, remotes, versions as tags.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

# Command groups register themselves on `app` when imported.
from . import core  # noqa: E402,F401
from . import _groups  # noqa: E402,F401


def _fail(message: str, code: int) -> int:
    print(f"gitmodel: error: {message}", file=sys.stderr)
    return code


def main(argv: list[str] | None = None) -> int:
    from ..errors import GitmodelError, os_error_message

    debug = os.environ.get("GITMODEL_DEBUG") == "1"
    try:
        rv = app(args=argv, prog_name="gitmodel", standalone_mode=False)
        if rv == 130:  # typer turns Ctrl-C into a returned 130 before the handler below can see it
            print("gitmodel: interrupted", file=sys.stderr)
        return rv if isinstance(rv, int) else 0
    except typer.Exit as e:
        return e.exit_code
    except GitmodelError as e:
        if debug:
            raise
        return _fail(str(e), e.exit_code)
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
        os_message = os_error_message(e)
        if debug:
            raise
        if os_message is None:  # a bare `raise` here would skip the handler below: a traceback, exit 1
            return _unexpected(e)
        return _fail(os_message, 1)
    except Exception as e:
        if debug:
            raise
        return _unexpected(e)


def _unexpected(e: Exception) -> int:
    return _fail(f"unexpected {type(e).__name__}: {e}. This is a bug; rerun with GITMODEL_DEBUG=1 "
                 f"for the traceback and report it", 3)


def run() -> None:
    sys.exit(main())
