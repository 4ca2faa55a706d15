from __future__ import annotations

import json

from gitmodel.commands.output import human_size, plural
from gitmodel.commands.progress import TerminalProgress
from gitmodel.commands.push import print_missing
from gitmodel.repo import Repo
from gitmodel.transfer import fetch as transfer

MISSING_HINT = "push them from a clone that has them (`gitmodel push`), or fetch from another remote (-r NAME)"


def run(paths: list[str], *, remote: str | None = None, revs: list[str] | None = None, all_tags: bool = False,
        all_branches: bool = False, jobs: int | None = None, quiet: bool = False, as_json: bool = False) -> int:
    repo = Repo.discover()
    progress = TerminalProgress("fetching", quiet=quiet or as_json)
    try:
        report = transfer.fetch(repo, remote, paths, revs or (), all_tags, all_branches, jobs, progress,
                                strict=False)
    finally:
        progress.close()
    if as_json:
        print(json.dumps(report.as_dict(), indent=2))
    elif report.downloaded:
        print(f"fetched {plural(report.downloaded, 'object')} ({human_size(report.downloaded_bytes)}) from "
              f"'{report.remote}' ({report.url}); {report.cached} "
              f"{'was' if report.cached == 1 else 'were'} already in the cache")
    else:
        held = "the one object" if report.cached == 1 else f"all {report.cached} objects"
        print(f"nothing to fetch: the cache has {held}")
    if report.missing:
        print_missing(report.missing, f"not on '{report.remote}'", MISSING_HINT)
        return 1
    return 0
