"""`gitmodel params show|diff`: the metrics commands, reading the params files."""

from __future__ import annotations

from gitmodel.commands import metrics as cmd
from gitmodel.metrics import read as m


def show(revs: list[str], *, all_tags: bool = False, model: str | None = None, targets: list[str] | None = None,
         as_json: bool = False, md: bool = False, precision: int = 5) -> int:
    return cmd.show(m.PARAMS, revs, all_tags=all_tags, model=model, targets=targets, as_json=as_json, md=md,
                    precision=precision)


def diff(a: str | None, b: str | None, *, model: str | None = None, targets: list[str] | None = None,
         as_json: bool = False, md: bool = False, precision: int = 5, show_all: bool = False) -> int:
    return cmd.diff(m.PARAMS, a, b, model=model, targets=targets, as_json=as_json, md=md, precision=precision,
                    show_all=show_all)
