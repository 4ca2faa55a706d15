"""fsck: re-hash objects and report the missing and the corrupt.

A corrupt cache object (its bytes no longer hash to its name: a bad disk, a
stray write through a hard link) is moved aside to `<cache>/corrupt/`, so
that the next fetch or pull downloads a good copy under its name instead of
trusting the bad one; it is kept there, not deleted, as evidence.  A packed
object cannot be moved out of its pack: the pack is rewritten without its
corrupt objects (a new pack id) and the old one moved aside to
`<cache>/corrupt/packs/`.  A pack whose index is damaged (or whose pack file
is gone) names objects nothing can read: it is moved aside whole.

A file stored as chunks is checked whole: its chunk list is parsed, every
chunk it names re-hashed like any object, and the file rebuilt and hashed
against its oid.  A chunk list that does not parse, names a chunk the cache
lacks (or one just moved aside as corrupt), or rebuilds another file is
reported under the file's oid and paths and moved aside to
`<cache>/corrupt/chunked/`: a chunk list in the cache means "this file is
complete here", so only without it does the next fetch download the file's
missing chunks (and a good list) again.

With paths, only the objects those tracked paths use are checked (a folder's
manifest first, then the files it lists, a chunked file's chunks).  Without, every object in the
cache is re-hashed, and every object the workspace pointers use must exist.
With a remote, the remote's copies are downloaded, hashed while they stream
(nothing is stored) and checked the same way; a corrupt remote object is
reported, not touched: the cure is a push from a clone with a good copy.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from gitmodel.errors import CorruptObjectError, GitmodelError, ObjectMissingError, PointerError
from gitmodel.platform import faults
from gitmodel.progress import Progress
from gitmodel.remote.workers import parallel
from gitmodel.repo import Repo
from gitmodel.store import chunks as chunksmod
from gitmodel.store import manifest
from gitmodel.store import oid as oidmod
from gitmodel.store import pack as packmod
from gitmodel.store import pointer as ptr
from gitmodel.store.cache import DEFAULT_THREADS, hash_path
from gitmodel.store.chunks import ChunkList
from gitmodel.store.inventory import Stored, StoredPack, scan_cache
from gitmodel.workspace import targets as tracked
from gitmodel.workspace.status import disagreement

CORRUPT = "corrupt"
MISSING = "missing"
UNREADABLE = "unreadable"  # could not be read (I/O or permission error)
BAD_MANIFEST = "bad manifest"  # hashes right but is not a valid manifest
BAD_POINTER = "bad pointer"  # a workspace pointer file that does not parse
BAD_PACK = "bad pack"  # a pack index that cannot be read, or whose pack file is gone


@dataclass
class Problem:
    oid: str  # "" for a bad pointer
    state: str
    paths: list[str] = field(default_factory=list)  # tracked paths that use it, where known
    detail: str = ""
    moved_to: str | None = None  # where a corrupt cache object was put aside

    def as_dict(self) -> dict[str, Any]:
        return {"oid": self.oid, "state": self.state, "paths": self.paths, "detail": self.detail,
                "moved_to": self.moved_to}


@dataclass
class FsckReport:
    where: str  # the cache folder, or the remote
    checked: int = 0  # objects re-hashed
    checked_bytes: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {"where": self.where, "checked": self.checked, "checked_bytes": self.checked_bytes,
                "ok": self.ok, "problems": [p.as_dict() for p in self.problems]}


class _Refs:
    """Which tracked paths use which objects."""

    def __init__(self) -> None:
        self.files: dict[str, list[str]] = {}  # oid -> paths
        self.dirs: dict[str, str] = {}  # manifest oid -> path

    def add_file(self, oid: str, label: str) -> None:
        self.files.setdefault(oid, []).append(label)

    def labels(self, oid: str) -> list[str]:
        out = list(self.files.get(oid, []))
        if oid in self.dirs:
            out.append(self.dirs[oid])
        return out[:5]


def _refs_of(targets: list[tracked.Target]) -> _Refs:
    refs = _Refs()
    for t in targets:
        if t.pointer.is_dir:
            refs.dirs.setdefault(t.pointer.oid, t.rel)
        else:
            refs.add_file(t.pointer.oid, t.rel)
    return refs


def _targets(repo: Repo, paths: list[str], cwd: str | None, report: FsckReport) -> list[tracked.Target]:
    if paths:
        return tracked.resolve(repo, paths, cwd)  # bad input named by the user: one error
    out = []
    for rel in tracked.all_pointer_rels(repo):
        try:
            out.append(tracked.load(repo, ptr.target_path(rel)))
        except GitmodelError as e:
            report.problems.append(Problem("", BAD_POINTER, [rel], str(e)))
    return out


def _hash_all(items: list[tuple[str, str]], hasher: Callable[[str, str], str | None],
              progress: Progress | None, jobs: int = DEFAULT_THREADS) -> dict[str, str | None]:
    """{oid: what its bytes hash to (None: absent)} for (oid, location) pairs."""
    out: dict[str, str | None] = {}
    mu = threading.Lock()

    def one(item: tuple[str, str]) -> None:
        oid, where = item
        got = hasher(oid, where)
        with mu:
            out[oid] = got
        if progress:
            progress.advance(1)

    if len(items) > 16 and jobs > 1:
        with ThreadPoolExecutor(jobs) as pool:
            list(pool.map(one, items))
    else:
        for item in items:
            one(item)
    return out


def fsck(repo: Repo, paths: list[str] | None = None, *, cwd: str | None = None,
         progress: Progress | None = None) -> FsckReport:
    """Check the local cache (see the module docstring)."""
    repo.require_init()
    cache = repo.cache
    report = FsckReport(cache.root)
    paths = paths or []
    with repo.lock:
        targets = _targets(repo, paths, cwd, report)
        refs = _refs_of(targets)
        inv = scan_cache(cache)
        _set_aside_damaged(repo, inv.packs, report)
        stored = {s.oid: s for s in inv.loose}
        packed = _Packed([p for p in inv.packs if not p.damaged])
        errors: dict[str, str] = {}

        def local_hash(oid: str, path: str) -> str | None:
            try:
                return hash_path(path)
            except FileNotFoundError:
                return None
            except OSError as e:
                errors[oid] = e.strerror or str(e)
                return ""

        results: dict[str, str | None] = {}

        def check(oids: Iterable[str]) -> None:
            todo = [(o, cache.path(o)) for o in oids if o not in results and o in stored]
            in_packs = packed.unchecked(oids)
            nbytes = sum(stored[o].size for o, _ in todo) + packed.size(in_packs)
            if progress:
                progress.add_total(len(todo) + len(in_packs), nbytes)
            results.update(_hash_all(todo, local_hash, progress))
            packed.verify(in_packs, progress)
            report.checked += len(todo) + len(in_packs)
            report.checked_bytes += nbytes

        # Manifests first: their files are only known from a good manifest.
        listed = _expand_dirs(refs, check, lambda moid: _read_loose(cache.path(moid)) if results.get(moid) == moid
                              else packed.good_bytes(moid), report)
        on_disk = {s.oid: s for s in inv.lists}
        lists, bad_lists = _read_lists(repo, on_disk, refs, paths)
        check(refs.files if paths else set(stored) | set(packed.where))
        faults.point("fsck:hashed")

        corrupt = [o for o, got in results.items() if got is not None and got != o]
        if corrupt or packed.bad:
            # Cleared before anything moves: a "this folder's objects are all
            # in the cache" mark must not outlive an object it vouches for.
            repo.statcache.clear_complete()
        for o in sorted(corrupt):
            if o in errors:
                report.problems.append(Problem(o, UNREADABLE, refs.labels(o), errors[o]))
                continue
            problem = Problem(o, CORRUPT, refs.labels(o), f"its content hashes to {results[o]}")
            repo.statcache.forget(o)
            try:
                problem.moved_to = _move_aside(repo, o)
            except OSError as e:
                problem.detail += f"; could not move it aside ({e.strerror})"
            report.problems.append(problem)
        _repair_packs(repo, packed, refs, report)
        for o, why in sorted(packed.errors.items()):
            report.problems.append(Problem(o, UNREADABLE, refs.labels(o), why))
        cache.reload_packs()
        _check_lists(repo, lists, bad_lists, refs, report)
        for o in sorted(set(refs.files) | set(refs.dirs)):
            if o not in stored and o not in packed.where and o not in on_disk:
                report.problems.append(Problem(o, MISSING, refs.labels(o), "not in the cache"))
        _check_sizes(targets, stored, packed, listed, {o: cl.size for o, cl in lists.items()}, report)
        cache.reload_packs()
    return report


def _read_lists(repo: Repo, on_disk: dict[str, Stored], refs: _Refs, paths: list[str]
                ) -> tuple[dict[str, ChunkList], dict[str, str]]:
    """The chunk lists to check (all, or those of the files `paths` use),
    parsed: ({oid: list}, {oid: why it does not parse}).  Their chunks join
    the objects to check, labelled with the file they belong to."""
    lists: dict[str, ChunkList] = {}
    bad: dict[str, str] = {}
    for oid in sorted(set(refs.files) & set(on_disk) if paths else on_disk):
        try:
            cl = lists[oid] = repo.cache.chunks.read_list(oid, where=f"the cache ({on_disk[oid].path})")
        except GitmodelError as e:  # does not parse, is too large, cannot be opened
            bad[oid] = str(e)
            continue
        label = (refs.labels(oid) or [oid])[0]
        for o in sorted(cl.objects()):
            refs.add_file(o, f"{label} (a chunk)")
    return lists, bad


def _check_lists(repo: Repo, lists: dict[str, ChunkList], bad: dict[str, str], refs: _Refs,
                 report: FsckReport) -> None:
    """Each chunked file rebuilt from its chunks (after corrupt ones were
    moved aside) and hashed; a list that fails is moved aside."""
    chunkstore = repo.cache.chunks
    failed: list[tuple[str, str, str]] = [(oid, CORRUPT, f"its chunk list is not valid ({why})")
                                          for oid, why in bad.items()]
    for oid, cl in sorted(lists.items()):
        lacking = chunkstore.missing_objects(cl)
        if lacking:
            failed.append((oid, MISSING, f"{len(lacking)} of its chunks are not in the cache ({lacking[0]}"
                                         f"{', ...' if len(lacking) > 1 else ''})"))
            continue
        try:
            chunkstore.rebuild(cl, lambda _: None, oid)
        except GitmodelError as e:
            failed.append((oid, CORRUPT, str(e).split(": ", 1)[-1]))
            continue
        report.checked += 1
        report.checked_bytes += cl.size
    if failed:
        repo.statcache.clear_complete()
    for oid, state, detail in sorted(failed):
        problem = Problem(oid, state, refs.labels(oid), detail)
        repo.statcache.forget(oid)
        try:
            problem.moved_to = _move_list_aside(repo, oid)
        except OSError as e:
            problem.detail += f"; could not move its chunk list aside ({e.strerror})"
        report.problems.append(problem)


def _move_list_aside(repo: Repo, oid: str) -> str:
    """Kept as evidence, like a corrupt object; without it the file counts
    as missing and a fetch brings its chunks and a good list back."""
    folder = os.path.join(repo.cache.root, "corrupt", chunksmod.FOLDER)
    os.makedirs(folder, exist_ok=True)
    dest = os.path.join(folder, f"{oid.split(':', 1)[1]}.{time.time_ns()}")
    os.rename(repo.cache.chunks.path(oid), dest)
    faults.point("fsck:moved-aside")
    return dest


def _expand_dirs(refs: _Refs, check: Callable[[Iterable[str]], None], good: Callable[[str], bytes | None],
                 report: FsckReport, on: str = "") -> dict[str, list[manifest.Entry]]:
    """Hash every manifest (`check`), then read the sound ones (`good`: its
    bytes once they hashed right, else None): their files join `refs.files`,
    the trees of their subfolders `refs.dirs`, level by level, so that a
    tree is checked like a manifest and a missing one is reported like a
    file.  Returns each pointer's manifest, flattened, where it is whole."""
    roots = dict(refs.dirs)
    sound: dict[str, bytes] = {}
    level = dict(refs.dirs)
    while level:
        check(level)
        below: dict[str, str] = {}
        for moid, label in level.items():
            data = good(moid)
            if data is None:
                continue
            try:
                if manifest.is_tree(data):
                    own, subtrees = manifest.loads_tree(data, f"manifest of {label}{on}")
                else:
                    own, subtrees = manifest.loads(data, f"manifest of {label}{on}"), []
            except PointerError as err:
                report.problems.append(Problem(moid, BAD_MANIFEST, [label], str(err)))
                continue
            sound[moid] = data
            for entry in own:
                refs.add_file(entry.oid, f"{label}/{entry.path}")
            for t in subtrees:
                if t.oid not in refs.dirs:
                    refs.dirs[t.oid] = below[t.oid] = f"{label}/{t.name}"
        level = below

    def read(oid: str) -> bytes:
        if oid not in sound:
            raise ObjectMissingError(oid)  # reported where it was met
        return sound[oid]

    listed: dict[str, list[manifest.Entry]] = {}
    for moid, label in roots.items():
        try:
            listed[moid] = manifest.expand(read, moid, f"manifest of {label}{on}")[0]
        except ObjectMissingError:
            continue
        except PointerError as err:  # trees that disagree with each other about what they hold
            report.problems.append(Problem(moid, BAD_MANIFEST, [label], str(err)))
    return listed


