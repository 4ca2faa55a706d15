"""Imports the command groups beyond the core ones, so each registers on `app`.
One line per group; each group module is owned by the code it dispatches to."""

from __future__ import annotations
