"""Garbage collection: delete cache objects (or remote objects) that nothing
can reach any more.

"Reachable" is deliberately wide, because a wrongly deleted object is data
lost and a wrongly kept one is only disk space:

- the pointer files in the work tree of every worktree (committed or not);
- the git index of every worktree (every stage, so a conflicted merge keeps
  both sides);
- every commit reachable from any ref (branches, tags, remote-tracking refs,
  refs/stash, notes, ...), from any reflog entry (so an amended or reset
  commit and every stash entry count) and from every worktree's HEAD, across
  their whole history;
- the objects that workspace symlinks (link mode `symlink`) point at;
- every oid an annotated tag's message names (a model version's snapshot);
- for a directory, the manifest and every object it lists.

A shallow clone cannot see the history that may need its objects: gc
refuses there.

The history is enumerated by git itself in one pass (`git rev-list --objects
--all --reflog --indexed-objects`); the pointer blobs it names are then read
in-process through pygit2.  No Python walk of trees per commit.

Pointers are read leniently here: every `xxh128:` address anywhere in a
pointer blob is kept, whether or not the rest of it parses, because a garbled
pointer in an old commit must not make gc delete what it names.  A pointer
in a *newer* format than this gitmodel reads stops gc (it could reference
objects in ways we cannot see).  A directory whose manifest is not in the
cache (or is corrupt) stops every deletion: its files are unknown, so no
object can be proved unreachable.

Objects younger than the grace period (by mtime; the cache refreshes it when
something stores the same content again) are kept: they may belong to work
in progress that no ref or pointer names yet (`gitmodel push` from a clone
that has not `git push`ed, content `checkout --force` saved aside).
"""

from __future__ import annotations

import os
import re
import stat
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import faults, fsutil, gitops
from . import oid as oidmod
from . import pack as packmod
from . import pointer as ptr
from .cache import Cache
from .errors import CorruptObjectError, GitmodelError, ObjectMissingError
from .manifest import HEADER as MANIFEST_HEADER
from .progress import Progress
from .remote.base import GC_MARKER
from .repo import Repo

if TYPE_CHECKING:
    import pygit2

    from .remote import Remote

DEFAULT_KEEP_DAYS = 14.0
DAY = 86400.0
_OID_TOKEN = re.compile(rb"xxh128:[0-9a-f]{32}")
_KIND_DIR = re.compile(rb"(?m)^kind dir[ \t\r]*$")
_VERSION = re.compile(rb"(?m)^version (\S+)")
_MANIFEST_MAGIC = (MANIFEST_HEADER + "\n").encode()
NULL_SHA = "0" * 40


class GcRefusedError(GitmodelError):
    """gc found something that makes deleting unsafe; nothing was deleted."""


# -- what is reachable -----------------------------------------------------------

@dataclass
class Reachable:
    oids: set[str] = field(default_factory=set)
    pointers: int = 0  # pointer blobs and files read
    manifests: int = 0  # directory manifests expanded
    commits_roots: int = 0  # worktree HEADs added to --all
    # Manifests named by a reachable directory pointer that the cache cannot
    # vouch for (absent or corrupt): oid -> where it was named.
    unknown_manifests: dict[str, str] = field(default_factory=dict)
    # Pointers in a format newer than ours: where -> version.
    newer_format: dict[str, str] = field(default_factory=dict)
    # Objects that workspace symlinks point at (their loose copy must stay
    # even when a pack holds them too).  Also in `oids`.
    linked: set[str] = field(default_factory=set)
    warnings: list[str] = field(default_factory=list)


