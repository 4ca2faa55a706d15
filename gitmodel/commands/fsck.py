from __future__ import annotations

import json
import sys

from gitmodel.commands.output import human_size, plural
from gitmodel.commands.progress import TerminalProgress
from gitmodel.maintenance.fsck import (
    BAD_MANIFEST,
    BAD_PACK,
    BAD_POINTER,
    CORRUPT,
    MISSING,
    UNREADABLE,
    FsckReport,
    fsck,
    fsck_remote,
)
from gitmodel.repo import Repo


def _hint(report: FsckReport, remote: str | None) -> list[str]:
    states = {p.state for p in report.problems}
    hints = []
    if remote is None:
        if states & {CORRUPT, MISSING, BAD_PACK}:
            hints.append("run `gitmodel pull` (or `gitmodel fetch PATH`) to download good copies of the corrupt "
                         "and missing objects, then `gitmodel checkout --force PATH` for files that were "
                         "linked to a corrupt object")
    else:
        if CORRUPT in states or MISSING in states:
            hints.append("push good copies from a clone that has them: `gitmodel push -r NAME --check-remote`; "
                         "delete a corrupt remote copy first, or the push will think it is there")
    if UNREADABLE in states:
        hints.append("fix the permissions or the device, then run `gitmodel fsck` again")
    if BAD_POINTER in states:
        hints.append("restore broken pointer files with `git checkout -- PATH.gm`")
    if BAD_MANIFEST in states:
        hints.append("re-add the folder (`gitmodel add PATH`) to write a valid manifest")
    return hints


def run(paths: list[str], *, remote: str | None = None, quiet: bool = False, as_json: bool = False) -> int:
    repo = Repo.discover()
    progress = TerminalProgress("checking", quiet=quiet or as_json)
    try:
        report = fsck_remote(repo, remote, paths, progress=progress) if remote is not None else \
            fsck(repo, paths, progress=progress)
    finally:
        progress.close()
    if as_json:
        print(json.dumps(report.as_dict(), indent=2))
        return 0 if report.ok else 1
    for p in report.problems:
        used = f" ({', '.join(p.paths)})" if p.paths else ""
        line = f"{p.state}: {p.oid or ''}{used}"
        if p.detail:
            line += f": {p.detail}"
        if p.moved_to:
            line += f"; moved aside to {p.moved_to}"
        print(line, file=sys.stderr)
    print(f"checked {plural(report.checked, 'object')} ({human_size(report.checked_bytes)}) in {report.where}: "
          f"{'all good' if report.ok else plural(len(report.problems), 'problem')}")
    for h in _hint(report, remote):
        print(f"  next: {h}", file=sys.stderr)
    return 0 if report.ok else 1
