"""Core commands: init, add, status, checkout, remove, unprotect."""

from __future__ import annotations

from typing import Annotated

import typer

from gitmodel.cli.app import app
from gitmodel.cli.options import Json, Paths, Quiet


@app.command()
def init(no_stage: Annotated[bool, typer.Option("--no-stage", help="Do not git-add the config.")] = False,
         no_hooks: Annotated[bool, typer.Option("--no-hooks", help="Do not install the git hooks.")] = False) -> None:
    """Set up gitmodel in the current Git repository (safe to run again)."""
    from gitmodel.commands import init as cmd
    raise typer.Exit(cmd.run(stage=not no_stage, hooks=not no_hooks))


@app.command()
def add(paths: Annotated[list[str], typer.Argument(help="Files or folders to track.")],
        no_stage: Annotated[bool, typer.Option("--no-stage",
                                               help="Do not git-add the pointer and .gitignore.")] = False,
        quiet: Quiet = False) -> None:
    """Track files or folders: store them in the cache and write PATH.gm pointers."""
    from gitmodel.commands import add as cmd
    raise typer.Exit(cmd.run(paths, stage=not no_stage, quiet=quiet))


@app.command()
def status(paths: Paths = None, json: Json = False) -> None:
    """Show which tracked paths are unchanged, modified, missing, or not in the cache."""
    from gitmodel.commands import status as cmd
    raise typer.Exit(cmd.run(paths or [], as_json=json))


@app.command()
def checkout(paths: Paths = None,
             force: Annotated[bool, typer.Option("--force", "-f", help="Replace modified files "
                                                 "(their content is kept in the cache first).")] = False,
             ours: Annotated[bool, typer.Option("--ours", help="Merge conflict in a pointer: take our side.")] = False,
             theirs: Annotated[bool, typer.Option("--theirs", help="Merge conflict in a pointer: take "
                                                  "their side.")] = False,
             quiet: Quiet = False) -> None:
    """Make workspace files match their pointers, from the cache."""
    from gitmodel.commands import checkout as cmd
    raise typer.Exit(cmd.run(paths or [], force=force, quiet=quiet, ours=ours, theirs=theirs))


@app.command()
def remove(paths: Annotated[list[str], typer.Argument(help="Tracked files or folders.")]) -> None:
    """Stop tracking: keep the file, drop its pointer and .gitignore line."""
    from gitmodel.commands import remove as cmd
    raise typer.Exit(cmd.run(paths))


@app.command()
def unprotect(paths: Annotated[list[str], typer.Argument(help="Tracked files or folders.")]) -> None:
    """Turn files linked to the cache into editable copies."""
    from gitmodel.commands import unprotect as cmd
    raise typer.Exit(cmd.run(paths))
