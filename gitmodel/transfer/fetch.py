"""fetch: download into a cache what it lacks of the wanted objects.

A manifest first (verified, like every download) to learn its files, then
the files; each object is hashed while it streams and gets its final name
in the cache only when it matches its oid.  Objects in a remote pack come
as the whole pack when at least half of it is wanted, else as byte ranges.

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

from gitmodel.errors import ObjectMissingError, PointerError
from gitmodel.platform import faults
from gitmodel.progress import Progress
from gitmodel.remote.known import KnownObjects
from gitmodel.remote.packs import PackEntry, RemotePacks, download_pack, read_span, spans_of
from gitmodel.remote.spec import Remote
from gitmodel.remote.workers import parallel, retrying
from gitmodel.repo import Repo
from gitmodel.store import manifest
from gitmodel.store.cache import Cache
from gitmodel.transfer.wanted import Wanted, collect, is_manifest, missing_error, opened

LARGE_LOCAL = 8 << 20  # from a folder remote, objects this large take the cache's in-kernel copy


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

    def download(items: dict[str, tuple[int, str]]) -> None:
        need = [o for o in items if not cache.has(o)]
        report.cached += len(items) - len(need)
        # Objects in a remote pack: the whole pack when at least half of it is
        # wanted, else ranges of it; the rest one by one.
        where = packs.load(jobs) if need else {}
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

    # 1. Manifests first (verified like any object), to learn their files.
    dirs = dict(want.dirs)
    files = dict(want.files)
    download({m: (0, label) for m, label in dirs.items()})
    if sniff:
        download(files)
        for o in list(files):
            if is_manifest(cache, o):
                dirs[o] = files.pop(o)[1]
    lost = {o for _, o in missing}
    inner: dict[str, tuple[int, str]] = {}
    for m, label in dirs.items():
        if m in lost:
            continue
        try:
            entries = manifest.loads(cache.read_bytes(m), f"manifest of {label}")
        except PointerError:
            if sniff:
                continue  # an ordinary file that happens to start like a manifest
            raise
        for e in entries:
            if e.oid not in files:
                inner.setdefault(e.oid, (e.size, f"{label}/{e.path}"))
    # 2. Files.
    download(inner if sniff else {**inner, **files})
    report.missing = sorted(missing)
    if strict and report.missing:
        raise missing_error(report.missing, r.where, push=False)
    return report
