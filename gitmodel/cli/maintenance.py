"""Maintenance commands: gc, fsck."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from gitmodel.cli.app import app
from gitmodel.cli.options import Json, Paths, Quiet

MaintRemote = Annotated[Optional[str], typer.Option("--remote", "-r", help="Work on this remote instead of the "
                                                                            "local cache.")]


@app.command()
def gc(dry_run: Annotated[bool, typer.Option("--dry-run", "-n", help="Only show what would be deleted.")] = False,
       remote: MaintRemote = None,
       keep_days: Annotated[float, typer.Option("--keep-days", metavar="N",
                                                help="Keep unreachable objects younger than N days.")] = 14.0,
       quiet: Quiet = False, json: Json = False) -> None:
    """Delete objects no branch, tag, stash, reflog, index or worktree references."""
    from gitmodel.commands import gc as cmd
    raise typer.Exit(cmd.run(dry_run=dry_run, remote=remote, keep_days=keep_days, quiet=quiet, as_json=json))


@app.command()
def fsck(paths: Paths = None, remote: MaintRemote = None, quiet: Quiet = False, json: Json = False) -> None:
    """Re-hash objects; report missing and corrupt ones (corrupt cache objects are moved aside)."""
    from gitmodel.commands import fsck as cmd
    raise typer.Exit(cmd.run(paths or [], remote=remote, quiet=quiet, as_json=json))