class _Collector:
    """Accumulates pointer contents; expands manifests at the end."""

    def __init__(self, cache: Cache) -> None:
        self.cache = cache
        self.result = Reachable()
        self.dirs: dict[str, str] = {}  # manifest (or maybe-manifest) oid -> where
        self.maybe_dirs: set[str] = set()  # expanded only if present and a manifest
        self.seen_blobs: set[str] = set()

    def pointer(self, data: bytes, where: str) -> None:
        r = self.result
        r.pointers += 1
        tokens = [t.decode() for t in _OID_TOKEN.findall(data)]
        r.oids.update(tokens)
        version = _VERSION.search(data)
        if version and version.group(1) != ptr.VERSION.encode():
            v = version.group(1).decode("utf-8", "replace")
            if v.startswith("gitmodel/"):
                r.newer_format.setdefault(where, v)
            return
        try:
            p = ptr.loads(data.decode("utf-8"), where)
        except (GitmodelError, UnicodeDecodeError) as e:
            if len(r.warnings) < 50:
                r.warnings.append(f"{where}: unreadable pointer ({str(e).split(': ', 1)[-1][:100]}); "
                                  f"kept the {len(tokens)} object(s) it names")
            if _KIND_DIR.search(data):
                for t in tokens:
                    self.dirs.setdefault(t, where)
            return
        if p.is_dir:
            self.dirs.setdefault(p.oid, where)

    def mention(self, data: bytes) -> None:
        """Oids named in free text (a version tag's snapshot): kept, and
        expanded when they are manifests the cache holds."""
        for t in _OID_TOKEN.findall(data):
            oid = t.decode()
            self.result.oids.add(oid)
            self.maybe_dirs.add(oid)

    def expand(self) -> Reachable:
        """Add every object each reachable manifest lists."""
        r = self.result
        for moid in self.maybe_dirs - set(self.dirs):
            if self.cache.has(moid):
                self.dirs[moid] = "a version tag"
        for moid, where in self.dirs.items():
            # Manifests are stored loose, but one may reach a pack (a remote's).
            try:
                data = self.cache.read_bytes(moid, verify=False)
            except (ObjectMissingError, CorruptObjectError):
                r.unknown_manifests[moid] = where
                continue
            if oidmod.of_bytes(data) != moid:
                r.unknown_manifests[moid] = where  # corrupt: what it really lists is unknown
                continue
            if not data.startswith(_MANIFEST_MAGIC):
                continue  # a file object named by a garbled pointer: nothing to expand
            r.manifests += 1
            # Every address in it, parsed or not: a superset of its entries.
            r.oids.update(t.decode() for t in _OID_TOKEN.findall(data))
        return r


def _worktrees(repo: Repo) -> list[tuple[str, str | None]]:
    """(path, HEAD sha or None) of every worktree, main one first."""
    out = gitops.run(["worktree", "list", "--porcelain", "-z"], cwd=repo.root).stdout.decode(errors="surrogateescape")
    trees: list[tuple[str, str | None]] = []
    path: str | None = None
    head: str | None = None
    for field_ in out.split("\0"):
        if field_.startswith("worktree "):
            if path is not None:
                trees.append((path, head))
            path, head = field_[len("worktree "):], None
        elif field_.startswith("HEAD "):
            sha = field_[len("HEAD "):]
            head = None if sha == NULL_SHA else sha
    if path is not None:
        trees.append((path, head))
    return trees


def _read_small(path: str) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read(ptr.MAX_POINTER_BYTES + 1)
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None


def _cache_link_oid(path: str, objects_real: str) -> str | None:
    """The oid a workspace symlink into the cache points at, if it is one."""
    real = os.path.realpath(path)
    if not real.startswith(objects_real + os.sep):
        return None
    parts = os.path.relpath(real, objects_real).split(os.sep)
    if len(parts) != 3:
        return None
    candidate = f"{parts[0]}:{parts[1]}{parts[2]}"
    return candidate if oidmod.is_valid(candidate) else None


def _scan_target(target: str, objects_real: str, links: set[str], temps: list[str]) -> None:
    """Objects that symlinks at or below a tracked target point at (link
    mode `symlink`), and our temp files there (an interrupted checkout)."""
    try:
        st = os.lstat(target)
    except OSError:
        return
    if stat.S_ISLNK(st.st_mode):
        o = _cache_link_oid(target, objects_real)
        if o:
            links.add(o)
        return
    if not stat.S_ISDIR(st.st_mode):
        return
    stack = [target]
    while stack:
        folder = stack.pop()
        for entry in _scandir(folder):
            if entry.is_dir(follow_symlinks=False):
                stack.append(entry.path)
            elif entry.name.startswith(fsutil.TMP_PREFIX):
                temps.append(entry.path)
            elif entry.is_symlink():
                o = _cache_link_oid(entry.path, objects_real)
                if o:
                    links.add(o)


