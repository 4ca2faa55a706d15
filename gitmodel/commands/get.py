from __future__ import annotations

import json

from gitmodel.commands.output import human_size, plural
from gitmodel.commands.progress import TerminalProgress
from gitmodel.registry import chosen


def run(source: str, path: str, *, rev: str | None = None, out: str | None = None, remote: str | None = None,
        jobs: int | None = None, quiet: bool = False, as_json: bool = False, verify: bool = False,
        allowed_signers: str | None = None) -> int:
    progress = TerminalProgress("downloading", quiet=quiet or as_json)
    try:
        # Versions (clf#prod) and signatures are the registry's: it chooses, transfer downloads.
        report, verified = chosen.get(source, path, rev=rev, out=out, remote=remote, jobs=jobs, progress=progress,
                            verify_it=verify, allowed_signers=allowed_signers)
    finally:
        progress.close()
    if as_json:
        print(json.dumps({**report.__dict__, "verified": verified.to_json() if verified else None}, indent=2))
        return 0
    what = f"{plural(report.files, 'file')}, " if report.kind == "dir" else ""
    at = f"{path} (commit {report.rev[:10]})" if report.path != path and len(report.rev) == 40 else report.rev
    print(f"got {report.path} at {at} from {report.source} -> {report.out} ({what}{human_size(report.size)})")
    if verified is not None:
        who = sorted({c.principal for c in verified.checks if c.principal})
        print(f"verified: {verified.ref} is signed by {', '.join(who)} "
              f"({plural(len(verified.checks), 'tag')} checked)")
    return 0
