"""`gitmodel diff [A] [B]`: everything between two versions, for people or as JSON."""

from __future__ import annotations

from gitmodel.commands.metrics import warn
from gitmodel.metrics import report
from gitmodel.metrics.read import to_json
from gitmodel.repo import Repo


def run(a: str | None, b: str | None, *, model: str | None = None, as_json: bool = False, md: bool = False,
        precision: int = 5, show_all: bool = False) -> int:
    repo = Repo.discover()
    c = report.compare(repo, a or "HEAD", b, model=model, include_unchanged=show_all, precision=precision)
    if as_json:
        print(to_json(c.as_dict()))
        return 0
    if md:
        print(report.markdown(c, precision, title="gitmodel diff"), end="")
    else:
        print(report.text(c, precision, changed_only=not show_all), end="")
    warn(c.errors)
    return 0
