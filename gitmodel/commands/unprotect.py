from __future__ import annotations

from gitmodel.commands.output import plural
from gitmodel.repo import Repo
from gitmodel.workspace.track import unprotect


def run(paths: list[str]) -> int:
    for rel, n in unprotect(Repo.discover(), paths).items():
        print(f"{rel}: {plural(n, 'file')} made editable" if n else f"{rel}: already editable")
    return 0
