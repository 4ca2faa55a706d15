"""Making the workspace match the pointers: `gitmodel checkout`.

A workspace file whose content differs from its pointer is replaced when
that content is already in the cache (typically the version a `git
checkout` without hooks left behind): nothing is lost.  Only bytes that
exist nowhere else are the user's work: checkout leaves them alone unless
forced, and even then first stores them in the cache and reports the oid.
"""

from __future__ import annotations

import os
import posixpath
import stat
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

from gitmodel.platform import faults, links
from gitmodel.progress import Progress
from gitmodel.repo import Repo
from gitmodel.store import manifest
from gitmodel.store.cache import Cache
from gitmodel.workspace.status import current_oids, dir_diff, file_stat, objects_complete, size_agrees
from gitmodel.workspace.targets import Target, read_manifest, resolve


@dataclass
class CheckoutReport:
    restored: int = 0  # files written
    unchanged: int = 0
    skipped_modified: list[str] = field(default_factory=list)  # left alone: user changes
    saved: dict[str, str] = field(default_factory=dict)  # --force: path -> oid of what it held
    not_in_cache: list[str] = field(default_factory=list)
    untracked: list[str] = field(default_factory=list)  # extra files left in tracked folders


def checkout(repo: Repo, user_paths: list[str], *, force: bool = False, cwd: str | None = None,
             progress: Progress | None = None, placed: Collection[str] = ()) -> CheckoutReport:
    """`placed`: targets (repository paths) the caller has just written
    itself from verified objects (pull's shortcut for large files): counted
    as restored, not hashed again."""
    repo.require_init()
    report = CheckoutReport()
    link = repo.config.link
    with repo.lock:
        targets = resolve(repo, user_paths, cwd)
        if placed:
            report.restored += sum(1 for t in targets if t.rel in placed)
            targets = [t for t in targets if t.rel not in placed]
        # Every target is checked (pointer, manifest, folder) before the
        # first write, so that bad input anywhere changes nothing.
        steps = [(_checkout_dir if t.pointer.is_dir else _checkout_file)(repo, t, link, force, report, progress)
                 for t in targets]
        for step in steps:
            if step is not None:
                step()
    return report


def _save_aside(repo: Repo, path: str, shown: str, report: CheckoutReport) -> None:
    """Before --force overwrites a modified file, keep its content in the cache."""
    oid, _ = repo.cache.add_file(path)
    report.saved[shown] = oid


def _checkout_file(repo: Repo, target: Target, link: str, force: bool, report: CheckoutReport,
                   progress: Progress | None) -> Callable[[], None] | None:
    """Checks one file now; returns the step that writes it, if any."""
    p = target.pointer
    absp = repo.abspath(target.rel)
    if not repo.cache.has(p.oid):
        report.not_in_cache.append(target.rel)
        return None
    if not size_agrees(repo, target):  # a pointer at odds with its object is refused, never written quietly
        return None
    lst = _lstat(absp)
    save = False
    young = ""  # the oid of replaced content that was already in the cache
    if lst is not None:
        st = file_stat(absp)
        # Hashed once when the stat cache does not know the file (a big one
        # costs a read): the one way to tell a committed version from work.
        cur = current_oids(repo, absp, {"": st})[""] if st is not None and stat.S_ISREG(st.st_mode) else ""
        if cur == p.oid:
            report.unchanged += 1
            return None
        if st is not None and links.is_unfinished(st):
            pass  # our own interrupted placement: replaced, nothing to save
        elif not force and cur and repo.cache.has(cur):
            young = cur  # its bytes are in the cache: replacing it loses nothing
        elif not force:
            report.skipped_modified.append(target.rel)
            return None
        if st is not None and stat.S_ISDIR(st.st_mode):
            report.skipped_modified.append(target.rel)  # never replace a whole folder by a file
            return None
        save = st is not None and not young and stat.S_ISREG(st.st_mode) \
            and not links.is_linked_to(absp, lst, repo.cache.root)

    def write() -> None:
        if save:
            _save_aside(repo, absp, target.rel, report)
        if young:
            _keep_young(repo.cache, [young])
        os.makedirs(os.path.dirname(absp), exist_ok=True)
        place(repo.cache, links.Placer(link), p.oid, absp)
        _record(repo, [absp], [p.oid])
        report.restored += 1
        if progress:
            progress.advance(1, p.size)
    return write