def reachable(repo: Repo, extra_roots: Iterable[str] = ()) -> tuple[Reachable, list[str]]:
    """Every object some reference can reach, and our temp files left in
    the workspace (beside and inside tracked paths)."""
    import pygit2

    col = _Collector(repo.cache)
    g = pygit2.Repository(repo.root)
    objects_real = os.path.realpath(repo.cache.objects)
    temps: list[str] = []

    def blob(sha: str, where: str) -> None:
        if sha in col.seen_blobs:
            return
        col.seen_blobs.add(sha)
        try:
            data = g.odb.read(sha)[1]
        except (KeyError, ValueError, pygit2.GitError):
            col.result.warnings.append(f"{where}: git object {sha} is missing from the git repository")
            return
        col.pointer(bytes(data), where)

    # 1. Every worktree: its pointer files on disk, its index, its HEAD.
    roots = list(extra_roots)
    folders: set[str] = set()  # where checkout writes a single file's temp
    for wt, head in _worktrees(repo):
        if head:
            roots.append(head)
            col.result.commits_roots += 1
        if not os.path.isdir(wt):
            continue  # a worktree whose folder was deleted: its HEAD still counts
        listed = gitops.run(["ls-files", "-z", "--cached", "--others", "--exclude-standard", "--deduplicate",
                             "--", f":(glob)**/*{ptr.SUFFIX}"], cwd=wt).stdout.decode(errors="surrogateescape")
        for rel in filter(None, listed.split("\0")):
            data = _read_small(os.path.join(wt, rel))
            if data is not None:
                col.pointer(data, os.path.join(wt, rel))
                target = os.path.join(wt, ptr.target_path(rel))
                _scan_target(target, objects_real, col.result.linked, temps)
                folders.add(os.path.dirname(target))
        staged = gitops.run(["ls-files", "-z", "-s", "--", f":(glob)**/*{ptr.SUFFIX}"],
                            cwd=wt).stdout.decode(errors="surrogateescape")
        for line in filter(None, staged.split("\0")):
            meta, _, rel = line.partition("\t")
            parts = meta.split()
            if len(parts) == 3:
                blob(parts[1], f"index of {wt}: {rel} (stage {parts[2]})")

    # 2. All history, in one pass by git: blobs only, with the path where git
    # first met each one.
    proc = gitops.run(["rev-list", "--objects", "--all", "--reflog", "--indexed-objects",
                       "--filter=object:type=blob", *roots], cwd=repo.root)
    others: list[str] = []
    for line in proc.stdout.decode(errors="surrogateescape").splitlines():
        sha, sep, path = line.partition(" ")
        if not sep:
            continue  # a commit (no path)
        if path.endswith(ptr.SUFFIX):
            blob(sha, f"history: {path} ({sha[:10]})")
        else:
            others.append(sha)
    # git names each blob once, by the first path it met it at: a pointer
    # whose exact bytes also sit at another path may be listed under that
    # one.  Pointer-sized blobs under other names are sniffed for our header.
    _sniff(g, others, blob)
    # 3. Annotated tags: a model version's message carries a snapshot with
    # the artifact's and the data's oids (gitmodel.registry).
    for name in g.references:
        try:
            obj = g[g.references[name].target]
        except (KeyError, ValueError, TypeError):
            continue  # symbolic or dangling
        while isinstance(obj, pygit2.Tag):
            col.mention(obj.message.encode("utf-8", "surrogateescape"))
            try:
                obj = g[obj.target]
            except (KeyError, ValueError):
                break
    for folder in folders:
        temps += [e.path for e in _scandir(folder) if e.name.startswith(fsutil.TMP_PREFIX)]
    col.result.oids |= col.result.linked
    return col.expand(), sorted(set(temps))


_SNIFF = b"version gitmodel/"
# A pointer is ~100 bytes (a few hundred with extra keys): only blobs up to
# this size are read to sniff, which keeps the pass to a header lookup for
# most of a code repository's blobs (60k blobs: 0.25 s instead of 0.65 s).
SNIFF_MAX = 4096


def _sniff(g: pygit2.Repository, shas: list[str], blob: Any) -> None:
    odb = g.odb
    for sha in shas:
        try:
            _, size = odb.read_header(sha)
        except (KeyError, ValueError):
            continue
        if size > SNIFF_MAX or size < len(_SNIFF):
            continue
        data = odb.read(sha)[1]
        if bytes(data[:len(_SNIFF)]) == _SNIFF:
            blob(sha, f"history: blob {sha[:10]}")


# -- the cache's inventory ------------------------------------------------------------

@dataclass
class Stored:
    oid: str
    path: str  # the loose file (or temp file)
    size: int
    mtime: float


@dataclass
class StoredPack:
    packid: str
    pack: str  # path of the .pack
    idx: str  # path of the .idx
    size: int  # bytes of the .pack
    mtime: float  # of the .pack: its objects' age, for the grace period
    entries: list[tuple[str, int, int]]  # (oid, offset, size), from the index
    damaged: str = ""  # the index could not be read: why (entries is then empty)

    def objects(self) -> list[Stored]:
        return [Stored(o, self.pack, size, self.mtime) for o, _, size in self.entries]


@dataclass
class Inventory:
    loose: list[Stored] = field(default_factory=list)
    packs: list[StoredPack] = field(default_factory=list)
    temps: list[Stored] = field(default_factory=list)  # our temp files, and packs without an index

    @property
    def objects(self) -> list[Stored]:
        """Every stored object, loose and packed (an object held twice is listed twice)."""
        return self.loose + [s for p in self.packs for s in p.objects()]


