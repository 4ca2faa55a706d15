"""Git-native workflow: install-hooks, uninstall-hooks, log, and the
internal commands git itself runs (hook NAME, textconv FILE)."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from gitmodel.cli.app import app
from gitmodel.cli.options import Json

# Hook arguments are whatever git passes (shas, a remote URL): take them verbatim.
_VERBATIM = {"ignore_unknown_options": True, "allow_extra_args": True}


@app.command("install-hooks")
def install_hooks(json: Json = False) -> None:
    """Install the git hooks (pre-push, post-checkout, post-merge, post-rewrite, pre-commit) and the diff driver.

    Hooks you already had are kept (as NAME.before-gitmodel) and still run first."""
    from gitmodel.commands import hooks as cmd
    raise typer.Exit(cmd.install(as_json=json))


@app.command("uninstall-hooks")
def uninstall_hooks(json: Json = False) -> None:
    """Remove gitmodel's git hooks and put back the hooks they had kept."""
    from gitmodel.commands import hooks as cmd
    raise typer.Exit(cmd.uninstall(as_json=json))


@app.command()
def log(path: Annotated[Optional[str], typer.Argument(help="A tracked file or folder (default: all).")] = None,
        limit: Annotated[Optional[int], typer.Option("--limit", "-n", min=1, help="At most N commits.")] = None,
        rev: Annotated[str, typer.Option("--rev", help="Start from this revision.")] = "HEAD",
        json: Json = False) -> None:
    """History of a tracked artifact: commit, date, author, message, oid, size, version tags."""
    from gitmodel.commands import log as cmd
    raise typer.Exit(cmd.run(path, limit=limit, rev=rev, as_json=json))


@app.command(hidden=True, context_settings=_VERBATIM)
def hook(name: Annotated[str, typer.Argument(help="The git hook being run.")],
         args: Annotated[Optional[list[str]], typer.Argument(help="Its arguments, from git.")] = None) -> None:
    """Run a git hook's work (called by the installed hook scripts)."""
    from gitmodel.commands import hook as cmd
    raise typer.Exit(cmd.run(name, list(args or [])))


@app.command(hidden=True)
def textconv(path: Annotated[str, typer.Argument(help="A pointer file's content, as git hands it over.")]) -> None:
    """Print a pointer readably (the diff driver git runs for *.gm files)."""
    from gitmodel.commands import textconv as cmd
    raise typer.Exit(cmd.run(path))
