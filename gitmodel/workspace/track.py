"""Starting and stopping tracking: add, remove, unprotect.

Write order, so an interruption anywhere costs only repeated work:
objects -> manifest -> pointer -> .gitignore -> git index.  The user's own
file is never modified by add, except in hardlink/symlink mode, where it is
replaced by a link to its cache object only once that object is durable.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass

from gitmodel.errors import PathError
from gitmodel.git import ignore
from gitmodel.git import runner as gitops
from gitmodel.platform import atomic, faults, links
from gitmodel.progress import Progress
from gitmodel.repo import Repo
from gitmodel.store import pointer as ptr
from gitmodel.store.cache import SMALL
from gitmodel.workspace.folders import add_folder
from gitmodel.workspace.targets import resolve
from gitmodel.workspace.walk import BAD_NAME, Folder, bad_name, follow, scan, walk


@dataclass
class AddResult:
    rel: str
    pointer: ptr.Pointer
    changed: bool  # False: the content was already recorded, nothing written
    hashed: int  # files read (stat-cache misses)


@dataclass
class _Plan:
    rel: str
    st: os.stat_result
    folder: Folder | None  # None for a single file
    old: ptr.Pointer | None


def _plan(repo: Repo, user: str, cwd: str | None) -> _Plan:
    """Check one path completely before anything is written."""
    rel = repo.relpath(user, cwd)
    absp = repo.abspath(rel)
    if rel.endswith(ptr.SUFFIX):
        raise PathError(f"{user}: is a gitmodel pointer file", hint=f"add the file it points to, {rel[:-3]}")
    if bad_name(rel):
        raise PathError(f"{rel!r}: {BAD_NAME}", hint="rename it")
    try:
        lst = os.lstat(absp)
    except FileNotFoundError:
        raise PathError(f"{user}: no such file or folder") from None
    except OSError as e:  # a name too long, a file used as a folder (x.bin/y), a symlink loop
        raise PathError(f"{user}: {e.strerror or 'cannot be read'}", hint="check the path") from None
    # A symlink named by the user is judged where it leads, by the rule its
    # like inside a tracked folder meets.
    st = follow(absp, repo.root, user, (repo.git_dir, repo.common_dir), folder=True) \
        if stat.S_ISLNK(lst.st_mode) else lst
    repo.check_rel(rel, user, control=True)
    # Written after the objects: a .gitignore that is a symlink or a folder
    # must stop the command before its first write, not halfway.
    ignore.check(repo.root, rel)
    # Nothing above it may already be tracked as a folder.
    parts = rel.split("/")
    for i in range(1, len(parts)):
        above = "/".join(parts[:i])
        if os.path.isfile(repo.abspath(above) + ptr.SUFFIX):
            raise PathError(f"{user}: is inside {above}, which gitmodel already tracks",
                            hint=f"run `gitmodel add {above}` to record its changes")
    old = ptr.try_read(repo.abspath(ptr.pointer_path(rel)), ptr.pointer_path(rel))  # errors name the rel path
    if stat.S_ISDIR(st.st_mode):
        def check(prefix: str, folder: str, files: dict[str, os.stat_result]) -> None:
            # Checked before the first write: a file that fails halfway through
            # the batch would leave the ones before it in the cache.  A file
            # anyone may read (the usual 644) needs no system call.
            for name, fst in files.items():
                if name.endswith(ptr.SUFFIX):
                    raise PathError(f"{user}: holds gitmodel pointer {rel}/{prefix}{name}",
                                    hint=f"run `gitmodel remove {rel}/{prefix}{name[:-3]}` first")
                if not fst.st_mode & stat.S_IROTH and not os.access(os.path.join(folder, name), os.R_OK):
                    raise PathError(f"{rel}/{prefix}{name}: cannot be read (permission denied)",
                                    hint="fix its permissions")

        return _Plan(rel, st, scan(repo.root, absp, rel, (repo.git_dir, repo.common_dir), check), old)
    if not stat.S_ISREG(st.st_mode):
        raise PathError(f"{user}: is not a regular file or folder")
    try:
        os.close(os.open(absp, os.O_RDONLY))
    except PermissionError:
        raise PathError(f"{user}: cannot be read (permission denied)", hint="fix its permissions") from None
    return _Plan(rel, st, None, old)


def add(repo: Repo, user_paths: list[str], *, stage: bool = True, cwd: str | None = None,
        progress: Progress | None = None) -> list[AddResult]:
    repo.require_init()
    link = repo.config.link
    repo.cache.chunk_threshold = repo.config.chunk_threshold
    with repo.lock:
        plans: list[_Plan] = []
        for user in user_paths:
            plan = _plan(repo, user, cwd)
            if all(p.rel != plan.rel for p in plans):
                plans.append(plan)
        in_git = gitops.tracked(repo.root, [p.rel for p in plans])
        if in_git:
            top = next(p.rel for p in plans if in_git[0] == p.rel or in_git[0].startswith(p.rel + "/"))
            raise PathError(f"{top}: is tracked by git",
                            hint=f"run `git rm -r --cached {top}` first, then `gitmodel add {top}`")
        if stage:  # a pointer git ignores could not be staged, nor committed: say so before writing
            beside = [ignore.file_for(p.rel) for p in plans]
            hit = gitops.ignored(repo.root, [ptr.pointer_path(p.rel) for p in plans] + beside)
            if hit:
                raise PathError(f"{hit[0][0]}: git ignores it ({hit[0][1]}), so it cannot be committed",
                                hint="change that rule and run the command again (or add with --no-stage)")
        if progress:
            for p in plans:
                if p.folder is None:
                    progress.add_total(1, p.st.st_size)
                else:
                    progress.add_total(p.folder.files, p.folder.size)
        results = [_add_one(repo, plan, link, progress) for plan in plans]
        to_stage: list[str] = []
        for r in results:
            ignore.add(repo.root, r.rel)
            # Staged even when its line was already there: a run interrupted
            # before staging wrote the line but left it out of the index.
            to_stage.append(ignore.file_for(r.rel))
            to_stage.append(ptr.pointer_path(r.rel))
        faults.point("add:before-stage")
        if stage:
            gitops.stage(repo.root, sorted(set(to_stage)))
    return results


def _add_one(repo: Repo, plan: _Plan, link: str, progress: Progress | None) -> AddResult:
    cache, sc = repo.cache, repo.statcache
    absp = repo.abspath(plan.rel)
    if plan.folder is None:
        known = sc.lookup(plan.st)
        hashed = 0
        if known and cache.has(known):
            oid, size = known, plan.st.st_size
        else:
            if plan.st.st_size >= SMALL:  # its previous version lends chunks and delta bases
                oid, _ = cache.add_large(absp, plan.st.st_size, plan.old.oid if plan.old else None)
            else:
                (oid,) = cache.add_many([absp], [plan.st.st_size])
            size, hashed = plan.st.st_size, 1
        new = ptr.Pointer(oid=oid, size=size, extra=plan.old.extra if plan.old else {})
        sc.record_many([(plan.st, oid)])
        if progress:
            progress.advance(1, size)
    else:
        stored = add_folder(repo, plan.rel, plan.folder, plan.old, progress)
        new = ptr.Pointer(oid=stored.oid, size=plan.folder.size, kind="dir", files=plan.folder.files,
                          extra=plan.old.extra if plan.old else {})
        sc.set_complete(stored.oid)
        faults.point("add:manifest-stored")
        hashed = stored.hashed
    changed = not new.same_content(plan.old)
    if changed:
        atomic.write_atomic(repo.abspath(ptr.pointer_path(plan.rel)), new.dumps().encode())
        faults.point("add:pointer-written")
    if plan.folder is None and link in ("hardlink", "symlink") and not cache.is_chunked(new.oid):
        # (A chunked file has no whole copy in the cache to link to: it stays as it is.)
        _link_in_place(repo, plan.rel, new.oid, link)
    return AddResult(plan.rel, new, changed, hashed)


def _link_in_place(repo: Repo, rel: str, oid: str, link: str) -> None:
    """Replace the user's copy by a link to its (durable) cache object."""
    absp = repo.abspath(rel)
    if links.is_linked_to(absp, os.lstat(absp), repo.cache.root):
        return
    links.Placer(link).place(repo.cache.materialize(oid), absp)