def scan_cache(cache: Cache) -> Inventory:
    """What the cache holds: loose objects, packs, and leftovers.  Foreign files are ignored."""
    inv = Inventory()
    for folder in (cache.root, cache.tmp):
        for entry in _scandir(folder):
            if entry.name.startswith(fsutil.TMP_PREFIX):
                _add_temp(inv.temps, entry)
    for algo in _scandir(cache.objects):
        if not algo.is_dir(follow_symlinks=False):
            continue
        for shard in _scandir(algo.path):
            if not shard.is_dir(follow_symlinks=False):
                continue
            for entry in _scandir(shard.path):
                st = entry.stat(follow_symlinks=False)
                if entry.name.startswith(fsutil.TMP_PREFIX):
                    inv.temps.append(Stored("", entry.path, st.st_size, st.st_mtime))
                    continue
                oid = f"{algo.name}:{shard.name}{entry.name}"
                if stat.S_ISREG(st.st_mode) and oidmod.is_valid(oid):
                    inv.loose.append(Stored(oid, entry.path, st.st_size, st.st_mtime))
    _scan_packs(cache.packs, inv)
    return inv


def _scan_packs(folder: str, inv: Inventory) -> None:
    listing = {e.name: e for e in _scandir(folder)}
    for name, entry in listing.items():
        if name.startswith(fsutil.TMP_PREFIX):
            _add_temp(inv.temps, entry)
        elif name.startswith(packmod.PREFIX) and name.endswith(".pack") and name[:-5] + ".idx" not in listing:
            # A pack whose index was never written (a crash between the
            # two) or was deleted first by gc: nothing can read it.
            _add_temp(inv.temps, entry)
    for packid in (i for i in map(packmod.packid_of, listing) if i is not None):
        pack_path = os.path.join(folder, packmod.name_of(packid, "pack"))
        idx_path = os.path.join(folder, packmod.name_of(packid, "idx"))
        try:
            st = os.stat(pack_path)
            found = StoredPack(packid, pack_path, idx_path, st.st_size, st.st_mtime, [])
        except FileNotFoundError:
            # The index names objects nothing can read (and that `has` believes
            # in): damaged, for fsck to move aside.
            found = StoredPack(packid, pack_path, idx_path, 0, 0.0, [],
                               f"pack {pack_path} is missing; run `gitmodel fsck`")
        try:
            entries = packmod.read_index(idx_path)
        except FileNotFoundError:
            continue  # removed since the listing
        except CorruptObjectError as e:
            found.damaged = str(e)
        else:
            if not found.damaged:
                found.entries = entries
        inv.packs.append(found)


def _add_temp(temps: list[Stored], entry: os.DirEntry[str]) -> None:
    try:
        st = entry.stat(follow_symlinks=False)
    except FileNotFoundError:
        return
    temps.append(Stored("", entry.path, st.st_size, st.st_mtime))


def _scandir(path: str) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(path) as it:
            return list(it)
    except (FileNotFoundError, NotADirectoryError):
        return []


# -- gc ------------------------------------------------------------------------------

@dataclass
class GcReport:
    dry_run: bool
    keep_days: float
    where: str  # "cache" or the remote's display
    reachable: int = 0  # distinct reachable oids
    kept: int = 0  # stored objects kept because reachable
    kept_young: int = 0  # unreachable but younger than the grace period
    deleted: list[tuple[str, int]] = field(default_factory=list)  # (oid, size): freed, or would be
    temps: list[tuple[str, int]] = field(default_factory=list)  # (path, size) stale temp files
    warnings: list[str] = field(default_factory=list)
    # Packs: unreachable objects kept because most of their pack is reachable;
    # packs deleted whole; packs rewritten with only their reachable objects
    # (old id, new id: "" in a dry run); loose copies of objects a pack holds.
    kept_in_packs: int = 0
    packs_deleted: list[str] = field(default_factory=list)
    packs_rewritten: list[tuple[str, str]] = field(default_factory=list)
    duplicates: list[tuple[str, int]] = field(default_factory=list)

    @property
    def freed(self) -> int:
        return sum(s for _, s in self.deleted) + sum(s for _, s in self.temps) + sum(s for _, s in self.duplicates)

    def as_dict(self) -> dict[str, Any]:
        return {"dry_run": self.dry_run, "keep_days": self.keep_days, "where": self.where,
                "reachable": self.reachable, "kept": self.kept, "kept_young": self.kept_young,
                "kept_in_packs": self.kept_in_packs,
                "deleted": [{"oid": o, "size": s} for o, s in self.deleted],
                "packs_deleted": self.packs_deleted,
                "packs_rewritten": [{"old": o, "new": n} for o, n in self.packs_rewritten],
                "duplicates": [{"oid": o, "size": s} for o, s in self.duplicates],
                "temps": [{"path": p, "size": s} for p, s in self.temps],
                "freed_bytes": self.freed, "warnings": self.warnings}


def check_keep_days(keep_days: float) -> float:
    if not keep_days >= 0 or keep_days > 100_000:  # also refuses NaN
        raise GitmodelError(f"--keep-days {keep_days} is not a number of days from 0 up; "
                            f"try `gitmodel gc --keep-days {int(DEFAULT_KEEP_DAYS)}`")
    return keep_days


