from __future__ import annotations

from gitmodel.commands.output import human_size
from gitmodel.repo import Repo
from gitmodel.workspace.status import MISSING, MODIFIED, NOT_IN_CACHE, UNCHANGED, status

HINTS = {
    MODIFIED: "run `gitmodel add` to record the change, or `gitmodel checkout --force` to discard it",
    MISSING: "run `gitmodel checkout` to restore",
    NOT_IN_CACHE: "run `gitmodel pull` to fetch and restore",
}


def run(paths: list[str], *, as_json: bool = False) -> int:
    results = status(Repo.discover(), paths)
    if as_json:
        import json  # only for --json: every status run would pay for it

        print(json.dumps([s.as_dict() for s in results], indent=2))
        return 0
    if not results:
        print("nothing tracked yet; run `gitmodel add PATH`")
        return 0
    for s in results:
        line = f"{s.state:>13}  {s.rel}{'/' if s.kind == 'dir' else ''}  ({human_size(s.size)})"
        if s.kind == "dir" and s.state == MODIFIED:
            line += f"  {len(s.added)} added, {len(s.modified)} modified, {len(s.deleted)} deleted"
        print(line)
    states = {s.state for s in results} - {UNCHANGED}
    for state in (MODIFIED, MISSING, NOT_IN_CACHE):
        if state in states:
            print(f"  {state}: {HINTS[state]}")
    return 0