def _keep_young(cache: Cache, oids: Collection[str]) -> None:
    """Restart gc's grace period for content replaced because the cache had
    it: no commit may name it (bytes a user brought back by hand), and gc
    keeps such content young as it keeps what `--force` saved aside.  The
    mtime is the age gc reads (a pack's for its objects); best effort, like
    the cache's own refresh of an object stored twice."""
    for oid in oids:
        loc = cache.locate(oid)
        try:
            os.utime(loc.pack if loc is not None else cache.chunks.path(oid) if cache.is_chunked(oid)
                     else cache.path(oid))
        except OSError:
            pass  # a cache shared with other users: the object may be theirs


def place(cache: Cache, placer: links.Placer, oid: str, dst: str, executable: bool = False
          ) -> os.stat_result | None:
    """Put one object at `dst`: packed ones are written out (returning the
    new file's stat), loose ones linked or copied as the link mode says."""
    loc = cache.locate(oid)
    if loc is not None:
        return placer.place_bytes(cache.view(loc), dst, executable)
    if cache.is_chunked(oid):
        cl = cache.chunks.read_list(oid)
        return placer.place_written(lambda write: cache.chunks.rebuild(cl, write, dst), dst, executable)
    placer.place(cache.path(oid), dst, executable)
    return None


def _lstat(path: str) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None


def _record(repo: Repo, paths: list[str], oids: list[str]) -> None:
    items = []
    for path, oid in zip(paths, oids):
        st = file_stat(path)
        if st is not None:
            items.append((st, oid))
    repo.statcache.record_many(items)


def _checkout_dir(repo: Repo, target: Target, link: str, force: bool, report: CheckoutReport,
                  progress: Progress | None) -> Callable[[], None] | None:
    """Checks one folder now; returns the step that writes it, if any."""
    absp = repo.abspath(target.rel)
    if not repo.cache.has(target.pointer.oid):
        report.not_in_cache.append(target.rel)
        return None
    entries = read_manifest(repo, target)
    missing_objs = set() if objects_complete(repo, target.pointer.oid, entries) else \
        set(repo.cache.missing({e.oid for e in entries}))
    if os.path.lexists(absp) and not os.path.isdir(absp):
        report.skipped_modified.append(target.rel)
        return None
    added, modified, deleted, present = dir_diff(repo, target, entries) if os.path.isdir(absp) else \
        ([], [], [e.path for e in entries], {})
    report.untracked += [f"{target.rel}/{p}" for p in added]
    by_path = {e.path: e for e in entries}
    todo = list(deleted)
    if deleted and os.path.isdir(absp):
        # A user's folder where a file goes, or a user's file where one of
        # its folders goes: left alone and listed (even with --force), like
        # a modified file, instead of failing halfway through the placing.
        blocked = _blocked(absp, deleted)
        if blocked:
            report.skipped_modified += [f"{target.rel}/{r}" for r in deleted if r in blocked]
            todo = [r for r in deleted if r not in blocked]
    to_save: list[str] = []
    young: dict[str, str] = {}  # replaced files whose content the cache had -> that oid
    # What the modified files hold now (the stat cache answers for the ones
    # dir_diff just hashed): a file whose bytes are in the cache is a
    # committed version, replaced like an unchanged one; nothing is lost.
    held = current_oids(repo, absp, {rel: present[rel] for rel in modified}) if not force else {}
    unsaved = set(repo.cache.missing({o for o in held.values() if o}))
    for rel in modified:
        if links.is_unfinished(present[rel]):
            todo.append(rel)  # our own interrupted placement: replaced, nothing to save
            continue
        if not force and held[rel] and held[rel] not in unsaved:
            todo.append(rel)
            young[rel] = held[rel]
            continue
        if not force:
            report.skipped_modified.append(f"{target.rel}/{rel}")
            continue
        path = os.path.join(absp, rel)
        if not links.is_linked_to(path, os.lstat(path), repo.cache.root):
            to_save.append(rel)
        todo.append(rel)
    report.unchanged += len(entries) - len(modified) - len(deleted)
    ready = [r for r in todo if by_path[r].oid not in missing_objs]
    report.not_in_cache += [f"{target.rel}/{r}" for r in todo if by_path[r].oid in missing_objs]
    if not ready:
        return None
    to_save = [r for r in to_save if by_path[r].oid not in missing_objs]  # only what gets replaced
    kept = [young[r] for r in ready if r in young]
    return lambda: _write_dir(repo, target, absp, by_path, ready, to_save, kept, link, report, progress)