def _refuse_if_unsafe(r: Reachable) -> None:
    if r.newer_format:
        where, version = next(iter(r.newer_format.items()))
        raise GcRefusedError(f"nothing deleted: {where} is a pointer in format {version}, newer than this "
                             f"gitmodel reads ({ptr.VERSION}), so what it references is unknown; upgrade gitmodel")
    if r.unknown_manifests:
        moid, where = next(iter(r.unknown_manifests.items()))
        more = f" (and {len(r.unknown_manifests) - 1} more)" if len(r.unknown_manifests) > 1 else ""
        raise GcRefusedError(
            f"nothing deleted: the manifest {moid} of the folder in {where}{more} is not in the cache or is "
            f"corrupt, so which objects it lists is unknown; run `gitmodel fetch --all-branches --all-tags` "
            f"(and `gitmodel fsck`), then `gitmodel gc` again")


def _refuse_if_shallow(repo: Repo) -> None:
    out = gitops.run(["rev-parse", "--is-shallow-repository"], cwd=repo.root).stdout.decode().strip()
    if out == "true":
        raise GcRefusedError("nothing deleted: this clone is shallow, so gc cannot see the history that may "
                             "need its objects; run `git fetch --unshallow` first")


def gc(repo: Repo, *, dry_run: bool = False, keep_days: float = DEFAULT_KEEP_DAYS, now: float | None = None,
       progress: Progress | None = None) -> GcReport:
    """Delete unreachable cache objects older than `keep_days`, and our stale
    temp files.  `dry_run` reports the same and changes nothing.

    A pack goes as a whole when none of its objects is reachable, is
    rewritten with only the reachable ones when they are less than half its
    bytes, and is kept whole otherwise (rewriting it would copy more than it
    frees).  Its objects' age is the pack's mtime."""
    check_keep_days(keep_days)
    repo.require_init()
    report = GcReport(dry_run, keep_days, repo.cache.root)
    with repo.lock:
        _refuse_if_shallow(repo)
        r, work_temps = reachable(repo)
        report.warnings = r.warnings
        report.reachable = len(r.oids)
        _refuse_if_unsafe(r)
        faults.point("gc:enumerated")
        cutoff = (time.time() if now is None else now) - keep_days * DAY
        inv = scan_cache(repo.cache)
        for path in work_temps:  # leftovers of an interrupted checkout
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                continue
            if not stat.S_ISDIR(st.st_mode):
                inv.temps.append(Stored("", path, st.st_size, st.st_mtime))
        plan = _plan(inv, r, cutoff, report)
        stale = [t for t in inv.temps if t.mtime <= cutoff]
        report.temps = [(t.path, t.size) for t in stale]
        if dry_run or not (plan.doomed or plan.dead or plan.rewrite or stale):
            return report
        _delete(repo, plan, report, progress)
        for t in stale:
            _unlink(t.path)
        faults.point("gc:done")
    return report


@dataclass
class _Plan:
    doomed: list[Stored] = field(default_factory=list)  # loose files to delete
    dead: list[StoredPack] = field(default_factory=list)  # packs to delete
    rewrite: list[tuple[StoredPack, list[tuple[str, int, int]]]] = field(default_factory=list)  # + what stays


def _plan(inv: Inventory, r: Reachable, cutoff: float, report: GcReport) -> _Plan:
    """Decide what goes, filling in the report (a dry run stops here)."""
    plan = _Plan()
    packed_kept: dict[str, StoredPack] = {}  # reachable oid -> a pack that keeps it
    for p in inv.packs:
        if p.damaged:
            report.warnings.append(f"{p.damaged} (its objects were left alone)")
            continue
        live = [e for e in p.entries if e[0] in r.oids]
        dead = [(o, size) for o, _, size in p.entries if o not in r.oids]
        report.kept += len(live)
        if p.mtime > cutoff:
            report.kept_young += len(dead)
        elif not live:
            plan.dead.append(p)
            report.deleted += dead
            report.packs_deleted.append(p.packid)
        elif 2 * sum(size for _, _, size in live) < p.size and not _bad_in(p, live, report):
            plan.rewrite.append((p, live))
            report.deleted += dead
            report.packs_rewritten.append((p.packid, ""))
        else:
            report.kept_in_packs += len(dead)
        if live:
            packed_kept.update((o, p) for o, _, _ in live)
    dupes: list[Stored] = []
    for s in inv.loose:
        if s.oid not in r.oids:
            if s.mtime > cutoff:
                report.kept_young += 1
            else:
                plan.doomed.append(s)
                report.deleted.append((s.oid, s.size))
        elif s.oid in packed_kept and s.oid not in r.linked and s.mtime <= cutoff:
            dupes.append(s)  # a workspace symlink may point at a loose copy: those stay
        else:
            report.kept += 1
    # A loose copy goes only when its packed copy is sound: it may be the good one.
    for s in dupes:
        p = packed_kept[s.oid]
        if not packmod.verify(p.pack, [e for e in p.entries if e[0] == s.oid]):
            plan.doomed.append(s)
            report.duplicates.append((s.oid, s.size))
        else:
            report.kept += 1
    return plan


