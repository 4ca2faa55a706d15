"""Rolling a model back: put an older version's pointer and artifact in the workspace.

`rollback` finds the version in the registry (`gitmodel.registry`), writes
its pointer (staged, ready to commit) and checks its artifact out, fetching
the objects from the default remote first when the cache lacks them.  The
files it replaces are made safe in the cache before they go.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gitmodel.errors import GitmodelError, ObjectMissingError
from gitmodel.git import runner as gitops
from gitmodel.registry import grammar
from gitmodel.registry.resolve import find_version
from gitmodel.registry.state import model_for, model_state
from gitmodel.repo import Repo
from gitmodel.store import pointer as ptr

if TYPE_CHECKING:
    from gitmodel.progress import Progress


@dataclass
class RollbackResult:
    model: str
    version: str
    path: str
    pointer: ptr.Pointer
    changed: bool  # False: the workspace already held that version
    fetched: int = 0  # objects fetched from the remote
    restored: int = 0  # files placed in the workspace
    staged: bool = False


def _needed_oids(repo: Repo, pointer: ptr.Pointer) -> list[str]:
    """Objects missing from the cache for `pointer` (a directory's entries
    can only be listed once its manifest is here)."""
    from gitmodel.store import manifest

    if not repo.cache.has(pointer.oid):
        return [pointer.oid]
    if not pointer.is_dir:
        return []
    try:
        entries = manifest.expand(repo.cache.read_bytes, pointer.oid, f"manifest {pointer.oid}")[0]
    except ObjectMissingError:  # a tree below it is not here: the folder must be fetched
        return [pointer.oid]
    return repo.cache.missing(sorted({e.oid for e in entries}))


def _fetch(repo: Repo, pointer: ptr.Pointer, ref: str, progress: Progress | None) -> int:
    """Bring the objects of `pointer` into the cache from the default remote."""
    missing = _needed_oids(repo, pointer)
    if not missing:
        return 0
    try:
        from gitmodel.transfer import fetch as transfer
    except ImportError:
        raise ObjectMissingError(f"the artifact of {ref} ({missing[0]}) is not in the cache and this "
                                 f"installation cannot fetch it",
                                 hint="run `gitmodel pull` where the remote is set up, then roll back again") from None
    report = transfer.fetch_oids(repo, missing, progress=progress)  # a manifest brings its files
    left = _needed_oids(repo, pointer)
    if left:
        raise ObjectMissingError(f"the artifact of {ref} is incomplete after fetching ({len(left)} objects "
                                 f"missing, first {left[0]})", hint=f"run `gitmodel fetch --rev {ref}` and try again")
    return report.downloaded


def _clear_for(repo: Repo, rel: str, old: ptr.Pointer, new: ptr.Pointer) -> None:
    """Remove the workspace files of the version being replaced, so checkout
    can place the new ones.  Called only after status found them unchanged,
    and each one's content is made safe in the cache before it goes."""
    from gitmodel.workspace.walk import walk

    absp = repo.abspath(rel)
    if not old.is_dir:
        if not os.path.lexists(absp) or (os.path.isdir(absp) and not os.path.islink(absp)):
            return
        if not repo.cache.has(old.oid):
            repo.cache.add_file(absp)
        os.unlink(absp)
        return
    if not os.path.isdir(absp):
        return
    keep: dict[str, tuple[str, bool]] = {}
    if new.is_dir:
        keep = {e.path: (e.oid, e.executable) for e in repo.cache.read_manifest(new, ptr.pointer_path(rel), rel)}
    old_entries = {e.path: e for e in repo.cache.read_manifest(old, ptr.pointer_path(rel), rel)}
    present = walk(repo.root, absp, rel)
    for p in sorted(present):
        e = old_entries.get(p)
        if e is None or keep.get(p) == (e.oid, e.executable):
            continue  # untracked extras stay; identical files need no move
        full = os.path.join(absp, p)
        if not repo.cache.has(e.oid):
            repo.cache.add_file(full)
        os.unlink(full)
    if not new.is_dir:
        for folder, _dirs, _files in os.walk(absp, topdown=False):
            try:
                os.rmdir(folder)
            except OSError:
                pass  # not empty: something untracked is left for the user


