"""`gitmodel history [NAME]`: registrations and stage assignments over time."""

from __future__ import annotations

import json

from gitmodel.commands.output import short_date, table
from gitmodel.registry.state import history
from gitmodel.repo import Repo


def run(name: str | None, *, as_json: bool = False) -> int:
    events = history(Repo.discover(), name)
    if as_json:
        print(json.dumps([e.to_json() for e in events], indent=2))
        return 0
    if not events:
        print("no registry tags yet; create a version with `gitmodel tag NAME`")
        return 0
    rows = [[short_date(e.date), e.model, e.event.value, e.version or "-", e.stage or "-",
             e.commit[:7], e.author, e.signed_by.label() if e.signed_by else "-", e.tag] for e in events]
    print(table(["DATE", "MODEL", "EVENT", "VERSION", "STAGE", "COMMIT", "AUTHOR", "SIGNED", "TAG"], rows))
    return 0
