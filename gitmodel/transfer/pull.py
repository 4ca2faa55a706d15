"""pull: fetch, then checkout of the workspace pointers (with a shortcut
that copies a large file from a folder remote into cache and workspace in
one pass)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

from gitmodel.errors import GitmodelError
from gitmodel.platform import atomic, copy, faults
from gitmodel.progress import Progress
from gitmodel.remote.known import KnownObjects
from gitmodel.remote.spec import Remote
from gitmodel.repo import Repo
from gitmodel.store.cache import Cache
from gitmodel.transfer.fetch import LARGE_LOCAL, FetchReport, fetch
from gitmodel.transfer.wanted import missing_error, opened
from gitmodel.workspace import targets as tracked

if TYPE_CHECKING:
    from gitmodel.workspace.checkout import CheckoutReport


def pull(repo: Repo, remote: str | None = None, paths: Sequence[str] = (), jobs: int | None = None,
         progress: Progress | None = None, *, force: bool = False, cwd: str | None = None,
         strict: bool = True) -> tuple[FetchReport, CheckoutReport]:
    """fetch + checkout of the workspace pointers.  Returns both reports."""
    from gitmodel.workspace.checkout import checkout

    repo.require_init()
    with repo.lock:
        placed, oids, nbytes = _fetch_and_place(repo, remote, paths, cwd, progress)
        report = fetch(repo, remote, paths, jobs=jobs, progress=progress, cwd=cwd, strict=False)
        # The shortcut's objects were downloaded by it, not found in the cache.
        report.cached = max(0, report.cached - len(oids))
        report.downloaded += len(oids)
        report.downloaded_bytes += nbytes
        if progress:
            progress.close()
        done = checkout(repo, list(paths), force=force, cwd=cwd, placed=placed)
        if strict and report.missing:
            raise missing_error(report.missing, f"remote '{report.remote}' ({report.url})", push=False)
        return report, done


def _fetch_and_place(repo: Repo, remote: str | None, paths: Sequence[str], cwd: str | None,
                     progress: Progress | None) -> tuple[set[str], list[str], int]:
    """Pull's shortcut for a large file in a folder remote that is in neither
    the cache nor the workspace: one pass copies the object into the cache
    and passes each chunk, as it lands, on into a workspace temp file
    (cache.add_file's `tee`), which takes the file's name once the object is
    verified and stored.  So the workspace copy overlaps the cache copy and
    its fsync instead of following them, and reads the page-cache copy.

    A chunked file on the remote has no loose object there (local_file is
    None): it takes fetch (chunk list, then the chunks the cache lacks) and
    checkout, which rebuilds it.

    Anything unusual (a user's file at the path, a link mode that shares
    inodes, a clone-capable filesystem, any error) leaves the target to
    fetch and checkout, which handle and report it.  Returns (targets
    placed, their oids, their bytes)."""
    cache = repo.cache
    link = repo.config.link
    if link not in ("copy", "reflink"):  # hardlink/symlink checkouts point at the cache object itself
        return set(), [], 0
    todo: list[tuple[str, str, str, int]] = []  # (rel, abspath, oid, size)
    for t in tracked.resolve(repo, list(paths), cwd):  # the targets checkout resolves
        p = t.pointer
        absp = repo.abspath(t.rel)
        if p.is_dir or p.size < LARGE_LOCAL or any(o == p.oid for _, _, o, _ in todo):
            continue
        if os.path.lexists(absp) or not os.path.isdir(os.path.dirname(absp)) or not repo.inside(absp) \
                or cache.has(p.oid):
            continue
        todo.append((t.rel, absp, p.oid, p.size))
    if not todo:
        return set(), [], 0
    placed: set[str] = set()
    oids: list[str] = []
    nbytes = 0
    with opened(repo, remote) as (r, _):
        clones: dict[str, bool] = {}
        for rel, absp, oid, size in todo:
            folder = os.path.dirname(absp)
            if link == "reflink":
                if folder not in clones:
                    clones[folder] = copy.can_clone(cache.tmp, folder)
                if clones[folder]:
                    continue  # checkout's clone costs no copy at all
            src = r.local_file(oid)
            if src is None or _size(src) != size:  # a pointer at odds with its object: checkout refuses it
                continue
            if progress:
                progress.add_total(1, size)
            if not _copy_and_place(cache, r, src, oid, absp):
                continue
            placed.add(rel)
            oids.append(oid)
            nbytes += size
            if progress:
                progress.advance(1, size)
        if oids:
            KnownObjects(cache.root, r.name, r.identity).add(oids)
    return placed, oids, nbytes


def _size(path: str) -> int | None:
    try:
        return os.stat(path).st_size
    except OSError:
        return None


def _copy_and_place(cache: Cache, r: Remote, src: str, oid: str, absp: str) -> bool:
    """Store `src` as `oid` in the cache while copying it to a temp file
    beside `absp`; give that copy the name `absp` only once the object is
    verified, and never over a file that appeared there meanwhile."""
    tmp = atomic.tmp_name(os.path.dirname(absp))
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)  # the umask applies, as in checkout
    except OSError:
        return False
    try:
        try:
            cache.add_file(src, expected=oid, where=r.where,
                           tee=lambda obj, offset, length: copy.copy_range(obj, fd, offset, length))
        finally:
            os.close(fd)
        faults.point("fsutil:place-before-rename")
        os.link(tmp, absp)  # unlike rename, fails if the name exists: a user's file is never replaced
        return True
    except (OSError, GitmodelError):
        return False  # fetch and checkout do it the ordinary way, and say what went wrong
    finally:
        atomic.unlink_quiet(tmp)
