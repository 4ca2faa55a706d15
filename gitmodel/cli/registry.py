"""Registry commands: model add|list, tag, promote, deprecate, verify,
versions, show, history, rollback."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from gitmodel.cli.app import app
from gitmodel.cli.options import Json, Quiet

model_app = typer.Typer(help="Declare models: the tracked artifact, its data, params and metrics.",
                        no_args_is_help=True)
app.add_typer(model_app, name="model")

Message = Annotated[Optional[str], typer.Option("--message", "-m", help="Tag message (default: GTO's).")]
Push = Annotated[bool, typer.Option("--push", help="Push the tag to the git remote, its objects first.")]
Sign = Annotated[Optional[bool], typer.Option("--sign/--no-sign", help="Sign the tag as `git tag -s` does "
                                              "(default: [registry] sign in the config).")]


@model_app.command("add")
def model_add(name: Annotated[str, typer.Argument(help="Model name: lowercase letters, digits, '-', '/'.")],
              path: Annotated[str, typer.Argument(help="The tracked artifact (file or folder).")],
              data: Annotated[Optional[list[str]], typer.Option("--data", help="Data it was trained on "
                                                                "(repeatable).")] = None,
              params: Annotated[Optional[str], typer.Option("--params", help="Params file.")] = None,
              metrics: Annotated[Optional[str], typer.Option("--metrics", help="Metrics file.")] = None,
              replace: Annotated[bool, typer.Option("--replace", help="Change an existing declaration.")] = False,
              no_stage: Annotated[bool, typer.Option("--no-stage", help="Do not git-add the config.")] = False,
              ) -> None:
    """Declare a model in the committed config (.gitmodel/config.toml)."""
    from gitmodel.commands import model as cmd
    raise typer.Exit(cmd.add(name, path, data=data or [], params=params, metrics=metrics, replace=replace,
                             stage=not no_stage))


@model_app.command("list")
def model_list(json: Json = False) -> None:
    """List the declared models."""
    from gitmodel.commands import model as cmd
    raise typer.Exit(cmd.list_(as_json=json))


@app.command()
def tag(name: Annotated[str, typer.Argument(help="Model name.")],
        version: Annotated[Optional[str], typer.Argument(help="v + semver, like v1.2.0 "
                                                         "(default: the next patch).")] = None,
        bump: Annotated[Optional[str], typer.Option("--bump", help="major | minor | patch of the latest "
                                                    "version.")] = None,
        rev: Annotated[Optional[str], typer.Option("--rev", help="Commit to tag (default HEAD).")] = None,
        message: Message = None,
        path: Annotated[Optional[str], typer.Option("--path", help="Declare the model with this artifact "
                                                    "path (first version).")] = None,
        push: Push = False, sign: Sign = None) -> None:
    """Register a model version: an annotated tag NAME@vX.Y.Z with a snapshot of artifact, data, params, metrics."""
    from gitmodel.commands import tag as cmd
    raise typer.Exit(cmd.run(name, version, bump=bump, rev=rev, message=message, path=path, push=push, sign=sign))


@app.command()
def promote(name: Annotated[str, typer.Argument(help="Model name.")],
            version: Annotated[str, typer.Argument(help="Version (v1.2.0, latest, or NAME@v1.2.0).")],
            stage: Annotated[str, typer.Argument(help="Stage name, like prod.")],
            message: Message = None, push: Push = False, sign: Sign = None) -> None:
    """Assign a stage to a version (tag NAME#STAGE#N); re-assigning an older version rolls a stage back."""
    from gitmodel.commands import promote as cmd
    raise typer.Exit(cmd.run(name, version, stage, message=message, push=push, sign=sign))


@app.command()
def deprecate(name: Annotated[str, typer.Argument(help="Model name.")],
              version: Annotated[Optional[str], typer.Argument(help="Deregister this version.")] = None,
              stage: Annotated[Optional[str], typer.Option("--stage", help="Unassign this stage (from VERSION, "
                                                           "default: the version holding it).")] = None,
              message: Message = None, push: Push = False, sign: Sign = None) -> None:
    """Deprecate a model, deregister a version, or unassign a stage (GTO's `!` tags)."""
    from gitmodel.commands import deprecate as cmd
    raise typer.Exit(cmd.run(name, version, stage=stage, message=message, push=push, sign=sign))


@app.command()
def verify(ref: Annotated[str, typer.Argument(help="NAME@v1.2.0, NAME@latest or NAME#STAGE.")],
           allowed_signers: Annotated[Optional[str], typer.Option(
               "--allowed-signers", help="Trust this allowed-signers file instead of the committed "
               ".gitmodel/allowed_signers (a deploy target's pinned copy).")] = None,
           json: Json = False) -> None:
    """Exit 0 only when the tags that decide REF are signed by allowed signers."""
    from gitmodel.commands import verify as cmd
    raise typer.Exit(cmd.run(ref, allowed_signers=allowed_signers, as_json=json))


@app.command()
def versions(name: Annotated[Optional[str], typer.Argument(help="Model name (default: all).")] = None,
             all_: Annotated[bool, typer.Option("--all", help="Include deregistered versions.")] = False,
             json: Json = False) -> None:
    """List versions, newest first: date, commit, author, stages, size, oid, key metrics."""
    from gitmodel.commands import versions as cmd
    raise typer.Exit(cmd.run(name, as_json=json, include_all=all_))


@app.command()
def show(ref: Annotated[str, typer.Argument(help="NAME@v1.2.0, NAME@latest, NAME#STAGE, NAME, or a tag.")],
         json: Json = False) -> None:
    """Everything recorded for one version, with its lineage (data, params, metrics)."""
    from gitmodel.commands import show as cmd
    raise typer.Exit(cmd.run(ref, as_json=json))


@app.command()
def history(name: Annotated[Optional[str], typer.Argument(help="Model name (default: all).")] = None,
            json: Json = False) -> None:
    """Registrations and stage assignments over time, newest first."""
    from gitmodel.commands import history as cmd
    raise typer.Exit(cmd.run(name, as_json=json))


@app.command()
def rollback(name: Annotated[str, typer.Argument(help="Model name.")],
             to: Annotated[str, typer.Option("--to", help="Version to restore (v1.0.0 or NAME@v1.0.0).")],
             no_stage: Annotated[bool, typer.Option("--no-stage", help="Do not git-add the pointer.")] = False,
             quiet: Quiet = False) -> None:
    """Put a version's pointer and artifact back in the workspace, staged and ready to commit."""
    from gitmodel.commands import rollback as cmd
    raise typer.Exit(cmd.run(name, to, stage=not no_stage, quiet=quiet))
