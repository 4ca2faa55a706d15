"""`gitmodel log [PATH]`: the history of tracked artifacts."""

from __future__ import annotations

import json

from gitmodel.commands.output import human_size, plural, short, short_date
from gitmodel.git.log import log
from gitmodel.repo import Repo


def run(path: str | None, *, limit: int | None = None, rev: str = "HEAD", as_json: bool = False) -> int:
    entries = log(Repo.discover(), path, limit=limit, rev=rev)
    if as_json:
        print(json.dumps([e.as_dict() for e in entries], indent=2))
        return 0
    if not entries:
        print("no commit changes a gitmodel-tracked path yet")
        return 0
    for e in entries:
        tags = f"  ({', '.join(e.tags)})" if e.tags else ""
        print(f"commit {e.commit[:10]}  {short_date(e.date)}  {e.author}{tags}")
        print(f"    {e.message}")
        for c in e.changes:
            p = c.pointer
            if p is None:
                detail = c.problem or ""
            else:
                files = f"{plural(p.files or 0, 'file')}, " if p.is_dir else ""
                detail = f"{files}{human_size(p.size)}  {short(p.oid)}"
            print(f"    {c.status:<8} {c.path}{'/' if p is not None and p.is_dir else ''}  {detail}".rstrip())
        print()
    return 0
