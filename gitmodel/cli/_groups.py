"""Imports the command groups beyond the core ones, so each registers on `app`.
One line per group; each group module is owned by the code it dispatches to."""

from __future__ import annotations
from gitmodel.cli import metrics  # noqa: E402,F401  (metrics/params show|diff, diff, report, plot)
from gitmodel.cli import registry  # noqa: E402,F401  (model add|list, tag, promote, deprecate, versions, show, history, rollback)
from gitmodel.cli import remote  # noqa: E402,F401  (remote add|list|remove|modify|default, push, fetch, pull, get)
from gitmodel.cli import maintenance  # noqa: E402,F401  (gc, fsck)
from gitmodel.cli import gitflow  # noqa: E402,F401  (install-hooks, uninstall-hooks, log; internal: hook, textconv)
