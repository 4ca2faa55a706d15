"""What gc does to the cache's files once it knows what is reachable:
decide what goes (loose objects, packs deleted whole or rewritten with only
their reachable objects, loose copies of packed objects), then delete it.

gitmodel.gc computes reachability and the inventory and calls `plan` and
`delete`; this module only reads their types (no import back at run time).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from gitmodel.errors import GitmodelError
from gitmodel.platform import atomic, faults
from gitmodel.store import oid as oidmod
from gitmodel.store import pack as packmod

if TYPE_CHECKING:
    from gitmodel.maintenance.gc import GcReport, Reachable
    from gitmodel.progress import Progress
    from gitmodel.repo import Repo
    from gitmodel.store.cache import Cache
    from gitmodel.store.inventory import Inventory, Stored, StoredPack


@dataclass
class _Plan:
    lists: list[Stored] = field(default_factory=list)  # chunk lists to delete (first)
    doomed: list[Stored] = field(default_factory=list)  # loose files to delete
    dead: list[StoredPack] = field(default_factory=list)  # packs to delete
    rewrite: list[tuple[StoredPack, list[tuple[str, int, int]]]] = field(default_factory=list)  # + what stays


def plan(inv: Inventory, r: Reachable, cutoff: float, report: GcReport) -> _Plan:
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


def delete(repo: Repo, plan: _Plan, report: GcReport, progress: Progress | None) -> None:
    if plan.lists or plan.doomed or plan.dead or plan.rewrite:
        _check_writable(repo.cache, packs=bool(plan.dead or plan.rewrite), lists=bool(plan.lists))
        # Before the first deletion: "every object of this folder is in
        # the cache" marks could otherwise outlive what they vouch for.
        repo.statcache.clear_complete()
    faults.point("gc:before-delete")
    if progress:
        progress.add_total(len(report.deleted) + len(report.duplicates),
                           sum(s for _, s in report.deleted + report.duplicates))
    # Chunk lists before any object, durably: a crash after this leaves
    # chunks no list names (deleted by the next gc), never a list that
    # names a deleted chunk.
    for s in plan.lists:
        unlink(s.path)
        faults.point("gc:list-deleted")
        if progress:
            progress.advance(1, s.size)
    for folder in sorted({os.path.dirname(s.path) for s in plan.lists}):
        atomic.fsync_dir(folder)
    for s in plan.doomed:
        unlink(s.path)
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
    new = packmod.repack(cache.packs, p.pack, live) or ""
    faults.point("gc:pack-written")
    if new != p.packid:
        _delete_pack(p)
    return new


def _delete_pack(p: StoredPack) -> None:
    """The index first: without it the pack is invisible, and a crash leaves
    only a leftover .pack that the next gc removes."""
    unlink(p.idx)
    atomic.fsync_dir(os.path.dirname(p.idx))
    unlink(p.pack)


def _check_writable(cache: Cache, packs: bool = False, lists: bool = False) -> None:
    for base in [os.path.join(cache.objects, oidmod.ALGO)] + ([cache.packs] if packs else []) + \
            ([os.path.join(cache.chunks.folder, oidmod.ALGO)] if lists else []):
        if not os.access(base, os.W_OK | os.X_OK):
            raise GitmodelError(f"the cache folder {base} is not writable, so gc cannot delete anything",
                                hint="fix its permissions (chmod -R u+w) and run `gitmodel gc` again")


def unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass  # somebody else (another gc) was first

