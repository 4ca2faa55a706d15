from __future__ import annotations

import json
import sys

from gitmodel.commands.output import human_size, plural, short
from gitmodel.commands.progress import TerminalProgress
from gitmodel.maintenance.gc import gc
from gitmodel.maintenance.gc_remote import gc_remote
from gitmodel.repo import Repo


def run(*, dry_run: bool = False, remote: str | None = None, keep_days: float = 14.0, quiet: bool = False,
        as_json: bool = False) -> int:
    repo = Repo.discover()
    progress = TerminalProgress("deleting", quiet=quiet or as_json)
    try:
        if remote is not None:
            report = gc_remote(repo, remote, dry_run=dry_run, keep_days=keep_days, progress=progress)
        else:
            report = gc(repo, dry_run=dry_run, keep_days=keep_days, progress=progress)
    finally:
        progress.close()
    if as_json:
        print(json.dumps(report.as_dict(), indent=2))
        return 0
    for w in report.warnings:
        print(f"warning: {w}", file=sys.stderr)
    days = f"{keep_days:g} day{'s' if keep_days != 1 else ''}"
    where = "" if remote is None else f" on {report.where}"
    if dry_run:
        for oid, size in report.deleted:
            print(f"would delete {short(oid)}  {human_size(size)}  {oid}")
        for packid in report.packs_deleted:
            print(f"would delete pack-{packid}  (none of its objects is reachable)")
        for packid, _ in report.packs_rewritten:
            print(f"would rewrite pack-{packid} with only its reachable objects")
        for oid, size in report.duplicates:
            print(f"would delete {short(oid)}  {human_size(size)}  {oid}  (a loose copy; a pack holds it)")
        for path, size in report.temps:
            print(f"would delete {path}  {human_size(size)}  (stale temp file)")
    n, t, d = len(report.deleted), len(report.temps), len(report.duplicates)
    what = plural(n, "object") + (f" and {plural(d, 'loose copy', 'loose copies')} of packed objects" if d else "") + \
        (f" and {plural(t, 'stale temp file')}" if t else "")
    in_packs = f", {report.kept_in_packs} unreachable in mostly live packs" if report.kept_in_packs else ""
    print(f"{'would free' if dry_run else 'freed'} {human_size(report.freed)}{where}: {what}; "
          f"kept {report.kept} reachable{in_packs} and {report.kept_young} younger than {days}")
    if dry_run and (n or t or d):
        print("run the same command without --dry-run to delete them")
    return 0
