"""Garbage collection: delete cache objects (or remote objects) that nothing
can reach any more.

"Reachable" is deliberately wide, because a wrongly deleted object is data
lost and a wrongly kept one is only disk space:

- the pointer files in the work tree of every worktree (committed or not,
  git-ignored or not: `add --no-stage` may write one into an ignored folder);
- the git index of every worktree (every stage, so a conflicted merge keeps
  both sides);
- every commit reachable from any ref (branches, tags, remote-tracking refs,
  refs/stash, notes, ...), from any reflog entry (so an amended or reset
  commit and every stash entry count) and from every worktree's HEAD, across
  their whole history;
- the objects that workspace symlinks (link mode `symlink`) point at;
- every oid an annotated tag's message names (a model version's snapshot);
- for a directory, the manifest and every object it lists;
- for a file stored as chunks, every object its chunk list names (its
  chunks and their delta bases), and so for every chunk list gc keeps: one
  younger than the grace period keeps its chunks even when nothing names
  its file yet, so a chunk list in the cache always names chunks that exist.
  A list is read as manifests are, every `xxh128:` token in it (a superset
  that a damaged list cannot shrink); one that cannot be read stops gc.
  Unreachable, old chunk lists are deleted before any object, so a crash
  between leaves only unreachable chunks, never a list without its chunks.

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

This module owns reachability and `gc`; what the cache holds is
gitmodel.store.inventory (fsck reads it too), deciding and deleting the
cache's files (packs included) gitmodel.maintenance.gc_packs, remote gc
gitmodel.maintenance.gc_remote.
"""

from __future__ import annotations

import os
import re
import stat
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from gitmodel.errors import CorruptObjectError, GitmodelError, ObjectMissingError
from gitmodel.git import revs
from gitmodel.git import runner as gitops
from gitmodel.maintenance import gc_packs as gcpacks
from gitmodel.platform import atomic, faults
from gitmodel.platform.plain import read_plain
from gitmodel.progress import Progress
from gitmodel.repo import Repo
from gitmodel.store import manifest
from gitmodel.store import oid as oidmod
from gitmodel.store import pointer as ptr
from gitmodel.store.cache import Cache
from gitmodel.store.inventory import Stored, scan_cache
from gitmodel.store.inventory import scandir as _scandir

if TYPE_CHECKING:
    import pygit2

DEFAULT_KEEP_DAYS = 14.0
DAY = 86400.0
OID_TOKEN = re.compile(rb"xxh128:[0-9a-f]{32}")
_KIND_DIR = re.compile(rb"(?m)^kind dir[ \t\r]*$")
_VERSION = re.compile(rb"(?m)^version (\S+)")
NULL_SHA = "0" * 40
H = TypeVar("H")  # how a store finds one of its chunk lists again (expand_lists)


class GcRefusedError(GitmodelError):
    """gc found something that makes deleting unsafe; nothing was deleted."""


# -- what is reachable -----------------------------------------------------------

@dataclass
class Reachable:
    oids: set[str] = field(default_factory=set)
    pointers: int = 0  # pointer blobs and files read
    manifests: int = 0  # directory manifests expanded
    # Manifests named by a reachable directory pointer that the cache cannot
    # vouch for (absent or corrupt): oid -> where it was named.
    unknown_manifests: dict[str, str] = field(default_factory=dict)
    # Pointers in a format newer than ours: where -> version.
    newer_format: dict[str, str] = field(default_factory=dict)
    # Objects that workspace symlinks point at (their loose copy must stay
    # even when a pack holds them too).  Also in `oids`.
    linked: set[str] = field(default_factory=set)
    lists: int = 0  # chunk lists expanded
    # Chunk lists gc must keep but cannot read: oid -> why.
    unknown_lists: dict[str, str] = field(default_factory=dict)
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
        tokens = [t.decode() for t in OID_TOKEN.findall(data)]
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
        for t in OID_TOKEN.findall(data):
            oid = t.decode()
            self.result.oids.add(oid)
            self.maybe_dirs.add(oid)

    def expand(self) -> Reachable:
        """Add every object each reachable manifest lists."""
        r = self.result
        for moid in self.maybe_dirs - set(self.dirs):
            if self.cache.has(moid):
                self.dirs[moid] = "a version tag"
        todo = list(self.dirs.items())
        expanded: set[str] = set()
        while todo:
            moid, where = todo.pop()
            if moid in expanded:
                continue
            expanded.add(moid)
            # Manifests are stored loose, but one may reach a pack (a remote's).
            try:
                data = self.cache.read_bytes(moid, verify=False)
            except (ObjectMissingError, CorruptObjectError):
                r.unknown_manifests[moid] = where
                continue
            if oidmod.of_bytes(data) != moid:
                r.unknown_manifests[moid] = where  # corrupt: what it really lists is unknown
                continue
            if not manifest.is_manifest(data):
                continue  # a file object named by a garbled pointer: nothing to expand
            r.manifests += 1
            # Every address in it, parsed or not: a superset of its entries;
            # the trees of its subfolders are expanded in turn.
            r.oids.update(t.decode() for t in OID_TOKEN.findall(data))
            todo += [(t.decode(), where) for t in manifest.TREE_TOKEN.findall(data)]
        return r


