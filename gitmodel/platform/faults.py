"""Fault injection for the crash tests: `GITMODEL_FAULT=<point>` makes the
process die (SIGKILL, the default) or raise (`GITMODEL_FAULT_MODE=raise`,
`=interrupt` for KeyboardInterrupt) when it reaches that named point.

A point costs one dictionary lookup when the variable is unset."""

from __future__ import annotations

import os
import signal


class InjectedFault(Exception):
    pass


def armed() -> bool:
    """Whether any point is armed: loops over thousands of files check this
    once and skip their per-file points (an environment lookup each)."""
    return bool(os.environ.get("GITMODEL_FAULT"))


def point(name: str) -> None:
    wanted = os.environ.get("GITMODEL_FAULT")
    if not wanted or name not in wanted.split(","):
        return
    mode = os.environ.get("GITMODEL_FAULT_MODE", "kill")
    if mode == "raise":
        raise InjectedFault(f"injected fault at {name}")
    if mode == "interrupt":
        raise KeyboardInterrupt
    os.kill(os.getpid(), signal.SIGKILL)
