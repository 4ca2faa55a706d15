from __future__ import annotations

import json
import sys
from collections.abc import Sequence

from gitmodel.commands.output import human_size, listing, plural
from gitmodel.commands.progress import TerminalProgress
from gitmodel.repo import Repo
from gitmodel.transfer import push as transfer


def print_missing(missing: Sequence[tuple[str, str]], what: str, hint: str) -> None:
    """`3 objects <what>; <hint>:` and the first 20 of them (`what`: a phrase without a verb, so it fits 1 and many)."""
    print(f"{plural(len(missing), 'object')} {what}; {hint}:", file=sys.stderr)
    for line in listing([f"{path}  ({oid})" for path, oid in missing]):
        print(line, file=sys.stderr)


def run(paths: list[str], *, remote: str | None = None, revs: list[str] | None = None, all_tags: bool = False,
        all_branches: bool = False, jobs: int | None = None, quiet: bool = False, check_remote: bool = False,
        as_json: bool = False) -> int:
    repo = Repo.discover()
    progress = TerminalProgress("pushing", quiet=quiet or as_json)
    try:
        report = transfer.push(repo, remote, paths, revs or (), all_tags, all_branches, jobs, progress,
                               check_remote=check_remote, strict=False)
    finally:
        progress.close()
    if as_json:
        print(json.dumps(report.as_dict(), indent=2))
    elif report.uploaded:
        print(f"pushed {plural(report.uploaded, 'object')} ({human_size(report.uploaded_bytes)}) to '{report.remote}' "
              f"({report.url}); {report.present} {'was' if report.present == 1 else 'were'} already there")
    else:
        print(f"nothing to push: '{report.remote}' ({report.url}) already has everything")
    if report.missing:
        print_missing(report.missing, "not in the local cache, so not pushed",
                      "fetch them from where they were added, or `gitmodel add` them again")
        return 1
    return 0
