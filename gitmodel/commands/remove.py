from __future__ import annotations

from gitmodel.repo import Repo
from gitmodel.workspace.track import remove


def run(paths: list[str]) -> int:
    for rel in remove(Repo.discover(), paths):
        print(f"stopped tracking {rel} (the file stays; its pointer and .gitignore line are gone)")
    return 0
