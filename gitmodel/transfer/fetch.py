"""fetch: download into a cache what it lacks of the wanted objects.

A manifest first (verified, like every download) to learn its files, then
the files; each object is hashed while it streams and gets its final name
in the cache only when it matches its oid.  Objects in a remote pack come
as the whole pack when at least half of it is wanted, else as byte ranges.

A chunked file (store/chunks.py) comes as its chunk list, asked of the
remote first for a file the cache lacks that is large enough to be chunked
and in no remote pack, then the chunk objects the cache lacks, through the
same machinery as any object (they are ordinary ones, mostly in packs);
the list is published in the cache only once its file rebuilds to its oid.
A remote without a chunk list for it has the file as one object.

Getting one artifact of another repository (`gitmodel get`,
gitmodel/transfer/get.py) is built on `fetch_wanted`.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from gitmodel.errors import CorruptObjectError, ObjectMissingError, PointerError
from gitmodel.platform import faults
from gitmodel.progress import Progress
from gitmodel.remote.known import KnownObjects
from gitmodel.remote.packs import PackEntry, RemotePacks, download_pack, read_span, spans_of
from gitmodel.remote.spec import Remote
from gitmodel.remote.workers import parallel, retrying
from gitmodel.repo import Repo
from gitmodel.store import chunks, chunkstore, manifest
from gitmodel.store.cache import Cache
from gitmodel.store.chunks import ChunkList
from gitmodel.transfer.wanted import Wanted, collect, is_manifest, missing_error, opened

LARGE_LOCAL = 8 << 20  # from a folder remote, objects this large take the cache's in-kernel copy
DAMAGED_LIST = ("the remote's chunk list is damaged: replace it with `gitmodel push --check-remote` from a clone "
                "that has the file, or fetch from another remote with -r NAME")


@dataclass
class FetchReport:
    remote: str
    url: str
    downloaded: int = 0  # objects received
    downloaded_bytes: int = 0
    cached: int = 0  # objects the cache already had
    missing: list[tuple[str, str]] = field(default_factory=list)  # (path, oid) not on the remote

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["missing"] = [{"path": p, "oid": o} for p, o in self.missing]
        return d


def _size_or_zero(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def fetch(repo: Repo, remote: str | None = None, paths: Sequence[str] = (), revs: Sequence[str] = (),
          all_tags: bool = False, all_branches: bool = False, jobs: int | None = None,
          progress: Progress | None = None, *, cwd: str | None = None, strict: bool = True) -> FetchReport:
    """Download into the cache what it lacks of the objects named by the
    workspace pointers (or by `revs`, every tag, every branch).

    Raises ObjectMissingError (after fetching everything else) when the
    remote lacks some object, unless `strict` is False (`report.missing`)."""
    repo.require_init()
    with repo.lock:
        want = collect(repo, paths, revs, all_tags, all_branches, cwd)
        with opened(repo, remote) as (r, configured_jobs):
            known = KnownObjects(repo.cache.root, r.name, r.identity)
            return fetch_wanted(repo.cache, r, want, jobs or configured_jobs or r.default_jobs, known,
                                progress, strict)


def fetch_oids(repo: Repo, oids: Iterable[str], remote: str | None = None, progress: Progress | None = None,
               *, jobs: int | None = None, strict: bool = True, expand: bool = True) -> FetchReport:
    """Download these objects into the cache where it lacks them; a manifest
    brings all its files unless `expand` is False (checkout's auto-fetch,
    rollback, the Python API, which may want one file of a folder)."""
    repo.require_init()
    with repo.lock:
        with opened(repo, remote) as (r, configured_jobs):
            known = KnownObjects(repo.cache.root, r.name, r.identity)
            return fetch_wanted(repo.cache, r, Wanted(files={o: (0, o) for o in oids}),
                                jobs or configured_jobs or r.default_jobs, known, progress, strict, sniff=expand)


def fetch_wanted(cache: Cache, r: Remote, want: Wanted, jobs: int, known: KnownObjects | None,
                 progress: Progress | None, strict: bool, sniff: bool = False) -> FetchReport:
    """The fetch itself, into any cache (also get's temporary one).

    `sniff`: the caller does not know which oids are manifests; each one that
    turns out to be a manifest is expanded."""
    report = FetchReport(r.name, r.display)
    missing: list[tuple[str, str]] = []
    mu = threading.Lock()
    got: list[str] = []
    faulty = bool(os.environ.get("GITMODEL_FAULT"))
    packs = RemotePacks(r, os.path.join(known.dir, "packs") if known is not None else None)

    def stored(oids: list[str], nbytes: int) -> None:
        with mu:
            report.downloaded += len(oids)
            report.downloaded_bytes += nbytes
            got.extend(oids)
        if faulty:
            faults.point("fetch:object-stored")
        if progress:
            progress.advance(len(oids), nbytes)

    def not_there(items: dict[str, tuple[int, str]], oids: Iterable[str]) -> None:
        with mu:
            missing.extend((items[o][1], o) for o in oids)

    def chunk_lists(items: dict[str, tuple[int, str]], ask: list[str]) -> dict[str, tuple[ChunkList, bytes]]:
        """The remote's chunk lists of `ask` (those it has), parsed and held
        to the pointers' sizes: a bad one stops the fetch before anything of
        it is downloaded."""
        found: dict[str, tuple[ChunkList, bytes]] = {}

        def one_list(oid: str) -> None:
            size = items[oid][0] or None
            data = retrying(lambda: r.get_list(oid, size))
            if data is None:
                return  # the file is one object there
            try:
                cl = chunks.loads(data, oid, f"{items[oid][1]} on {r.where}", size)
            except PointerError as e:
                raise PointerError(e.message, hint=DAMAGED_LIST) from None
            with mu:
                found[oid] = (cl, data)

        parallel(ask, one_list, jobs)
        return found

    def install(oid: str, size: int, label: str, cl: ChunkList, data: bytes) -> None:
        try:
            cache.chunks.install_list(data, oid, size or None, f"{label} on {r.where}")
        except CorruptObjectError:
            # The list names chunks that are not this file's (or a chunk
            # already cached here is damaged: fsck finds that).
            raise CorruptObjectError(f"{label} ({oid}) from {r.where} does not rebuild from the chunks its "
                                     f"chunk list names; it was not stored",
                                     hint=f"run `gitmodel fsck` here; if it finds nothing, {DAMAGED_LIST}") from None
        if known is not None:
            known.add_lists([oid])
        with mu:
            report.downloaded += 1
            report.downloaded_bytes += len(data)

    def download(items: dict[str, tuple[int, str]], files: bool = True) -> None:
        """`files`: some may be chunked files (manifests never are)."""
        need = [o for o in items if not cache.has(o)]
        report.cached += len(items) - len(need)
        # Objects in a remote pack: the whole pack when at least half of it is
        # wanted, else ranges of it; the rest one by one.
        where = packs.load(jobs) if need else {}
        # Chunked files: their chunk objects the cache lacks take their place.
        lists = chunk_lists(items, [o for o in need if files and o not in where
                                    and (items[o][0] == 0 or items[o][0] >= chunkstore.MIN_THRESHOLD)])
        wanted = items
        if lists:
            items = dict(items)
            need = [o for o in need if o not in lists]
            parts: dict[str, tuple[int, str]] = {}
            for oid, (cl, _) in lists.items():
                for c in cl.chunks:
                    for o in c.chain:
                        if o not in items:
                            parts.setdefault(o, (c.size, items[oid][1]))  # raw size: about what moves
            lacking = cache.missing(parts)
            report.cached += len(parts) - len(lacking)
            items.update(parts)
            need += lacking
        in_pack: dict[str, list[str]] = {}
        for o in need:
            if o in where:
                in_pack.setdefault(where[o][0], []).append(o)
        whole = {p for p, oids in in_pack.items() if 2 * len(oids) >= len(packs.entries[p])}
        spans = spans_of((o, where[o]) for p, oids in in_pack.items() if p not in whole for o in oids)
        loose = [o for o in need if o not in where]
        if progress:
            from_packs = [e for p in whole for e in packs.entries[p]] + [e for _, span in spans for e in span]
            progress.add_total(len(loose) + len(from_packs),
                               sum(items[o][0] for o in loose) + sum(n for _, _, n in from_packs))

        def whole_pack(packid: str) -> None:
            entries = packs.entries[packid]
            try:
                n = download_pack(cache, r, packid, entries)
            except ObjectMissingError:  # removed by a remote gc since it was listed
                not_there(items, in_pack[packid])
                return
            stored([o for o, _, _ in entries], n)

        def ranged(packid: str, span: list[PackEntry]) -> None:
            try:
                pieces = list(read_span(r, packid, span))
            except ObjectMissingError:
                not_there(items, (o for o, _, _ in span))
                return
            for oid, data in pieces:
                with cache.writer(oid) as w:  # hashed and checked before it gets its name
                    w.write(data)
                    w.commit(f"{r.where}, pack {packid}")
            stored([o for o, _, _ in span], sum(len(d) for _, d in pieces))

        def one(oid: str) -> None:
            size, label = items[oid]

            def attempt() -> int:
                # A large object in a folder remote: in-kernel copy, verified (size 0: unknown).
                src = r.local_file(oid) if size == 0 or size >= LARGE_LOCAL else None
                if src is not None and _size_or_zero(src) >= LARGE_LOCAL:
                    return cache.add_file(src, expected=oid, where=r.where)[1]
                with cache.writer(oid) as w:
                    r.get(oid, w)
                    w.commit(r.where)
                    return w.size

            try:
                n = retrying(attempt)
            except ObjectMissingError:
                not_there(items, [oid])
                return
            stored([oid], n)

        tasks: list[Callable[[], None]] = [functools.partial(whole_pack, p) for p in whole]
        tasks += [functools.partial(ranged, p, span) for p, span in spans]
        tasks += [functools.partial(one, o) for o in loose]
        try:
            parallel(tasks, lambda task: task(), jobs)
        finally:
            if known is not None:
                known.add(got)
        if not lists:
            return
        # The chunk lists whose objects all came; a file with an object the
        # remote lacks is missing as a whole (not chunk by chunk).
        lost = {o for _, o in missing}
        broken = {o for o, (cl, _) in lists.items() if not cl.objects().isdisjoint(lost)}
        if broken:
            theirs = {x for o in broken for x in lists[o][0].objects() if x not in wanted}
            missing[:] = [(p, o) for p, o in missing if o not in theirs] + [(wanted[o][1], o) for o in broken]
        parallel([o for o in lists if o not in broken],
                 lambda o: install(o, wanted[o][0], wanted[o][1], *lists[o]), jobs)

    # 1. Manifests first (verified like any object), to learn their files.
    dirs = dict(want.dirs)
    files = dict(want.files)
    download({m: (0, label) for m, label in dirs.items()}, files=False)
    if sniff:
        download(files)
        for o in list(files):
            if is_manifest(cache, o):
                dirs[o] = files.pop(o)[1]
    inner: dict[str, tuple[int, str]] = {}
    # A tree names the trees of its subfolders: one level of them is
    # downloaded (verified, as any object) before the next is read.
    level = dirs
    while level:
        lost = {o for _, o in missing}
        below: dict[str, str] = {}
        for m, label in level.items():
            if m in lost:
                continue
            try:
                data = cache.read_bytes(m)
                if manifest.is_tree(data):
                    entries, subtrees = manifest.loads_tree(data, f"manifest of {label}")
                    for t in subtrees:
                        below.setdefault(t.oid, f"{label}/{t.name}")
                else:
                    entries = manifest.loads(data, f"manifest of {label}")
            except PointerError:
                if sniff:
                    continue  # an ordinary file that happens to start like a manifest
                raise
            for e in entries:
                if e.oid not in files:
                    inner.setdefault(e.oid, (e.size, f"{label}/{e.path}"))
        if below:
            download({t: (0, label) for t, label in below.items()}, files=False)
        level = below
    # 2. Files.
    download(inner if sniff else {**inner, **files})
    report.missing = sorted(missing)
    if strict and report.missing:
        raise missing_error(report.missing, r.where, push=False)
    return report
