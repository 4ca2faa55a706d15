from __future__ import annotations

import sys

from ..oid import short
from ..progress import Progress
from ..repo import Repo
from ..workspace import checkout


def run(paths: list[str], *, force: bool = False, quiet: bool = False) -> int:
    progress = Progress("checking out", quiet=quiet)
    try:
        report = checkout(Repo.discover(), paths, force=force, progress=progress)
    finally:
        progress.close()
    print(f"{report.restored} files restored, {report.unchanged} already up to date")
    for path, oid in report.saved.items():
        print(f"  {path}: its modified content was kept in the cache as {oid} ({short(oid)})")
    code = 0
    if report.skipped_modified:
        print(f"{len(report.skipped_modified)} modified files left alone (run `gitmodel add` to keep the "
              f"changes, or `gitmodel checkout --force` to discard them):", file=sys.stderr)
        for p in report.skipped_modified[:20]:
            print(f"  {p}", file=sys.stderr)
        code = 1
    if report.not_in_cache:
        print(f"{len(report.not_in_cache)} not in the cache; run `gitmodel pull` to fetch them:", file=sys.stderr)
        for p in report.not_in_cache[:20]:
            print(f"  {p}", file=sys.stderr)
        code = 1
    if report.untracked:
        print(f"{len(report.untracked)} files in tracked folders are not in their pointers and were left alone "
              f"(`gitmodel add` the folder to record them)", file=sys.stderr)
    return code