def _bad_in(p: StoredPack, live: list[tuple[str, int, int]], report: GcReport) -> bool:
    """A reachable object that is corrupt in its pack stops the pack's
    rewrite (copying it would carry the damage to a new pack)."""
    bad = packmod.verify(p.pack, live)
    if bad:
        report.warnings.append(f"pack {p.pack} holds {len(bad)} corrupt object(s) ({bad[0]}...); it was kept "
                               f"whole: run `gitmodel fsck`")
    return bool(bad)


def _delete(repo: Repo, plan: _Plan, report: GcReport, progress: Progress | None) -> None:
    if plan.doomed or plan.dead or plan.rewrite:
        _check_writable(repo.cache, packs=bool(plan.dead or plan.rewrite))
        # Before the first deletion: "every object of this folder is in
        # the cache" marks could otherwise outlive what they vouch for.
        repo.statcache.clear_complete()
    faults.point("gc:before-delete")
    if progress:
        progress.add_total(len(report.deleted) + len(report.duplicates),
                           sum(s for _, s in report.deleted + report.duplicates))
    for s in plan.doomed:
        _unlink(s.path)
        faults.point("gc:object-deleted")
        if progress:
            progress.advance(1, s.size)
    for i, (p, live) in enumerate(plan.rewrite):
        new = _rewrite_pack(repo.cache, p, live)
        report.packs_rewritten[i] = (p.packid, new)
        if progress:
            progress.advance(len(p.entries) - len(live), sum(e[2] for e in p.entries) - sum(e[2] for e in live))
    for p in plan.dead:
        _delete_pack(p)
        faults.point("gc:pack-deleted")
        if progress:
            progress.advance(len(p.entries), sum(size for _, _, size in p.entries))
    repo.cache.reload_packs()


def _rewrite_pack(cache: Cache, p: StoredPack, live: list[tuple[str, int, int]]) -> str:
    """A new pack with only `live` (published: pack, then index), then the
    old one deleted.  A crash between leaves both: duplicates, no loss."""
    writer = packmod.PackWriter(cache.packs)
    try:
        fd = os.open(p.pack, os.O_RDONLY)
        try:
            for o, off, size in live:
                writer.write(o, os.pread(fd, size, off))
        finally:
            os.close(fd)
    except BaseException:
        writer.abort()
        raise
    new = writer.finish() or ""
    faults.point("gc:pack-written")
    if new != p.packid:
        _delete_pack(p)
    return new


def _delete_pack(p: StoredPack) -> None:
    """The index first: without it the pack is invisible, and a crash leaves
    only a leftover .pack that the next gc removes."""
    _unlink(p.idx)
    fsutil.fsync_dir(os.path.dirname(p.idx))
    _unlink(p.pack)


def _check_writable(cache: Cache, packs: bool = False) -> None:
    for base in [os.path.join(cache.objects, oidmod.ALGO)] + ([cache.packs] if packs else []):
        if not os.access(base, os.W_OK | os.X_OK):
            raise GitmodelError(f"the cache folder {base} is not writable, so gc cannot delete anything; "
                                f"fix its permissions (chmod -R u+w) and run `gitmodel gc` again")


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass  # somebody else (another gc) was first


# -- remote gc -------------------------------------------------------------------------

LOCK_NAME = "locks/gc.json"
LAST_GC_NAME = GC_MARKER  # pushes read it and drop their record of what the remote holds
LOCK_TTL = 30 * 60.0  # seconds; renewed while gc runs, so only a dead holder's lock expires
LOCK_RENEW = 5 * 60.0


def unfetched_git_refs(repo: Repo) -> tuple[list[str], list[str]]:
    """Compare every git remote's refs (`git ls-remote`) with what this clone
    has: (refs it has not fetched, extra commits to count as roots).

    A branch must match its remote-tracking ref and a tag the local tag;
    any other ref (pull requests, notes) must name a commit we have, which
    then counts as reachable."""
    import pygit2

    g = pygit2.Repository(repo.root)
    stale: list[str] = []
    roots: list[str] = []
    env_remotes = gitops.run(["remote"], cwd=repo.root).stdout.decode().split()
    for name in env_remotes:
        proc = _ls_remote(repo, name)
        for line in proc.splitlines():
            sha, _, ref = line.partition("\t")
            if not ref or ref == "HEAD" or ref.endswith("^{}"):
                continue
            if ref.startswith("refs/heads/"):
                local = f"refs/remotes/{name}/{ref[len('refs/heads/'):]}"
            elif ref.startswith("refs/tags/"):
                local = ref
            else:
                if sha in g:
                    roots.append(sha)
                else:
                    stale.append(f"{name} {ref}")
                continue
            try:
                have = str(g.references[local].target)
            except KeyError:
                have = ""
            if have != sha:
                stale.append(f"{name} {ref}")
    return stale, roots


