"""The way out of a merge conflict in a pointer file:
`gitmodel checkout --ours|--theirs PATH`.

Two versions of a model cannot be merged line by line, so one side is
taken whole: its pointer is read from the index (stage 2 is ours, stage 3
theirs, as in `git checkout --ours`), written over the conflicted file,
staged with `git add` (which marks the conflict resolved), and the
artifact is checked out to match, fetching it first if needed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gitmodel.errors import GitmodelError, PathError
from gitmodel.git import runner as gitops
from gitmodel.platform.atomic import write_atomic
from gitmodel.progress import Progress
from gitmodel.repo import Repo
from gitmodel.store import pointer as ptr
from gitmodel.sync.hookrun import SyncReport, sync_workspace

STAGES = {"ours": "2", "theirs": "3"}


@dataclass
class Resolution:
    side: str
    paths: list[str] = field(default_factory=list)  # tracked paths resolved
    sync: SyncReport = field(default_factory=SyncReport)


def _unmerged(repo: Repo, pointer_rel: str) -> dict[str, str]:
    """{stage: blob sha} of a pointer's conflicted index entries."""
    proc = gitops.run(["ls-files", "-u", "-z", "--", f":(literal){pointer_rel}"], cwd=repo.root)
    out = {}
    for record in proc.stdout.decode("utf-8", "surrogateescape").split("\0"):
        info, _, path = record.partition("\t")
        parts = info.split()
        if path == pointer_rel and len(parts) == 3:
            out[parts[2]] = parts[1]
    return out


def take_side(repo: Repo, user_paths: list[str], side: str, *, cwd: str | None = None,
              progress: Progress | None = None) -> Resolution:
    """Resolve conflicted pointers by taking one side.  Every path is checked
    before anything is written."""
    import pygit2

    from gitmodel.git.revs import git

    if side not in STAGES:
        raise GitmodelError(f"unknown side {side!r} (expected ours or theirs)")
    if not user_paths:
        raise PathError(f"name the conflicted paths: `gitmodel checkout --{side} PATH` (see `git status`)")
    repo.require_init()
    g = git(repo)
    plan: list[tuple[str, bytes]] = []
    for user in user_paths:
        rel = repo.relpath(user, cwd)
        if rel.endswith(ptr.SUFFIX):
            rel = ptr.target_path(rel)
        pointer_rel = ptr.pointer_path(rel)
        stages = _unmerged(repo, pointer_rel)
        if not stages:
            raise PathError(f"{user}: its pointer {pointer_rel} is not in a merge conflict; "
                            f"nothing to resolve (see `git status`)")
        sha = stages.get(STAGES[side])
        if sha is None:
            raise GitmodelError(f"{pointer_rel}: the {side} side deleted it",
                                hint=f"take that side with `git rm {pointer_rel}`")
        blob = g[sha]
        if not isinstance(blob, pygit2.Blob):
            raise GitmodelError(f"{pointer_rel} ({side}): not a file in the index", hint="resolve it with git")
        data = blob.data
        try:
            ptr.loads(data.decode("utf-8"), f"{pointer_rel} ({side})")
        except UnicodeDecodeError:
            raise GitmodelError(f"{pointer_rel} ({side}): not a pointer file (not UTF-8 text)") from None
        plan.append((rel, data))
    report = Resolution(side)
    with repo.lock:
        for rel, data in plan:
            write_atomic(repo.abspath(ptr.pointer_path(rel)), data)
            report.paths.append(rel)
        gitops.stage(repo.root, [ptr.pointer_path(rel) for rel, _ in plan])
        report.sync = sync_workspace(repo, None, only=report.paths, progress=progress)
    return report