def remove(repo: Repo, user_paths: list[str], *, cwd: str | None = None) -> list[str]:
    """Stop tracking: the file stays, its pointer and ignore line go."""
    repo.require_init()
    with repo.lock:
        targets_ok = resolve(repo, user_paths, cwd)
        for t in targets_ok:
            ignore.check(repo.root, t.rel)  # before the first write, as add does
        for t in targets_ok:
            unprotect_one(repo, t.rel)
        pointer_rels = [t.pointer_rel for t in targets_ok]
        gitops.unstage_remove(repo.root, pointer_rels)
        changed = []
        for t in targets_ok:
            os.unlink(repo.abspath(t.pointer_rel))
            gi = ignore.remove(repo.root, t.rel)
            if gi:
                changed.append(gi)
        gitops.stage(repo.root, [g for g in changed if os.path.exists(repo.abspath(g))])
    return [t.rel for t in targets_ok]


def unprotect_one(repo: Repo, rel: str, on_file: Callable[[str], None] | None = None) -> int:
    """Turn cache-linked files of one target into editable copies."""
    absp = repo.abspath(rel)
    paths: list[str] = []
    if os.path.isdir(absp) and not os.path.islink(absp):
        paths = [os.path.join(absp, p) for p in walk(repo.root, absp, rel, (repo.git_dir, repo.common_dir))]
    elif os.path.lexists(absp):
        paths = [absp]
    n = 0
    for p in paths:
        if links.is_linked_to(p, os.lstat(p), repo.cache.root):
            links.make_writable_copy(p)
            n += 1
            if on_file:
                on_file(p)
    return n


def unprotect(repo: Repo, user_paths: list[str], *, cwd: str | None = None) -> dict[str, int]:
    repo.require_init()
    with repo.lock:
        return {t.rel: unprotect_one(repo, t.rel) for t in resolve(repo, user_paths, cwd)}
