from __future__ import annotations

import sys

from gitmodel.commands.fetch import MISSING_HINT
from gitmodel.commands.hooks import tell_once
from gitmodel.commands.output import human_size, listing, plural, short
from gitmodel.commands.progress import TerminalProgress
from gitmodel.commands.push import print_missing
from gitmodel.git.hooks import ensure_driver
from gitmodel.repo import Repo
from gitmodel.transfer import pull as transfer


def run(paths: list[str], *, remote: str | None = None, jobs: int | None = None, force: bool = False,
        quiet: bool = False) -> int:
    repo = Repo.discover()
    progress = TerminalProgress("pulling", quiet=quiet)
    try:
        fetched, done = transfer.pull(repo, remote, paths, jobs, progress, force=force, strict=False)
    finally:
        progress.close()
    ensure_driver(repo)  # a fresh clone: readable `git diff` of pointers (git config is not cloned)
    if fetched.downloaded:
        print(f"fetched {plural(fetched.downloaded, 'object')} ({human_size(fetched.downloaded_bytes)}) from "
              f"'{fetched.remote}' ({fetched.url})")
    print(f"{plural(done.restored, 'file')} restored, {done.unchanged} already up to date")
    for path, oid in done.saved.items():
        print(f"  {path}: its modified content was kept in the cache as {oid} ({short(oid)})")
    code = 0
    if fetched.missing:
        print_missing(fetched.missing, f"not on '{fetched.remote}'", MISSING_HINT)
        code = 1
    if done.skipped_modified:
        print(f"{plural(len(done.skipped_modified), 'modified file')} left alone "
              "(run `gitmodel add` to keep the changes, "
              f"or `gitmodel pull --force` to discard them):", file=sys.stderr)
        for line in listing(done.skipped_modified):
            print(line, file=sys.stderr)
        code = 1
    return tell_once(repo, code, quiet=quiet)  # a fresh clone: how to get the hooks git never clones
