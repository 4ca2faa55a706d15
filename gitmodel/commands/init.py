from __future__ import annotations

from ..init import init
from ..repo import Repo


def run(*, stage: bool = True) -> int:
    report = init(Repo.discover(), stage=stage)
    if report.created:
        for path in report.created:
            print(f"created {path}")
    else:
        print(f"gitmodel is already set up in {report.root}")
    return 0
