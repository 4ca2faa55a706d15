"""The typer application every command module registers on.

Its own module, not `gitmodel/cli/__init__.py`, so that the command modules
import it without importing their own package back (the registration cycle
the package had: `cli/__init__` defined `app`, imported the command modules,
and they imported `app` from `cli`)."""

from __future__ import annotations

from typing import Annotated

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


def _version(value: bool) -> None:
    if value:
        from gitmodel import __version__  # the package is imported already: costs nothing

        print(f"gitmodel {__version__}")
        raise typer.Exit(0)


@app.callback()
def _options(version: Annotated[bool, typer.Option(
        "--version", is_eager=True, callback=_version, help="Show gitmodel's version and exit.")] = False) -> None:
    # Options of `gitmodel` itself (before the command); the commands are registered by the modules beside this one.
    pass