def _check_sizes(targets: list[tracked.Target], stored: dict[str, Stored], packed: _Packed,
                 listed: dict[str, list[manifest.Entry]], chunked: dict[str, int], report: FsckReport) -> None:
    """A pointer whose size (a folder's: also its file count) disagrees with
    the sound object it names is a bad pointer: the oid is what checkout
    writes, so the pointer was edited, or copied from another file's.  (A
    corrupt object's size says nothing about its pointer.)"""
    damaged = {problem.oid for problem in report.problems}
    for t in targets:
        p = t.pointer
        if p.oid in damaged:
            continue
        if p.is_dir:
            entries = listed.get(p.oid)
            detail = None if entries is None else \
                disagreement(p, sum(e.size for e in entries), len(entries))
        else:
            size = stored[p.oid].size if p.oid in stored else \
                next((n for _, _, n in packed.where.get(p.oid, [])), chunked.get(p.oid))
            detail = None if size is None else disagreement(p, size)
        if detail is not None:
            report.problems.append(Problem(p.oid, BAD_POINTER, [t.pointer_rel], detail))


def _read_loose(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def _move_aside(repo: Repo, oid: str) -> str:
    algo, hexd = oid.split(":", 1)
    folder = os.path.join(repo.cache.root, "corrupt", algo)
    os.makedirs(folder, exist_ok=True)
    dest = os.path.join(folder, f"{hexd}.{time.time_ns()}")
    os.rename(repo.cache.path(oid), dest)
    faults.point("fsck:moved-aside")
    return dest


# -- packs ---------------------------------------------------------------------------

class _Packed:
    """The packed copies of objects, and what verifying them found."""

    def __init__(self, packs: list[StoredPack]) -> None:
        self.packs = {p.packid: p for p in packs}
        self.where: dict[str, list[tuple[StoredPack, int, int]]] = {}  # oid -> (pack, offset, size)
        for p in packs:
            for o, off, size in p.entries:
                self.where.setdefault(o, []).append((p, off, size))
        self.checked: set[str] = set()
        self.bad: dict[str, set[str]] = {}  # pack id -> its corrupt oids
        self.errors: dict[str, str] = {}  # oid -> why its pack could not be read

    def unchecked(self, oids: Iterable[str]) -> list[str]:
        return [o for o in oids if o in self.where and o not in self.checked]

    def size(self, oids: list[str]) -> int:
        return sum(size for o in oids for _, _, size in self.where[o])

    def verify(self, oids: list[str], progress: Progress | None) -> None:
        by_pack: dict[str, list[tuple[str, int, int]]] = {}
        for o in oids:
            for p, off, size in self.where[o]:
                by_pack.setdefault(p.packid, []).append((o, off, size))
        self.checked.update(oids)
        for packid, entries in by_pack.items():
            try:
                bad = packmod.verify(self.packs[packid].pack, entries)
            except OSError as e:
                self.errors.update((o, e.strerror or str(e)) for o, _, _ in entries)
                bad = []
            if bad:
                self.bad.setdefault(packid, set()).update(bad)
            if progress:
                progress.advance(len(entries), sum(size for _, _, size in entries))

    def good_bytes(self, oid: str) -> bytes | None:
        """A verified packed copy's bytes (None: there is none)."""
        for p, off, size in self.where.get(oid, []):
            if oid in self.checked and oid not in self.bad.get(p.packid, set()) and oid not in self.errors:
                with open(p.pack, "rb") as f:
                    f.seek(off)
                    return f.read(size)
        return None


def _repair_packs(repo: Repo, packed: _Packed, refs: _Refs, report: FsckReport) -> None:
    """An object cannot be moved out of a pack: the pack is rewritten without
    its corrupt objects (a new pack, published before the old one is moved
    aside), so that they are missing and the next fetch restores them."""
    for packid in sorted(packed.bad):
        p = packed.packs[packid]
        # Its other objects are copied to the new pack: they must be sound too.
        bad = packed.bad[packid] | set(packmod.verify(p.pack, p.entries))
        problems = [Problem(o, CORRUPT, refs.labels(o), f"its copy in {p.pack} does not hash to its name")
                    for o in sorted(bad)]
        for o in bad:
            repo.statcache.forget(o)
        try:
            moved = _repack_without(repo, p, bad)
            for problem in problems:
                problem.moved_to = moved
        except OSError as e:
            for problem in problems:
                problem.detail += f"; could not rewrite its pack ({e.strerror})"
        report.problems += problems


def _repack_without(repo: Repo, p: StoredPack, bad: set[str]) -> str:
    packmod.repack(repo.cache.packs, p.pack, [e for e in p.entries if e[0] not in bad])
    faults.point("fsck:pack-rewritten")
    return _move_pack_aside(repo, p)


def _set_aside_damaged(repo: Repo, packs: list[StoredPack], report: FsckReport) -> None:
    """A pack whose index cannot be read (or whose .pack is gone) names
    objects nobody can read: moved aside, so that they count as missing and
    a fetch brings them back."""
    for p in packs:
        if not p.damaged:
            continue
        problem = Problem("", BAD_PACK, [p.idx], p.damaged.split("; run ")[0])
        repo.statcache.clear_complete()
        try:
            problem.moved_to = _move_pack_aside(repo, p)
        except OSError as e:
            problem.detail += f"; could not move it aside ({e.strerror})"
        report.problems.append(problem)
    if any(p.damaged for p in packs):
        repo.cache.reload_packs()


def _move_pack_aside(repo: Repo, p: StoredPack) -> str:
    """Index first: once it is gone the pack is invisible.  Kept, not
    deleted, as evidence (like a corrupt loose object)."""
    folder = os.path.join(repo.cache.root, "corrupt", "packs")
    os.makedirs(folder, exist_ok=True)
    stamp = time.time_ns()
    os.rename(p.idx, os.path.join(folder, f"{os.path.basename(p.idx)}.{stamp}"))
    dest = os.path.join(folder, f"{os.path.basename(p.pack)}.{stamp}")
    try:
        os.rename(p.pack, dest)
    except FileNotFoundError:
        return os.path.join(folder, f"{os.path.basename(p.idx)}.{stamp}")
    faults.point("fsck:moved-aside")
    return dest


class _HashSink:
    """Hashes what a remote streams; keeps the bytes only when asked (manifests)."""

    def __init__(self, keep: bool = False, limit: int | None = None) -> None:
        self.hasher = oidmod.new_hasher()
        self.size = 0
        self.kept: list[bytes] | None = [] if keep else None
        self.limit = limit  # what kept bytes may come to: a remote's object past it is refused

    def write(self, data: bytes | memoryview) -> None:
        self.hasher.update(data)
        self.size += len(data)
        if self.limit is not None and self.size > self.limit:
            raise CorruptObjectError(f"an object larger than {self.limit:,} bytes where a chunk was expected")
        if self.kept is not None:
            self.kept.append(bytes(data))


def fsck_remote(repo: Repo, remote: str | None, paths: list[str] | None = None, *, cwd: str | None = None,
                jobs: int | None = None, progress: Progress | None = None) -> FsckReport:
    """Check a remote's copies: without paths every object it holds (loose
    or in a pack), and every object the workspace pointers use must be
    there.  Read-only."""
    from gitmodel.remote.packs import PackEntry, RemotePacks, read_span, spans_of
    from gitmodel.remote.spec import TransientRemoteError, from_repo

    repo.require_init()
    paths = paths or []
    r = from_repo(repo, remote)
    report = FsckReport(r.where)
    try:
        packs = RemotePacks(r, os.path.join(repo.cache.root, "remotes", r.name, "packs"))
        packed = packs.load(jobs or r.default_jobs, strict=False)
        for _packid, why in sorted(packs.damaged.items()):
            report.problems.append(Problem("", CORRUPT, [], why))
        refs = _refs_of(_targets(repo, paths, cwd, report))
        sizes: dict[str, int] = {}
        errors: dict[str, str] = {}
        kept: dict[str, bytes] = {}
        lists_of: dict[str, list[str]] = {}  # chunk object -> the chunked files whose remote lists name it
        sound_lists: dict[str, ChunkList] = {}  # the remote lists that parse
        mu = threading.Lock()

        def remote_hash(oid: str, _: str) -> str | None:
            keep = oid in refs.dirs
            for attempt in range(3):
                sink = _HashSink(keep)
                try:
                    r.get(oid, sink)
                    break
                except ObjectMissingError:
                    return None
                except TransientRemoteError as e:
                    if attempt == 2:
                        with mu:
                            errors[oid] = str(e)
                        return ""
            with mu:
                sizes[oid] = sink.size
                if sink.kept is not None:
                    kept[oid] = b"".join(sink.kept)
            return oidmod.from_hasher(sink.hasher)

        results: dict[str, str | None] = {}
        n = jobs or r.default_jobs

        def hash_span(item: tuple[str, list[PackEntry]]) -> None:
            """Objects of one pack read together (one range request), each hashed."""
            packid, span = item
            got: dict[str, str | None] = {}
            try:
                for o, data in read_span(r, packid, span):  # as the remote sends them, cut short or not
                    got[o] = oidmod.of_bytes(data)
                    with mu:
                        sizes[o] = len(data)
                        if o in refs.dirs:
                            kept[o] = bytes(data)
            except ObjectMissingError:
                got = {o: None for o, _, _ in span}
            except TransientRemoteError as e:
                got = {o: "" for o, _, _ in span}
                with mu:
                    errors.update((o, str(e)) for o in got)
            with mu:
                results.update(got)
            if progress:
                progress.advance(len(span))

        def check(oids: Iterable[str]) -> None:
            todo = [o for o in oids if o not in results]
            if progress:
                progress.add_total(len(todo), 0)
            spans = spans_of((o, packed[o]) for o in todo if o in packed)
            parallel(spans, hash_span, n)
            results.update(_hash_all([(o, o) for o in todo if o not in packed], remote_hash, progress, n))

        _expand_dirs(refs, check, lambda moid: kept.get(moid) if results.get(moid) == moid else None, report,
                     f" on {r.where}")
        # Chunked files: the remote's chunk list of each, whose chunks must
        # be there (and are hashed with the other objects).
        remote_lists = {oid for oid, _, _ in r.list_lists()}
        files = [o for o in refs.files if o not in remote_lists]
        for oid in sorted(set(refs.files) & remote_lists if paths else remote_lists):
            label = (refs.labels(oid) or [oid])[0]
            try:
                data = r.get_list(oid, None)
                if data is None:
                    raise ObjectMissingError(f"its chunk list is listed on {r.where} but cannot be read")
                cl = chunksmod.loads(data, oid, f"{r.where}: {label}")
            except GitmodelError as e:
                report.problems.append(Problem(oid, CORRUPT, refs.labels(oid), f"chunk list: {e}"))
                continue
            sound_lists[oid] = cl
            for o in sorted(cl.objects()):
                refs.add_file(o, f"{label} (a chunk)")
                files.append(o)
                lists_of.setdefault(o, []).append(oid)
        check(files if paths else [*r.list_oids(), *packed])
        check(files)  # without paths: also those the listing did not show (missing)
        report.checked = len(sizes)
        report.checked_bytes = sum(sizes.values())
        damaged: dict[str, list[str]] = {}  # chunked file -> its chunks missing or corrupt there
        for o, got in results.items():
            if got != o and o not in errors:
                for f in lists_of.get(o, []):
                    damaged.setdefault(f, []).append(o)
        for f, bad in sorted(damaged.items()):
            state = MISSING if any(results[o] is None for o in bad) else CORRUPT
            more = ", ..." if len(bad) > 1 else ""
            report.problems.append(Problem(f, state, refs.labels(f), f"{len(bad)} of its chunks are missing or "
                                                                     f"corrupt on {r.where} ({min(bad)}{more})"))
        # The sound ones rebuilt from the remote's chunks, hashed against the file's oid.
        for f, cl in sorted(sound_lists.items()):
            if f in damaged:
                continue
            why = _remote_rebuild(r, packed, cl, f"{r.where}: {(refs.labels(f) or [f])[0]}")
            if why:
                report.problems.append(Problem(f, CORRUPT, refs.labels(f), why))
            else:
                report.checked += 1
                report.checked_bytes += cl.size
        for o in sorted(results):
            got = results[o]
            if o in errors:
                report.problems.append(Problem(o, UNREADABLE, refs.labels(o), errors[o]))
            elif got is None:
                report.problems.append(Problem(o, MISSING, refs.labels(o), f"not on {r.where}"))
            elif got != o:
                copy = f"its copy in pack {packed[o][0]}" if o in packed else "the copy"
                report.problems.append(Problem(o, CORRUPT, refs.labels(o), f"{copy} on {r.where} hashes to {got}"))
    finally:
        r.close()
    return report


REBUILD_WINDOW = 32 << 20  # stored bytes of consecutive chunks fetched together (coalesced ranges)


def _remote_rebuild(r: Any, packed: dict[str, tuple[str, int, int]], cl: ChunkList, where: str) -> str:
    """Rebuild a chunked file from a remote's chunks, a window of chunks at
    a time (nothing stored); "" when it hashes to its oid, else why not."""
    from gitmodel.remote.packs import read_span, spans_of
    from gitmodel.store.chunkstore import decode_chain

    hasher = oidmod.new_hasher()
    window: list[chunksmod.Chunk] = []

    def flush() -> None:
        need = {o for c in window for o in c.chain}
        got: dict[str, bytes] = {}
        for packid, span in spans_of((o, packed[o]) for o in need if o in packed):
            got.update((o, bytes(data)) for o, data in read_span(r, packid, span))
        for o in sorted(need - set(got)):
            sink = _HashSink(keep=True, limit=chunksmod.MAX_CHUNK + (1 << 20))  # an encoding adds little
            r.get(o, sink)
            got[o] = b"".join(sink.kept or [])
        for c in window:
            data = decode_chain(c, got.__getitem__, where)
            if oidmod.of_bytes(data) != c.raw:
                raise CorruptObjectError(f"chunk {c.raw} rebuilds to other bytes")
            hasher.update(data)
        window.clear()

    try:
        stored = 0
        for c in cl.chunks:
            window.append(c)
            stored += sum(packed[o][2] if o in packed else c.size for o in c.chain)
            if stored >= REBUILD_WINDOW:
                flush()
                stored = 0
        flush()
    except GitmodelError as e:
        return f"its chunks on {r.where} do not rebuild it ({str(e).split(': ', 1)[-1]})"
    if oidmod.from_hasher(hasher) != cl.oid:
        return f"its chunks on {r.where} rebuild a different file"
    return ""