def expand_lists(r: Reachable, lists: dict[str, tuple[float, H]], cutoff: float | None,
                 read: Callable[[str, H], bytes]) -> set[str]:
    """Add to `r.oids` every object the chunk lists gc keeps name, and return
    the oids of those it may delete.  `lists`: oid -> (mtime, handle) of
    every chunk list the store holds; `read(oid, handle)` their bytes.  A
    list is kept when its file is reachable (also through another kept
    list: a chunk may itself be a chunked file) or when it is younger than
    `cutoff` (None: only reachability counts).  An unreadable kept list
    goes to `r.unknown_lists` (gc then refuses)."""
    kept: set[str] = set()
    todo = [o for o, (mtime, _) in lists.items() if o in r.oids or (cutoff is not None and mtime > cutoff)]
    while todo:
        oid = todo.pop()
        if oid in kept:
            continue
        kept.add(oid)
        r.oids.add(oid)
        try:
            data = read(oid, lists[oid][1])
        except (OSError, GitmodelError) as e:
            r.unknown_lists[oid] = getattr(e, "strerror", None) or str(e)
            continue
        r.lists += 1
        for t in OID_TOKEN.findall(data):
            o = t.decode()
            if o not in r.oids:
                r.oids.add(o)
                if o in lists:
                    todo.append(o)
    return set(lists) - kept


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
    """The head of a work-tree pointer file; None for anything but a regular
    file (a FIFO named `x.gm` would block an open, a symlink is never read
    through: git's index and history, read separately, hold what it names)."""
    try:
        return read_plain(path, ptr.MAX_POINTER_BYTES + 1)
    except OSError:  # missing, a symlink, or not a regular file (NotPlainError)
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
            elif entry.name.startswith(atomic.TMP_PREFIX):
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
    g = revs.git(repo)
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
        if not os.path.isdir(wt):
            continue  # a worktree whose folder was deleted: its HEAD still counts
        # Untracked pointers count whether git ignores them or not: `add
        # --no-stage` into an ignored folder writes a live pointer that only
        # the work tree holds.  No --exclude-standard, so one walk lists
        # tracked, untracked and ignored pointers alike (ignored folders are
        # walked too: ~35 ms for 20,000 files, cheap beside the history pass).
        listed = gitops.run(["ls-files", "-z", "--cached", "--others", "--deduplicate",
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
    # the artifact's and the data's oids.  The registry reads its tags; it
    # hands gc every annotated tag's message, of its grammar or not.
    from gitmodel.registry.state import tag_messages

    for message in tag_messages(g):
        col.mention(message.encode("utf-8", "surrogateescape"))
    for folder in folders:
        temps += [e.path for e in _scandir(folder) if e.name.startswith(atomic.TMP_PREFIX)]
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
    # Chunked files whose chunk list was deleted (also in `deleted`, with the list's size).
    lists_deleted: list[str] = field(default_factory=list)

    @property
    def freed(self) -> int:
        return sum(s for _, s in self.deleted) + sum(s for _, s in self.temps) + sum(s for _, s in self.duplicates)

    def as_dict(self) -> dict[str, Any]:
        return {"dry_run": self.dry_run, "keep_days": self.keep_days, "where": self.where,
                "reachable": self.reachable, "kept": self.kept, "kept_young": self.kept_young,
                "kept_in_packs": self.kept_in_packs,
                "deleted": [{"oid": o, "size": s} for o, s in self.deleted],
                "packs_deleted": self.packs_deleted, "lists_deleted": self.lists_deleted,
                "packs_rewritten": [{"old": o, "new": n} for o, n in self.packs_rewritten],
                "duplicates": [{"oid": o, "size": s} for o, s in self.duplicates],
                "temps": [{"path": p, "size": s} for p, s in self.temps],
                "freed_bytes": self.freed, "warnings": self.warnings}


def check_keep_days(keep_days: float) -> float:
    if not keep_days >= 0 or keep_days > 100_000:  # also refuses NaN
        raise GitmodelError(f"--keep-days {keep_days} is not a number of days from 0 up",
                            hint=f"try `gitmodel gc --keep-days {int(DEFAULT_KEEP_DAYS)}`")
    return keep_days


def refuse_if_unsafe(r: Reachable) -> None:
    if r.newer_format:
        where, version = next(iter(r.newer_format.items()))
        raise GcRefusedError(f"nothing deleted: {where} is a pointer in format {version}, newer than this "
                             f"gitmodel reads ({ptr.VERSION}), so what it references is unknown",
                             hint="upgrade gitmodel")
    if r.unknown_lists:
        loid, why = next(iter(r.unknown_lists.items()))
        more = f" (and {len(r.unknown_lists) - 1} more)" if len(r.unknown_lists) > 1 else ""
        raise GcRefusedError(
            f"nothing deleted: the chunk list of {loid}{more} cannot be read ({why}), so which chunks it "
            f"needs is unknown", hint="run `gitmodel fsck`, then `gitmodel gc` again")
    if r.unknown_manifests:
        moid, where = next(iter(r.unknown_manifests.items()))
        more = f" (and {len(r.unknown_manifests) - 1} more)" if len(r.unknown_manifests) > 1 else ""
        raise GcRefusedError(
            f"nothing deleted: the manifest {moid} of the folder in {where}{more} is not in the cache or is "
            f"corrupt, so which objects it lists is unknown",
            hint="run `gitmodel fetch --all-branches --all-tags` (and `gitmodel fsck`), then `gitmodel gc` again")


def refuse_if_shallow(repo: Repo) -> None:
    out = gitops.run(["rev-parse", "--is-shallow-repository"], cwd=repo.root).stdout.decode().strip()
    if out == "true":
        raise GcRefusedError("nothing deleted: this clone is shallow, so gc cannot see the history that may "
                             "need its objects", hint="run `git fetch --unshallow` first")


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
        refuse_if_shallow(repo)
        r, work_temps = reachable(repo)
        report.warnings = r.warnings
        cutoff = (time.time() if now is None else now) - keep_days * DAY
        inv = scan_cache(repo.cache)
        stored_lists = {s.oid: (s.mtime, s) for s in inv.lists}
        doomed_lists = expand_lists(r, stored_lists, cutoff, lambda _oid, s: read_plain(s.path))
        report.reachable = len(r.oids)
        refuse_if_unsafe(r)
        faults.point("gc:enumerated")
        for path in work_temps:  # leftovers of an interrupted checkout
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                continue
            if not stat.S_ISDIR(st.st_mode):
                inv.temps.append(Stored("", path, st.st_size, st.st_mtime))
        plan = gcpacks.plan(inv, r, cutoff, report)
        plan.lists = [stored_lists[o][1] for o in sorted(doomed_lists)]
        report.deleted[:0] = [(s.oid, s.size) for s in plan.lists]
        report.lists_deleted = [s.oid for s in plan.lists]
        stale = [t for t in inv.temps if t.mtime <= cutoff]
        report.temps = [(t.path, t.size) for t in stale]
        if dry_run or not (plan.lists or plan.doomed or plan.dead or plan.rewrite or stale):
            return report
        # Leftovers first: a pack a killed rewrite left without its index
        # has the id the rewrite below gives the same objects again, and
        # deleting it afterwards would take the new pack's bytes.
        for t in stale:
            gcpacks.unlink(t.path)
        gcpacks.delete(repo, plan, report, progress)
        faults.point("gc:done")
    return report