def _ls_remote(repo: Repo, name: str) -> str:
    import subprocess

    env = {**gitops.env_without_git_vars(), "GIT_TERMINAL_PROMPT": "0"}
    try:
        proc = subprocess.run(["git", "ls-remote", name], cwd=repo.root, capture_output=True, env=env,
                              timeout=120)
    except subprocess.TimeoutExpired:
        raise GcRefusedError(f"nothing deleted: the git remote '{name}' did not answer `git ls-remote`; "
                             f"check the network and run `gitmodel gc -r` again") from None
    if proc.returncode != 0:
        lines = proc.stderr.decode(errors="replace").strip().splitlines()
        from .remote import redact

        raise GcRefusedError(f"nothing deleted: cannot list the refs of the git remote '{name}' "
                             f"({redact(lines[-1]) if lines else 'exit ' + str(proc.returncode)}); "
                             f"remote gc must see every ref that may name its objects")
    return proc.stdout.decode(errors="surrogateescape")


class RemoteLock:
    """A lock object on the remote (`locks/gc.json`): who holds it, since
    when, until when.  Taken with an exclusive create where the store offers
    one; a lock past its expiry, or held by a process on this host that no
    longer exists, is taken over."""

    def __init__(self, remote: Remote, command: str = "gitmodel gc") -> None:
        import socket
        import uuid

        self.remote = remote
        self.token = uuid.uuid4().hex
        self.info = {"holder": command, "host": socket.gethostname(), "pid": os.getpid(), "token": self.token}
        self.renewed = 0.0

    def _body(self) -> bytes:
        import json

        now = time.time()
        self.renewed = now
        return json.dumps({**self.info, "created": now, "expires": now + LOCK_TTL}).encode()

    def _current(self) -> dict[str, Any] | None:
        import json

        raw = self.remote.read_meta(LOCK_NAME)
        if raw is None:
            return None
        try:
            data = json.loads(raw)
            return data if isinstance(data, dict) else {}
        except ValueError:
            return {}  # torn or foreign: treated as expired

    def _stale(self, cur: dict[str, Any]) -> bool:
        import socket

        try:
            if float(cur.get("expires", 0)) < time.time():
                return True
        except (TypeError, ValueError):
            return True
        if cur.get("host") == socket.gethostname() and isinstance(cur.get("pid"), int):
            try:
                os.kill(cur["pid"], 0)
            except ProcessLookupError:
                return True
            except PermissionError:
                return False
        return False

    def acquire(self) -> None:
        if self.remote.write_meta(LOCK_NAME, self._body(), exclusive=True):
            return self._confirm()
        cur = self._current()
        if cur is not None and not self._stale(cur):
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(float(cur.get("expires", 0))))
            raise GitmodelError(
                f"{self.remote.where} is locked by {cur.get('holder', '?')} (pid {cur.get('pid', '?')} on "
                f"{cur.get('host', '?')}) until {when}; wait for it to finish, then run the command again")
        # Expired or dead: replace it, then make sure we won any race for it.
        self.remote.delete_meta(LOCK_NAME)
        if not self.remote.write_meta(LOCK_NAME, self._body(), exclusive=True):
            raise GitmodelError(f"{self.remote.where}: another gitmodel gc took the lock first; "
                                f"wait for it to finish, then run the command again")
        self._confirm()

    def _confirm(self) -> None:
        cur = self._current()
        if not cur or cur.get("token") != self.token:
            raise GitmodelError(f"{self.remote.where}: another gitmodel gc took the lock at the same time; "
                                f"wait for it to finish, then run the command again")

    def renew(self) -> None:
        if time.time() - self.renewed > LOCK_RENEW:
            self._confirm()
            self.remote.write_meta(LOCK_NAME, self._body())

    def release(self) -> None:
        cur = self._current()
        if cur is not None and cur.get("token") == self.token:
            self.remote.delete_meta(LOCK_NAME)


