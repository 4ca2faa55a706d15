"""Moving objects between the cache and a remote: push, fetch, pull.

What moves: the objects named by the workspace pointers (or by the pointers
of given revisions).  A directory pointer names a manifest object, which
names the file objects; all of them move.

Order, so that an interruption at any point costs only repeated work:
- push uploads file objects first and a manifest only after all of its
  files are published, so a manifest on the remote means a complete
  directory (and a later push may skip a directory whose manifest is there);
- fetch downloads a manifest first (verified, like every download) to learn
  the files, then the files; each object is hashed while it streams and gets
  its final name in the cache only when it matches its oid.

What is missing is found with batched existence checks (the backend picks
per-object queries or a listing by count), after consulting a local record
of objects known to be on each remote (`<cache>/remotes/<name>/known`), so a
push with nothing new asks the remote nothing.  That record is a hint for
skipping uploads only: it is never a reason to delete anything (gc must ask
the remote itself), and `check_remote=True` ignores it.

Getting one artifact of another repository (`gitmodel get`) is
`gitmodel.getartifact`, built on `fetch_wanted`.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

from gitmodel.platform import faults
from gitmodel.platform import fsutil
from gitmodel.store import manifest
from gitmodel.git import revs
from gitmodel.workspace import targets as tracked
from gitmodel.store import pointer as ptr
from gitmodel.store.cache import Cache
from gitmodel.errors import GitmodelError, ObjectMissingError, PathError, PointerError
from gitmodel.progress import Progress
from gitmodel.remote.known import KnownObjects
from gitmodel.remote.spec import Remote, open_remote, spec_from_config
from gitmodel.remote.layout import GC_MARKER
from gitmodel.remote.packs import LocalPack, PackEntry, RemotePacks, download_pack, plan_packs, read_span, remote_has, spans_of
from gitmodel.repo import Repo
from gitmodel.transfer.workers import chunks, parallel, retrying

MANIFEST_MAGIC = (manifest.HEADER + "\n").encode()
LARGE_LOCAL = 8 << 20  # from a folder remote, objects this large take the cache's in-kernel copy


# -- reports -------------------------------------------------------------------

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


def _missing_error(missing: list[tuple[str, str]], where: str, push: bool) -> ObjectMissingError:
    path, oid = missing[0]
    more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
    if push:
        return ObjectMissingError(
            f"{path} ({oid}){more} not in the local cache, so not pushed to {where} (everything else was); "
            f"fetch it from where it was added (`gitmodel fetch -r OTHER`) or `gitmodel add` it again")
    return ObjectMissingError(
        f"{path} ({oid}){more} not on {where} (everything else was fetched); "
        f"push it from a clone that has it (`gitmodel push`), or fetch from another remote with -r NAME")


def _known_for_push(repo: Repo, r: Remote) -> KnownObjects:
    known = KnownObjects(repo.cache.root, r.name, r.identity)
    known.follow_remote_gc(r.read_meta(GC_MARKER))  # one small read per push
    return known


# -- what to move ------------------------------------------------------------------

@dataclass
class Wanted:
    files: dict[str, tuple[int, str]] = field(default_factory=dict)  # oid -> (size, path shown)
    dirs: dict[str, str] = field(default_factory=dict)  # manifest oid -> path shown

    def add(self, label: str, p: ptr.Pointer) -> None:
        if p.is_dir:
            self.dirs.setdefault(p.oid, label)
        else:
            self.files.setdefault(p.oid, (p.size, label))


def collect(repo: Repo, paths: Sequence[str] = (), revs_: Sequence[str] = (), all_tags: bool = False,
            all_branches: bool = False, cwd: str | None = None) -> Wanted:
    """The pointers named by workspace paths, or by revisions (filtered by paths)."""
    want = Wanted()
    if not revs_ and not all_tags and not all_branches:
        for t in tracked.resolve(repo, list(paths), cwd):
            want.add(t.rel, t.pointer)
        return want
    rels = []
    for p in paths:
        rel = repo.relpath(p, cwd)
        rels.append(ptr.target_path(rel) if rel.endswith(ptr.SUFFIX) else rel)
    found = {r: False for r in rels}
    for name, commit_id in _commits(repo, revs_, all_tags, all_branches):
        for rel, pointer in revs.pointers_at(repo, commit_id).items():
            if rels:
                hits = [r for r in rels if rel == r or rel.startswith(r + "/")]
                if not hits:
                    continue
                for r in hits:
                    found[r] = True
            want.add(f"{name}:{rel}", pointer)
    unknown = [r for r, hit in found.items() if not hit]
    if unknown:
        raise PathError(f"{unknown[0]}: is not tracked by gitmodel at any of the revisions given; "
                        f"check the path with `git ls-tree -r --name-only REV`")
    return want


def _commits(repo: Repo, revs_: Sequence[str], all_tags: bool, all_branches: bool) -> list[tuple[str, str]]:
    """(name shown, commit id) per distinct commit, every revision resolved
    before anything moves (a bad one fails the command up front)."""
    import pygit2

    out: dict[str, str] = {}
    for rev in revs_:
        out.setdefault(str(revs.resolve_commit(repo, rev).id), rev)
    g = revs.git(repo)
    prefixes = (("refs/tags/",) if all_tags else ()) + (("refs/heads/",) if all_branches else ())
    for refname in sorted(g.references) if prefixes else ():
        if not refname.startswith(prefixes):
            continue
        try:
            commit = g.references[refname].peel(pygit2.Commit)
        except (ValueError, pygit2.GitError, KeyError):
            continue  # a tag of a tree or blob: nothing of ours there
        out.setdefault(str(commit.id), refname.split("/", 2)[2])
    return [(name, cid) for cid, name in out.items()]


def _fast_path(cache: Cache) -> Callable[[str], str]:
    """cache.path by concatenation (xxh128 oids): it runs once per object."""
    objects = cache.objects

    def path(oid: str) -> str:
        return f"{objects}/{oid[:6]}/{oid[7:9]}/{oid[9:]}" if oid[6] == ":" else cache.path(oid)

    return path


@contextmanager
def _opened(repo: Repo, name: str | None) -> Iterator[tuple[Remote, int | None]]:
    spec = spec_from_config(repo.config, name, repo.root)
    r = open_remote(spec, repo.config.link)
    try:
        yield r, spec.jobs()
    finally:
        r.close()


def _is_manifest(cache: Cache, oid: str) -> bool:
    try:
        with open(cache.path(oid), "rb") as f:
            return f.read(len(MANIFEST_MAGIC)) == MANIFEST_MAGIC
    except OSError:
        return False


# -- push ------------------------------------------------------------------------------

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
        with _opened(repo, remote) as (r, configured_jobs):
            known = _known_for_push(repo, r)
            return _push(repo.cache, r, want, jobs or configured_jobs or r.default_jobs, known, progress,
                         check_remote, strict)


def push_oids(repo: Repo, oids: Iterable[str], remote: str | None = None, progress: Progress | None = None,
              *, jobs: int | None = None, check_remote: bool = False, strict: bool = True) -> PushReport:
    """Upload these objects (a manifest with all its files) where the remote lacks them."""
    repo.require_init()
    with repo.lock:
        want = Wanted()
        for o in oids:
            if _is_manifest(repo.cache, o):
                want.dirs.setdefault(o, o)
            else:
                want.files.setdefault(o, (repo.cache.size_of(o) or 0, o))
        with _opened(repo, remote) as (r, configured_jobs):
            known = _known_for_push(repo, r)
            return _push(repo.cache, r, want, jobs or configured_jobs or r.default_jobs, known, progress,
                         check_remote, strict)


def _size_or_zero(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def _push(cache: Cache, r: Remote, want: Wanted, jobs: int, known: KnownObjects, progress: Progress | None,
          check_remote: bool, strict: bool) -> PushReport:
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

    # 1. Directories: one whose manifest is on the remote is complete there.
    manifests: dict[str, list[str]] = {}  # manifest to upload -> its file oids
    for m in lacking(want.dirs):
        label = want.dirs[m]
        if not cache.has(m):
            report.missing.append((label, m))
            continue
        entries = manifest.loads(cache.read_bytes(m), f"manifest of {label}")
        for e in entries:
            files.setdefault(e.oid, (e.size, f"{label}/{e.path}"))
        manifests[m] = [e.oid for e in entries]

    # 2. Files the remote lacks.
    send = lacking(files)
    whole, send = plan_packs(cache, send, set(packs.ids))
    if progress:
        progress.add_total(len(send) + sum(len(p.entries) for p in whole) + len(manifests),
                           sum(files[o][0] for o in send) + sum(p.size for p in whole))

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
                    retrying(lambda: r.put_bytes(oid, data))
                else:
                    retrying(lambda: r.put(oid, path, size))
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

    # 3. Manifests, each only once every one of its files is on the remote.
    ready = [m for m, deps in manifests.items() if not any(d in absent for d in deps)]
    parallel(chunks([(m, cache.size_of(m) or 0) for m in ready]), put_chunk, jobs)
    r.flush()
    known.add(ready)
    report.missing += [(files[o][1], o) for o in send if o in absent]
    if strict and report.missing:
        raise _missing_error(report.missing, r.where, push=True)
    return report


# -- fetch ------------------------------------------------------------------------------

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
        with _opened(repo, remote) as (r, configured_jobs):
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
        with _opened(repo, remote) as (r, configured_jobs):
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
            if _is_manifest(cache, o):
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
        raise _missing_error(report.missing, r.where, push=False)
    return report


# -- pull --------------------------------------------------------------------------------

def pull(repo: Repo, remote: str | None = None, paths: Sequence[str] = (), jobs: int | None = None,
         progress: Progress | None = None, *, force: bool = False, cwd: str | None = None,
         strict: bool = True) -> tuple[FetchReport, Any]:
    """fetch + checkout of the workspace pointers.  Returns both reports
    (the second is a gitmodel.workspace.CheckoutReport)."""
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
            raise _missing_error(report.missing, f"remote '{report.remote}' ({report.url})", push=False)
        return report, done


def _fetch_and_place(repo: Repo, remote: str | None, paths: Sequence[str], cwd: str | None,
                     progress: Progress | None) -> tuple[set[str], list[str], int]:
    """Pull's shortcut for a large file in a folder remote that is in neither
    the cache nor the workspace: one pass copies the object into the cache
    and passes each chunk, as it lands, on into a workspace temp file
    (cache.add_file's `tee`), which takes the file's name once the object is
    verified and stored.  So the workspace copy overlaps the cache copy and
    its fsync instead of following them, and reads the page-cache copy.

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
    with _opened(repo, remote) as (r, _):
        clones: dict[str, bool] = {}
        for rel, absp, oid, size in todo:
            folder = os.path.dirname(absp)
            if link == "reflink":
                if folder not in clones:
                    clones[folder] = fsutil.can_clone(cache.tmp, folder)
                if clones[folder]:
                    continue  # checkout's clone costs no copy at all
            src = r.local_file(oid)
            if src is None:
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


def _copy_and_place(cache: Cache, r: Remote, src: str, oid: str, absp: str) -> bool:
    """Store `src` as `oid` in the cache while copying it to a temp file
    beside `absp`; give that copy the name `absp` only once the object is
    verified, and never over a file that appeared there meanwhile."""
    tmp = fsutil.tmp_name(os.path.dirname(absp))
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)  # the umask applies, as in checkout
    except OSError:
        return False
    try:
        try:
            cache.add_file(src, expected=oid, where=r.where,
                           tee=lambda obj, offset, length: fsutil.copy_range(obj, fd, offset, length))
        finally:
            os.close(fd)
        faults.point("fsutil:place-before-rename")
        os.link(tmp, absp)  # unlike rename, fails if the name exists: a user's file is never replaced
        return True
    except (OSError, GitmodelError):
        return False  # fetch and checkout do it the ordinary way, and say what went wrong
    finally:
        fsutil.unlink_quiet(tmp)
