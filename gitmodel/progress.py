"""How library code reports progress on long work: a small interface.

Library functions take an optional `Progress` and call it as they go; they
never draw anything themselves.  The CLI passes its terminal implementation
(gitmodel.commands.progress.TerminalProgress: a redrawn line on a terminal,
a plain line every few seconds in CI logs); the Python API passes nothing,
or anything with these three methods.
"""

from __future__ import annotations

from typing import Protocol

# Kept so code written against the old module still imports: sizes for
# people live in gitmodel.humanize now.
from gitmodel.humanize import human_size

__all__ = ["NoProgress", "Progress", "human_size"]


class Progress(Protocol):
    """Counts of files and bytes: totals as they become known, then done so far.

    Implementations must accept calls from several threads at once (the
    transfers report from their workers)."""

    def add_total(self, files: int, size: int) -> None:
        """`files` more files, `size` more bytes to do."""

    def advance(self, files: int = 1, size: int = 0) -> None:
        """`files` files and `size` bytes done."""

    def close(self) -> None:
        """The work is over: clear anything shown."""


class NoProgress:
    """A Progress that reports nothing: for callers that want no output but
    an object to pass."""

    def add_total(self, files: int, size: int) -> None:
        pass

    def advance(self, files: int = 1, size: int = 0) -> None:
        pass

    def close(self) -> None:
        pass
