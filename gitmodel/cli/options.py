"""Options shared by several commands."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

Paths = Annotated[Optional[list[str]], typer.Argument(help="Tracked files or folders (default: all).")]
Json = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="No progress output.")]
