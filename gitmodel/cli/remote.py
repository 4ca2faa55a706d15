"""Remote commands: remote add|list|remove|modify|default, push, fetch, pull, get."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from gitmodel.cli.app import app
from gitmodel.cli.options import Json, Paths, Quiet

remote_app = typer.Typer(help="Manage remotes: where objects are shared (folders, S3-compatible stores).",
                         no_args_is_help=True, rich_markup_mode=None)
app.add_typer(remote_app, name="remote")

RemoteOpt = Annotated[Optional[str], typer.Option("--remote", "-r", help="Remote name (default: the default remote).")]
Jobs = Annotated[Optional[int], typer.Option("--jobs", "-j", min=1, max=256,
                                             help="Parallel transfers (default: suited to the remote).")]
Revs = Annotated[Optional[list[str]], typer.Option("--rev", help="Objects of this revision (repeatable).")]
AllTags = Annotated[bool, typer.Option("--all-tags", help="Objects of every tag.")]
AllBranches = Annotated[bool, typer.Option("--all-branches", help="Objects of every local branch.")]
Local = Annotated[bool, typer.Option("--local", help="Write to the git-ignored .gitmodel/config.local.toml "
                                                     "(per-user settings and secrets).")]


@remote_app.command("add")
def remote_add(name: Annotated[str, typer.Argument(help="Remote name, e.g. origin.")],
               url: Annotated[str, typer.Argument(help="Folder path, s3://bucket/prefix, or another fsspec URL.")],
               default: Annotated[bool, typer.Option("--default", "-d", help="Make it the default remote.")] = False,
               local: Local = False) -> None:
    """Add a remote."""
    from gitmodel.commands import remote as cmd
    raise typer.Exit(cmd.add(name, url, default=default, local=local))


@remote_app.command("list")
def remote_list(json: Json = False) -> None:
    """List remotes (the default is marked *); credentials are never shown."""
    from gitmodel.commands import remote as cmd
    raise typer.Exit(cmd.list_(as_json=json))


@remote_app.command("remove")
def remote_remove(name: Annotated[str, typer.Argument(help="Remote name.")]) -> None:
    """Remove a remote from the config (its objects stay where they are)."""
    from gitmodel.commands import remote as cmd
    raise typer.Exit(cmd.remove(name))


@remote_app.command("modify")
def remote_modify(name: Annotated[str, typer.Argument(help="Remote name.")],
                  key: Annotated[str, typer.Argument(help="url, endpoint_url, region, profile, jobs, link; "
                                                          "with --local also access_key_id, secret_access_key, "
                                                          "session_token.")],
                  value: Annotated[Optional[str], typer.Argument(help="New value.")] = None,
                  unset: Annotated[bool, typer.Option("--unset", help="Remove the setting.")] = False,
                  local: Local = False) -> None:
    """Change one setting of a remote."""
    from gitmodel.commands import remote as cmd
    raise typer.Exit(cmd.modify(name, key, value, unset=unset, local=local))


@remote_app.command("default")
def remote_default(name: Annotated[Optional[str], typer.Argument(help="Remote name (omit to show).")] = None,
                   local: Local = False) -> None:
    """Show or set the default remote."""
    from gitmodel.commands import remote as cmd
    raise typer.Exit(cmd.set_default(name, local=local))


@app.command()
def push(paths: Paths = None, remote: RemoteOpt = None, rev: Revs = None, all_tags: AllTags = False,
         all_branches: AllBranches = False, jobs: Jobs = None, quiet: Quiet = False,
         check_remote: Annotated[bool, typer.Option("--check-remote", help="Ask the remote what it has instead "
                                                    "of trusting the local record of earlier pushes.")] = False,
         json: Json = False) -> None:
    """Upload the objects of tracked paths (or of revisions) that the remote lacks."""
    from gitmodel.commands import push as cmd
    raise typer.Exit(cmd.run(paths or [], remote=remote, revs=rev, all_tags=all_tags, all_branches=all_branches,
                             jobs=jobs, quiet=quiet, check_remote=check_remote, as_json=json))


@app.command()
def fetch(paths: Paths = None, remote: RemoteOpt = None, rev: Revs = None, all_tags: AllTags = False,
          all_branches: AllBranches = False, jobs: Jobs = None, quiet: Quiet = False, json: Json = False) -> None:
    """Download into the cache the objects of tracked paths (or of revisions) that it lacks."""
    from gitmodel.commands import fetch as cmd
    raise typer.Exit(cmd.run(paths or [], remote=remote, revs=rev, all_tags=all_tags, all_branches=all_branches,
                             jobs=jobs, quiet=quiet, as_json=json))


@app.command()
def pull(paths: Paths = None, remote: RemoteOpt = None, jobs: Jobs = None,
         force: Annotated[bool, typer.Option("--force", "-f", help="Replace modified files (their content is "
                                             "kept in the cache first).")] = False,
         quiet: Quiet = False) -> None:
    """fetch, then checkout: make the workspace match its pointers."""
    from gitmodel.commands import pull as cmd
    raise typer.Exit(cmd.run(paths or [], remote=remote, jobs=jobs, force=force, quiet=quiet))


@app.command()
def get(repo: Annotated[str, typer.Argument(help="Another gitmodel repository: a local path or a git URL.")],
        path: Annotated[str, typer.Argument(help="The tracked file or folder in it, e.g. models/clf.pkl, or a "
                                            "version: NAME@v1.2.0, NAME@latest, NAME#STAGE.")],
        rev: Annotated[Optional[str], typer.Option("--rev", help="Revision or version (default: HEAD).")] = None,
        out: Annotated[Optional[str], typer.Option("--out", "-o", help="Where to write it (must not exist; "
                                                   "default: its name in the current folder).")] = None,
        verify: Annotated[bool, typer.Option(
            "--verify", help="Refuse it unless allowed signers signed the tags that decide the version "
            "(as `gitmodel verify`), checked before anything is downloaded; always, for a stage with "
            "require_signature.")] = False,
        allowed_signers: Annotated[Optional[str], typer.Option(
            "--allowed-signers", metavar="FILE", help="Verify against this allowed-signers file instead of the "
            "source's committed one (a deploy target's pinned copy); implies --verify.")] = None,
        remote: RemoteOpt = None, jobs: Jobs = None, quiet: Quiet = False, json: Json = False) -> None:
    """Download one artifact of another repository without checking it out."""
    from gitmodel.commands import get as cmd
    raise typer.Exit(cmd.run(repo, path, rev=rev, out=out, remote=remote, jobs=jobs, quiet=quiet, as_json=json,
                             verify=verify, allowed_signers=allowed_signers))
