from __future__ import annotations

from gitmodel.commands.output import human_size, plural, short
from gitmodel.commands.progress import TerminalProgress
from gitmodel.repo import Repo
from gitmodel.workspace.track import add


def run(paths: list[str], *, stage: bool = True, quiet: bool = False) -> int:
    repo = Repo.discover()
    progress = TerminalProgress("adding", quiet=quiet)
    try:
        results = add(repo, paths, stage=stage, progress=progress)
    finally:
        progress.close()
    for r in results:
        what = f"{plural(r.pointer.files or 0, 'file')}, " if r.pointer.is_dir else ""
        if r.changed:
            print(f"added {r.rel} ({what}{human_size(r.pointer.size)}, {short(r.pointer.oid)})")
        else:
            print(f"unchanged {r.rel} ({what}{human_size(r.pointer.size)}, {short(r.pointer.oid)})")
    if any(r.changed for r in results) and stage:
        print("next: git commit, then `gitmodel push` to share the data")
    return 0
