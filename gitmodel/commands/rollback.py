"""`gitmodel rollback NAME --to VERSION`: that version's artifact back in
the workspace, its pointer staged and ready to commit."""

from __future__ import annotations

from gitmodel.commands.output import human_size, plural, short
from gitmodel.commands.progress import TerminalProgress
from gitmodel.registry.rollback import rollback
from gitmodel.repo import Repo


def run(name: str, to: str, *, stage: bool = True, quiet: bool = False) -> int:
    progress = TerminalProgress("restoring", quiet=quiet)
    try:
        r = rollback(Repo.discover(), name, to, stage=stage, progress=progress)
    finally:
        progress.close()
    what = f"{human_size(r.pointer.size)}, {short(r.pointer.oid)}"
    if not r.changed:
        print(f"{r.path} already holds {name} {r.version} ({what}); nothing to do")
        return 0
    fetched = f", {plural(r.fetched, 'object')} fetched" if r.fetched else ""
    print(f"{r.path} is back at {name} {r.version} ({what}{fetched})" + (", staged" if r.staged else ""))
    print(f"next: git commit -m \"Roll back {name} to {r.version}\"")
    return 0