def rollback(repo: Repo, name: str, to: str, *, stage: bool = True,
             progress: Progress | None = None) -> RollbackResult:
    """Put version `to`'s pointer and artifact back in the workspace, staged
    and ready to commit, fetching the object first when the cache lacks it."""
    from gitmodel.git import ignore
    from gitmodel.git.revs import pointer_at
    from gitmodel.workspace import checkout as workspace
    from gitmodel.workspace import status as workspace_status
    from gitmodel.workspace import targets as tracked

    repo.require_init()
    grammar.check_name(name)
    with repo.lock:
        state = model_state(repo, name)
        if not state.versions:
            raise GitmodelError(f"model {name!r} has no versions to roll back to", hint="see `gitmodel versions`")
        v = find_version(state, to)
        model = model_for(repo, state, v)
        snap = v.snapshot
        path = snap.artifact.path if snap is not None else model.path if model is not None else None
        if path is None:
            raise GitmodelError(f"model {name!r}: which path it tracks is unknown",
                                hint=f"declare it with `gitmodel model add {name} PATH`")
        ref = v.ref()
        repo.check_rel(path, f"{ref}: its path {path!r}", control=True)  # from a tag message: input from strangers
        try:
            new = pointer_at(repo, v.commit, path)
        except GitmodelError:
            raise GitmodelError(f"{ref}: its commit {v.commit[:10]} has no {ptr.pointer_path(path)}, so there "
                                f"is nothing to roll back to") from None
        pointer_rel = ptr.pointer_path(path)
        old = ptr.try_read(repo.abspath(pointer_rel))
        status = workspace_status.status_of(repo, tracked.Target(path, old)) if old is not None else None
        absp = repo.abspath(path)
        if old is None and os.path.lexists(absp):
            raise GitmodelError(f"{path} exists but is not tracked by gitmodel",
                                hint="move it away before rolling back")
        if old is not None and status is not None:
            if old.is_dir and not repo.cache.has(old.oid) and os.path.isdir(absp):
                raise GitmodelError(f"the manifest of {path} is not in the cache, so its files cannot be "
                                    f"checked", hint=f"run `gitmodel pull {path}` first")
            # Files added to a tracked folder are not at risk (they stay);
            # changed files are, and so is a file where a folder belongs.
            at_risk = bool(status.modified) or (status.state == workspace_status.MODIFIED and not status.added
                                                and not status.deleted)
            if at_risk or (old.is_dir and os.path.lexists(absp) and not os.path.isdir(absp)):
                raise GitmodelError(f"{path} has changes that are not recorded",
                                    hint=f"run `gitmodel add {path}` (or "
                                         f"`gitmodel checkout --force {path}` to drop them) before rolling back")
            if new.same_content(old) and status.state == workspace_status.UNCHANGED:
                return RollbackResult(name, v.name, path, new, changed=False)
        fetched = _fetch(repo, new, ref, progress)
        if old is not None and not new.same_content(old):
            _clear_for(repo, path, old, new)
        if old is None or not new.same_content(old) or new.extra != old.extra:
            from gitmodel.platform.atomic import write_atomic

            os.makedirs(os.path.dirname(repo.abspath(pointer_rel)) or repo.root, exist_ok=True)
            write_atomic(repo.abspath(pointer_rel), new.dumps().encode())
        to_stage = [pointer_rel]
        changed_ignore = ignore.add(repo.root, path)
        if changed_ignore:
            to_stage.append(changed_ignore)
        if stage:
            gitops.stage(repo.root, to_stage)
        report = workspace.checkout(repo, [path], cwd=repo.root, progress=progress)
        if report.skipped_modified or report.not_in_cache:
            left = (report.skipped_modified + report.not_in_cache)[0]
            raise GitmodelError(f"{ref}: the pointer is back but {left} could not be restored",
                                hint=f"run `gitmodel checkout {path}`")
    return RollbackResult(name, v.name, path, new, changed=True, fetched=fetched, restored=report.restored,
                          staged=stage)
