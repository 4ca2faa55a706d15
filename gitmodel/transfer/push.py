"""push: upload what a remote lacks of the wanted objects.

Order, so that an interruption at any point costs only repeated work: file
objects first, and a manifest only after all of its files are published,
so a manifest on the remote means a complete directory (and a later push
may skip a directory whose manifest is there).  Local packs go whole when
the remote lacks most of them (one file instead of thousands).

A chunked file (store/chunks.py) has no object of its own: its chunk
objects join the objects to send (so only those the remote lacks go, in
whole packs where the remote lacks most of one), and its chunk list is
uploaded after them, as a manifest after its files, so a chunk list on the
remote means a complete file there.

What the remote lacks is found with the layout's batched existence checks
(per-object probes or a listing, by count), after consulting a local
record of objects known to be on the remote (`<cache>/remotes/<name>/known`),
so a push with nothing new asks the remote nothing.  That record is a hint
for skipping uploads only: it is never a reason to delete anything (gc must
ask the remote itself), and `check_remote=True` ignores it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import Any

from gitmodel.errors import ObjectMissingError
from gitmodel.platform import faults
from gitmodel.progress import Progress
from gitmodel.remote import sharing
from gitmodel.remote.known import KnownObjects
from gitmodel.remote.layout import GC_MARKER
from gitmodel.remote.packs import LocalPack, RemotePacks, plan_packs, remote_has
from gitmodel.remote.spec import Remote
from gitmodel.remote.workers import chunks, parallel, retrying
from gitmodel.repo import Repo
from gitmodel.store import chunks as chunkfmt
from gitmodel.store import chunkstore, manifest
from gitmodel.store.cache import Cache
from gitmodel.transfer.wanted import Wanted, collect, is_manifest, missing_error, opened


@dataclass
class PushReport:
    remote: str  # the remote's name
    url: str  # its URL, credentials redacted
    uploaded: int = 0  # objects sent
    uploaded_bytes: int = 0
    present: int = 0  # objects the remote already had (asked, or in the local record)
    missing: list[tuple[str, str]] = field(default_factory=list)  # (path, oid) not in the local cache

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["missing"] = [{"path": p, "oid": o} for p, o in self.missing]
        return d


def _known_for_push(repo: Repo, r: Remote) -> KnownObjects:
    known = KnownObjects(repo.cache.root, r.name, r.identity)
    known.follow_remote_gc(r.read_meta(GC_MARKER))  # one small read per push
    return known


def _fast_path(cache: Cache) -> Callable[[str], str]:
    """cache.path by concatenation (xxh128 oids): it runs once per object."""
    objects = cache.objects

    def path(oid: str) -> str:
        return f"{objects}/{oid[:6]}/{oid[7:9]}/{oid[9:]}" if oid[6] == ":" else cache.path(oid)

    return path


def push(repo: Repo, remote: str | None = None, paths: Sequence[str] = (), revs: Sequence[str] = (),
         all_tags: bool = False, all_branches: bool = False, jobs: int | None = None,
         progress: Progress | None = None, *, cwd: str | None = None, check_remote: bool = False,
         strict: bool = True) -> PushReport:
    """Upload what the remote lacks of the objects named by the workspace
    pointers (or by `revs`, every tag, every branch).

    Raises ObjectMissingError (after pushing everything else) when some
    object is not in the local cache, unless `strict` is False, in which case
    `report.missing` lists them."""
    repo.require_init()
    with repo.lock:
        want = collect(repo, paths, revs, all_tags, all_branches, cwd)
        with opened(repo, remote) as (r, configured_jobs):
            known = _known_for_push(repo, r)
            return _push(repo, r, want, jobs or configured_jobs or r.default_jobs, known, progress,
                         check_remote, strict)


def push_oids(repo: Repo, oids: Iterable[str], remote: str | None = None, progress: Progress | None = None,
              *, jobs: int | None = None, check_remote: bool = False, strict: bool = True) -> PushReport:
    """Upload these objects (a manifest with all its files) where the remote lacks them."""
    repo.require_init()
    with repo.lock:
        want = Wanted()
        for o in oids:
            if is_manifest(repo.cache, o):
                want.dirs.setdefault(o, o)
            else:
                want.files.setdefault(o, (repo.cache.size_of(o) or 0, o))
        with opened(repo, remote) as (r, configured_jobs):
            known = _known_for_push(repo, r)
            return _push(repo, r, want, jobs or configured_jobs or r.default_jobs, known, progress,
                         check_remote, strict)


def _push(repo: Repo, r: Remote, want: Wanted, jobs: int, known: KnownObjects, progress: Progress | None,
          check_remote: bool, strict: bool) -> PushReport:
    cache = repo.cache
    report = PushReport(r.name, r.display)
    recorded: set[str] = set() if check_remote else known.load()
    files = dict(want.files)
    packs = RemotePacks(r, os.path.join(known.dir, "packs"))  # read only when something is asked

    def lacking(oids: Iterable[str]) -> list[str]:
        """Those of `oids` the remote lacks: the record first, then the remote."""
        oids = list(oids)
        ask = [o for o in oids if o not in recorded]
        on_remote = remote_has(r, packs, ask, jobs)
        known.add(on_remote)
        report.present += len(oids) - len(ask) + len(on_remote)
        return [o for o in ask if o not in on_remote]

    # 1. Directories: one whose manifest is on the remote is complete there,
    # unless `check_remote` doubts the remote (its packs/ deleted by hand
    # leaves the manifests): then every file of every directory is asked.
    manifests: dict[str, list[str]] = {}  # manifest to upload -> its file oids
    below: dict[str, list[tuple[str, int]]] = {}  # manifest to upload -> its trees, with their depth
    dirs_lacking = set(lacking(want.dirs))
    for m in (list(want.dirs) if check_remote else dirs_lacking):
        label = want.dirs[m]
        if not cache.has(m):
            if m in dirs_lacking:
                report.missing.append((label, m))
            continue
        try:
            # (check_remote doubts every tree on the remote too: all are read.)
            entries, subtrees = _below(cache, m, label, None if check_remote else lacking)
        except ObjectMissingError:  # a tree below it was never fetched: the folder is not here whole
            if m in dirs_lacking:
                report.missing.append((label, m))
            continue
        for oid, size, path in entries:
            files.setdefault(oid, (size, path))
        if m in dirs_lacking:
            manifests[m] = [oid for oid, _, _ in entries]
            below[m] = subtrees
        else:  # (check_remote: the root is there; a tree of it lost on the remote is sent like a file)
            for t, _ in subtrees:
                files.setdefault(t, (cache.size_of(t) or 0, f"{label} (a tree of its manifest)"))

    # This repository on the remote's list of those that push there, once the
    # pointers and manifests have been read (hostile ones stop the push with
    # nothing written) and before the first upload; also when nothing is
    # uploaded, since this repository now relies on what is there.  gc -r in
    # another repository refuses while the record is there.
    sharing.record(repo, r)

    # 2. Chunked files: the objects of each chunk list the remote lacks join
    # the files (with `check_remote`, those of every chunk list).
    lists = _chunked(cache, r, files, recorded, known, check_remote, jobs, report)
    plain = set(files)
    for objs, _, label in lists.values():
        for o in objs:
            files.setdefault(o, (cache.size_of(o) or 0, label))

    # 3. Files (and chunk objects) the remote lacks.
    send = lacking(files)
    whole, send = plan_packs(cache, send, set(packs.ids))
    uploading = {o: data for o, (_, data, _) in lists.items() if data is not None}  # chunk lists to upload
    if progress:
        progress.add_total(len(send) + sum(len(p.entries) for p in whole) + len(manifests) + len(uploading)
                           + len({t for v in below.values() for t, _ in v}),
                           sum(files[o][0] for o in send) + sum(p.size for p in whole)
                           + sum(len(data) for data in uploading.values()))

    absent: set[str] = set()
    mu = threading.Lock()
    faulty = bool(os.environ.get("GITMODEL_FAULT"))  # one lookup, not one per object
    cache_path = _fast_path(cache)

    def put_pack(p: LocalPack) -> None:
        retrying(lambda: r.put_pack(p.packid, p.path, p.idx_data))
        known.add(o for o, _, _ in p.entries)  # complete on the remote: put_pack wrote its index last
        with mu:
            report.uploaded += len(p.entries)
            report.uploaded_bytes += p.size
        faults.point("push:pack-uploaded")
        if progress:
            progress.advance(len(p.entries), p.size)

    def put_chunk(chunk: list[tuple[str, int]]) -> None:
        n = nbytes = 0
        for oid, size in chunk:
            path = cache_path(oid)
            loc = cache.locate(oid)
            try:
                if loc is not None:  # one object out of a local pack: sent from memory
                    data = bytes(cache.view(loc))
                    retrying(partial(r.put_bytes, oid, data))
                else:
                    retrying(partial(r.put, oid, path, size))
            except FileNotFoundError:
                if os.path.exists(path):
                    raise  # the remote side's, not a missing cache object
                with mu:
                    absent.add(oid)
                continue
            n += 1
            nbytes += size
            if faulty:
                faults.point("push:object-uploaded")
        with mu:
            report.uploaded += n
            report.uploaded_bytes += nbytes
        if progress:
            progress.advance(n, nbytes)

    parallel(whole, put_pack, jobs)
    parallel(chunks([(o, files[o][0]) for o in send]), put_chunk, jobs)
    r.flush()
    # Recorded only once published: after a failure the next push asks the remote.
    known.add(o for o in send if o not in absent)
    faults.point("push:files-published")

    # 4. Chunk lists, each only once every one of its objects is on the
    # remote (and flushed, above); a file left incomplete also holds back
    # the manifests that name it.
    blocked = [o for o, (objs, _, _) in lists.items() if not objs.isdisjoint(absent)]
    ready_lists = [(o, data) for o, data in uploading.items() if o not in blocked]

    def put_list(item: tuple[str, bytes]) -> None:
        oid, data = item
        retrying(partial(r.put_list, oid, data))
        known.add_lists([oid])
        with mu:
            report.uploaded += 1
            report.uploaded_bytes += len(data)
        if progress:
            progress.advance(1, len(data))

    parallel(ready_lists, put_list, jobs)
    faults.point("push:lists-published")

    # 5. Manifests, each only once every one of its files is on the remote.
    report.missing += [(files[o][1], o) for o in send if o in absent and o in plain]
    report.missing += [(lists[o][2], o) for o in blocked]
    absent.update(blocked)
    # A folder's trees go up level by level, the deepest first and its root
    # last, so that a tree on the remote always names a complete subfolder.
    # (A folder held back by a file that is not here holds back its trees:
    # they name that file.)
    ready = [m for m, deps in manifests.items() if not any(d in absent for d in deps)]
    trees: dict[str, int] = {}
    for m in ready:
        for t, depth in below.get(m, ()):
            trees[t] = max(depth, trees.get(t, 0))
    for depth in sorted(set(trees.values()), reverse=True):
        level = [t for t, d in trees.items() if d == depth]
        if check_remote:  # (else `_below` asked already: these are the ones the remote lacks)
            level = lacking(level)
        parallel(chunks([(t, cache.size_of(t) or 0) for t in level]), put_chunk, jobs)
        r.flush()
        known.add(t for t in level if t not in absent)
    parallel(chunks([(m, cache.size_of(m) or 0) for m in ready]), put_chunk, jobs)
    r.flush()
    known.add(ready)
    if strict and report.missing:
        raise missing_error(report.missing, r.where, push=True)
    return report


def _below(cache: Cache, m: str, label: str, lacking: Callable[[Iterable[str]], list[str]] | None
           ) -> tuple[list[tuple[str, int, str]], list[tuple[str, int]]]:
    """The files to send for the folder manifest `m`, (oid, size, path
    shown), and the trees below its root to send, with their depth.  Read
    level by level: a subtree `lacking` says the remote has is complete
    there (push sends a tree only after everything below it), so nothing
    below it is read or asked again: a new version with one changed file
    costs the trees on its way.  `lacking` None: every tree is read."""
    where = f"manifest of {label}"
    data = cache.read_bytes(m)
    if not manifest.is_tree(data):
        return [(e.oid, e.size, f"{label}/{e.path}") for e in manifest.loads(data, where)], []
    files: list[tuple[str, int, str]] = []
    trees: list[tuple[str, int]] = []
    level: list[tuple[str, str, int | None]] = [(m, "", None)]  # (tree, its folder, the files its parent says)
    depth = 0
    while level:
        below: dict[str, tuple[str, str, int | None]] = {}
        for oid, prefix, said in level:
            own, subtrees = manifest.loads_tree(data if oid == m else cache.read_bytes(oid),
                                                f"{where}/{prefix}".rstrip("/"), said)
            files += [(e.oid, e.size, f"{label}/{prefix}{e.path}") for e in own]
            for t in subtrees:
                below.setdefault(t.oid, (t.oid, f"{prefix}{t.name}/", t.files))
        depth += 1
        ask = list(below) if lacking is None else lacking(below)
        level = [below[t] for t in ask]
        trees += [(t, depth) for t in ask]
    return files, trees


def _chunked(cache: Cache, r: Remote, files: dict[str, tuple[int, str]], recorded: set[str], known: KnownObjects,
             check_remote: bool, jobs: int, report: PushReport
             ) -> dict[str, tuple[set[str], bytes | None, str]]:
    """Take the chunked files out of `files` (they have no object to send);
    returns, for those whose objects must be sent: file oid -> (its chunk
    objects, its chunk list's bytes to upload after them or None when the
    remote has it, path shown).  Whether the remote has a chunk list: the
    local record first, then the remote.  `check_remote` reads every one
    (a GET instead of a HEAD): one that differs from this cache's (damaged,
    or another clone's valid chunking) is replaced once all of this
    cache's chunks are sent, so a push can repair a remote."""
    chunked = [o for o, (size, _) in files.items()
               if (size == 0 or size >= chunkstore.MIN_THRESHOLD) and o not in recorded and cache.is_chunked(o)]
    if not chunked:
        return {}
    sizes = {o: files[o][0] or None for o in chunked}
    labels = {o: files.pop(o)[1] for o in chunked}
    if check_remote:
        ours = {o: cache.chunks.read_list(o, sizes[o], f"{labels[o]} in the cache") for o in chunked}
        theirs: dict[str, bytes | None] = {}

        def read(o: str) -> None:
            theirs[o] = retrying(lambda: r.get_list(o, sizes[o]))

        parallel(chunked, read, jobs)
        lacking = {o for o in chunked if theirs[o] != chunkfmt.dumps(ours[o])}
        known.add_lists(o for o in chunked if o not in lacking)
        report.present += len(chunked) - len(lacking)
        return {o: (cl.objects(), chunkfmt.dumps(cl) if o in lacking else None, labels[o]) for o, cl in ours.items()}
    ask = [o for o in chunked if not known.has_list(o)]
    on_remote = r.lists_exist(ask, jobs) if ask else set()
    known.add_lists(on_remote)
    report.present += len(chunked) - len(ask) + len(on_remote)
    out: dict[str, tuple[set[str], bytes | None, str]] = {}
    for o in ask:
        if o not in on_remote:
            cl = cache.chunks.read_list(o, sizes[o], f"{labels[o]} in the cache")
            out[o] = (cl.objects(), chunkfmt.dumps(cl), labels[o])
    return out
