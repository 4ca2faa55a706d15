"""One place for how commands write values for people: sizes, counted
nouns, tables, metric values, short oids and dates.

Commands import these from here rather than each keeping a copy (there were
two tables, two value formatters and a dozen hand-made plurals, some of
which said `1 files`).  The primitives live in the library (gitmodel.humanize,
gitmodel.metrics.read, gitmodel.store.oid) because the library's rendered
reports use them too; this module is the commands' single door to them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from gitmodel.humanize import human_size, plural, table
from gitmodel.store.oid import short

__all__ = ["SHOWN", "fmt_value", "human_size", "listing", "plural", "short", "short_date", "table"]

SHOWN = 20  # items listed under a summary line; the rest are counted


def fmt_value(value: Any, precision: int = 5) -> str:
    """A metric or param value for people (gitmodel.metrics.read.fmt_value):
    floats rounded to `precision` decimals, booleans and null as in JSON."""
    # Imported on use: the metrics reader costs start-up time that
    # `status` and `add`, which import this module, should not pay.
    from gitmodel.metrics.read import fmt_value as fmt

    return fmt(value, precision)


def listing(items: Sequence[str], shown: int = SHOWN) -> list[str]:
    """The lines listing `items` under a summary line: the first `shown`,
    indented, then `... and N more` so a long list is never cut silently."""
    lines = [f"  {item}" for item in items[:shown]]
    if len(items) > shown:
        lines.append(f"  ... and {len(items) - shown} more")
    return lines


def short_date(iso: str) -> str:
    """`2024-05-01 12:34` from an ISO 8601 timestamp."""
    return iso[:16].replace("T", " ")
