from __future__ import annotations

import sys

from gitmodel.commands.hooks import tell_once
from gitmodel.commands.output import listing, plural, short
from gitmodel.commands.progress import TerminalProgress
from gitmodel.git.hooks import ensure_driver
from gitmodel.repo import Repo
from gitmodel.workspace.checkout import checkout


def run(paths: list[str], *, force: bool = False, quiet: bool = False, ours: bool = False,
        theirs: bool = False) -> int:
    if ours or theirs:
        return _take_side(paths, "ours" if ours else "theirs", both=ours and theirs, force=force, quiet=quiet)
    progress = TerminalProgress("checking out", quiet=quiet)
    repo = Repo.discover()
    try:
        report = checkout(repo, paths, force=force, progress=progress)
    finally:
        progress.close()
    ensure_driver(repo)  # a fresh clone: readable `git diff` of pointers (git config is not cloned)
    print(f"{plural(report.restored, 'file')} restored, {report.unchanged} already up to date")
    for path, oid in report.saved.items():
        print(f"  {path}: its modified content was kept in the cache as {oid} ({short(oid)})")
    code = 0
    if report.skipped_modified:
        print(f"{plural(len(report.skipped_modified), 'modified file')} left alone (run `gitmodel add` to keep the "
              f"changes, or `gitmodel checkout --force` to discard them):", file=sys.stderr)
        for line in listing(report.skipped_modified):
            print(line, file=sys.stderr)
        code = 1
    if report.not_in_cache:
        print(f"{len(report.not_in_cache)} not in the cache; run `gitmodel pull` to fetch them:", file=sys.stderr)
        for line in listing(report.not_in_cache):
            print(line, file=sys.stderr)
        code = 1
    if report.untracked:
        print(f"{plural(len(report.untracked), 'file')} in tracked folders but not in their pointers left alone "
              f"(`gitmodel add` the folder to record them)", file=sys.stderr)
    return tell_once(repo, code, quiet=quiet)  # a fresh clone: how to get the hooks git never clones


def _take_side(paths: list[str], side: str, *, both: bool, force: bool, quiet: bool) -> int:
    """`--ours` / `--theirs`: resolve merge conflicts in pointer files."""
    from gitmodel.commands.hook import print_sync
    from gitmodel.errors import GitmodelError
    from gitmodel.sync.conflicts import take_side

    if both or force:
        raise GitmodelError("--ours and --theirs take one side, alone: use `gitmodel checkout --ours PATH` "
                            "or `gitmodel checkout --theirs PATH`")
    progress = TerminalProgress("checking out", quiet=quiet)
    try:
        rep = take_side(Repo.discover(), paths, side, progress=progress)
    finally:
        progress.close()
    for rel in rep.paths:
        print(f"{rel}: took {side} side (pointer staged; commit to conclude the merge)")
    print_sync(rep.sync)
    return 1 if rep.sync.modified or rep.sync.not_in_cache else 0