def _blocked(absp: str, rels: list[str]) -> set[str]:
    """Which of `rels` (files absent from the workspace) cannot be placed:
    a non-file stands at the path, or a non-folder at one of its folders."""
    not_folders: set[str] = set()
    seen: set[str] = set()
    out: set[str] = set()
    for rel in rels:
        st = _lstat(os.path.join(absp, rel))
        if st is not None and stat.S_ISDIR(st.st_mode):
            out.add(rel)
            continue
        folder = posixpath.dirname(rel)
        while folder and folder not in seen:
            seen.add(folder)
            st = _lstat(os.path.join(absp, folder))
            if st is not None and not stat.S_ISDIR(st.st_mode):
                not_folders.add(folder)
            folder = posixpath.dirname(folder)
    if not_folders:
        for rel in rels:
            folder = posixpath.dirname(rel)
            while folder:
                if folder in not_folders:
                    out.add(rel)
                    break
                folder = posixpath.dirname(folder)
    return out


PROBE_FILES = 500  # placed on one thread first, timed
SLOW_CREATE = 50e-6  # s per file above which the rest is spread over threads


def _write_dir(repo: Repo, target: Target, absp: str, by_path: dict[str, manifest.Entry], ready: list[str],
               to_save: list[str], young: list[str], link: str, report: CheckoutReport,
               progress: Progress | None) -> None:
    for rel in to_save:
        _save_aside(repo, os.path.join(absp, rel), f"{target.rel}/{rel}", report)
    _keep_young(repo.cache, young)
    for folder in sorted({rel.rpartition("/")[0] for rel in ready}):
        os.makedirs(os.path.join(absp, folder), exist_ok=True)
    placer = links.Placer(link)
    cache = repo.cache
    placed: list[tuple[os.stat_result, str]] = []  # for the stat cache: a new file's own stat
    to_stat: list[str] = []
    faulty = faults.armed()  # per-file costs count 20,000 times here
    prefix = absp + os.sep

    def place_all(rels: list[str]) -> None:
        for rel in rels:
            e = by_path[rel]
            st = place(cache, placer, e.oid, prefix + rel, e.executable)
            if st is None:
                to_stat.append(rel)
            else:
                placed.append((st, e.oid))
            if faulty:
                faults.point("checkout:file-placed")
            if progress:
                progress.advance(1, e.size)

    # A second thread pays only when the kernel's file creation is slow.
    # Each file costs five syscalls, and each hands the GIL over: with cheap
    # creates (~15 µs) two threads spend more on the handovers than they
    # overlap (20,000 files: 0.52-0.59 s on one thread, 0.65-0.74 s on two);
    # when creates are slow (ext4 without a journal walks every inode freed in
    # the last minute: 100-250 µs) two threads halve the time (4.7 s -> 2.1 s).
    # So the first files are timed on this thread, and the rest go to one
    # thread per core, each its own stretch of folders (threads in one folder
    # queue on its lock), only if those were slow.
    ready.sort()
    probe = ready[:PROBE_FILES]
    started = time.perf_counter()
    place_all(probe)
    rest = ready[len(probe):]
    per_file = (time.perf_counter() - started) / max(1, len(probe))
    n = min(os.cpu_count() or 1, len(rest) // 2000) if per_file > SLOW_CREATE else 1
    if n > 1:
        from concurrent.futures import ThreadPoolExecutor  # imported when threads are used

        step = -(-len(rest) // n)
        with ThreadPoolExecutor(n) as pool:
            list(pool.map(place_all, [rest[k:k + step] for k in range(0, len(rest), step)]))
    else:
        place_all(rest)
    repo.statcache.record_many(placed)
    _record(repo, [os.path.join(absp, r) for r in to_stat], [by_path[r].oid for r in to_stat])
    report.restored += len(ready)
