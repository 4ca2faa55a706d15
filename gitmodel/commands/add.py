from __future__ import annotations

from gitmodel.store.oid import short
from gitmodel.progress import Progress, human_size
from gitmodel.repo import Repo
from gitmodel.workspace.track import add


def run(paths: list[str], *, stage: bool = True, quiet: bool = False) -> int:
    repo = Repo.discover()
    progress = Progress("adding", quiet=quiet)
    try:
        results = add(repo, paths, stage=stage, progress=progress)
    finally:
        progress.close()
    for r in results:
        what = f"{r.pointer.files} files, " if r.pointer.is_dir else ""
        if r.changed:
            print(f"added {r.rel} ({what}{human_size(r.pointer.size)}, {short(r.pointer.oid)})")
        else:
            print(f"unchanged {r.rel} ({what}{human_size(r.pointer.size)}, {short(r.pointer.oid)})")
    if any(r.changed for r in results) and stage:
        print("next: git commit, then `gitmodel push` to share the data")
    return 0