def gc_remote(repo: Repo, remote: str | None, *, dry_run: bool = False, keep_days: float = DEFAULT_KEEP_DAYS,
              now: float | None = None, progress: Progress | None = None, jobs: int | None = None) -> GcReport:
    """Delete remote objects that nothing this clone knows of can reach.

    Refused unless this clone has fetched every ref of every git remote
    (others' pushed work names objects too); objects younger than the grace
    period are kept (others' work not yet pushed to git).  Holds a lock on
    the remote, and the local record of what the remote holds is dropped
    before the first deletion."""
    from .remote import from_repo
    from .transfer import KnownObjects

    check_keep_days(keep_days)
    repo.require_init()
    _refuse_if_shallow(repo)
    stale, roots = unfetched_git_refs(repo)
    if stale:
        name = stale[0].split(" ", 1)[0]
        more = f" and {len(stale) - 1} more" if len(stale) > 1 else ""
        raise GcRefusedError(f"nothing deleted: this clone's refs do not match the git remote '{name}' "
                             f"({stale[0].split(' ', 1)[1]}{more}); run `git fetch --all --tags` first")
    r = from_repo(repo, remote)
    report = GcReport(dry_run, keep_days, r.where)
    lock = RemoteLock(r)
    try:
        if not dry_run:
            lock.acquire()
        try:
            with repo.lock:
                reach, _ = reachable(repo, roots)
            report.warnings = reach.warnings
            if not dry_run and not list(gitops.run(["remote"], cwd=repo.root).stdout.split()):
                report.warnings.append("this repository has no git remote: only its own refs were considered")
            _expand_from_remote(r, reach)
            report.reachable = len(reach.oids)
            _refuse_if_unsafe(reach)
            faults.point("gc:enumerated")
            cutoff = (time.time() if now is None else now) - keep_days * DAY
            doomed: list[tuple[str, int]] = []
            for oid, size, mtime in r.list_stats():
                if oid in reach.oids:
                    report.kept += 1
                elif mtime > cutoff:
                    report.kept_young += 1
                else:
                    doomed.append((oid, size))
            report.deleted = list(doomed)  # dead packs add their objects to the report, not to this list
            dead_packs = _dead_packs(r, reach, cutoff, report, os.path.join(repo.cache.root, "remotes", r.name))
            if dry_run or not (doomed or dead_packs):
                return report
            # Before the first deletion: the record says "on the remote" and
            # push trusts it to skip uploads.
            KnownObjects(repo.cache.root, r.name, r.identity).forget()
            faults.point("gc:before-delete")
            if progress:
                progress.add_total(len(doomed), sum(s for _, s in doomed))
            for oid, size in doomed:
                r.delete(oid)
                faults.point("gc:object-deleted")
                lock.renew()
                if progress:
                    progress.advance(1, size)
            for packid in dead_packs:
                r.delete_pack(packid)  # index first: its objects stop counting before the bytes go
                faults.point("gc:pack-deleted")
                lock.renew()
            # When the last deletion happened: another clone's record of what
            # the remote holds is stale if it is older than this.
            import json

            r.write_meta(LAST_GC_NAME, json.dumps({"time": time.time(), "deleted": len(doomed)}).encode())
        finally:
            if not dry_run:
                lock.release()
    finally:
        r.close()
    return report


def _dead_packs(r: Remote, reach: Reachable, cutoff: float, report: GcReport, record_dir: str) -> list[str]:
    """Remote packs to delete: those none of whose objects is reachable, and
    whose files are older than the grace period.  A pack with one reachable
    object is kept whole (a pack is never rewritten in place).  A pack left
    without its index by a killed upload is a temp file (deleted when as old);
    a pack whose index is damaged is kept, with a warning."""
    from .errors import CorruptObjectError, ObjectMissingError
    from .transfer import RemotePacks

    files: dict[str, dict[str, tuple[int, float]]] = {}
    for packid, ext, size, mtime in r.list_pack_stats():
        files.setdefault(packid, {})[ext] = (size, mtime)
    packs = RemotePacks(r, os.path.join(record_dir, "packs"))
    dead: list[str] = []
    for packid, have in sorted(files.items()):
        young = max(m for _, m in have.values()) > cutoff
        if "idx" not in have:
            if not young:
                dead.append(packid)
                report.temps.append((f"packs/pack-{packid}.pack", have["pack"][0]))
            continue
        try:
            entries = packs.index(packid)
        except ObjectMissingError:
            continue  # deleted meanwhile
        except CorruptObjectError as e:
            report.warnings.append(f"{e} (kept)")
            continue
        if any(o in reach.oids for o, _, _ in entries):
            report.kept += len(entries)
        elif young:
            report.kept_young += len(entries)
        else:
            dead.append(packid)
            report.deleted += [(o, n) for o, _, n in entries]
    return dead


def _expand_from_remote(r: Remote, reach: Reachable) -> None:
    """Manifests the cache lacks are read (verified, not stored) from the
    remote itself; one it lacks too stays unknown and stops gc."""
    for moid in list(reach.unknown_manifests):
        sink = _Bytes()
        try:
            r.get(moid, sink)
        except GitmodelError:
            continue
        data = b"".join(sink.parts)
        if oidmod.of_bytes(data) != moid:
            continue
        del reach.unknown_manifests[moid]
        if data.startswith(_MANIFEST_MAGIC):
            reach.manifests += 1
            reach.oids.update(t.decode() for t in _OID_TOKEN.findall(data))


class _Bytes:
    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data: bytes | memoryview) -> None:
        self.parts.append(bytes(data))
