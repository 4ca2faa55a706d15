"""Adding a tracked folder one subfolder at a time (what `gitmodel add DIR` runs).

The folder was scanned first (walk.scan: every folder's signature, no
object per file).  Then, the deepest folders first, each subfolder is
either

- unchanged since a tree was recorded for it: its row in the stat cache
  (folder -> tree, signature) matches and the tree is marked complete (all
  its objects in the cache; gc and fsck clear the marks), so its tree is
  reused and nothing in it is read; or
- listed again and stored: its files through the stat cache (hashed where
  it misses), into the one pack of the add (Cache.batch), then its tree.

So memory follows the largest folder, not the file count, and a re-add with
one changed file reads the trees and hashes the file on its way only.

Write order, as for everything: the objects and trees (the batch publishes
the pack, then the trees, durably) before the marks and rows that vouch for
them, before the pointer (track.py).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from gitmodel.errors import GitmodelError
from gitmodel.platform import faults
from gitmodel.progress import Progress
from gitmodel.repo import Repo
from gitmodel.store import manifest
from gitmodel.store import pointer as ptr
from gitmodel.store.pack import PACK_MIN_COUNT
from gitmodel.workspace.status import Trees
from gitmodel.workspace.targets import Target
from gitmodel.workspace.walk import Folder, list_files


@dataclass
class Stored:
    oid: str  # the root tree
    hashed: int  # files read (stat-cache misses)


def add_folder(repo: Repo, rel: str, top: Folder, old: ptr.Pointer | None, progress: Progress | None) -> Stored:
    cache, sc = repo.cache, repo.statcache
    git_dirs = (repo.git_dir, repo.common_dir)
    rows = sc.dirs_under(top.path)
    previous = _Previous(repo, rel, old)
    made: list[tuple[str, str, str | None]] = []  # (folder, tree, signature) rows, recorded once durable
    hashed = 0

    def reused(folder: Folder) -> str | None:
        row = rows.get(folder.path)
        if folder.sig is None or row is None or row[1] != folder.sig or not sc.is_complete(row[0]):
            return None
        return row[0]

    def visit(folder: Folder, prefix: str) -> str:
        nonlocal hashed
        oid = reused(folder)
        if oid is not None:
            if progress:
                progress.advance(folder.files, folder.size)
            return oid
        subtrees = [manifest.Subtree(name, visit(child, f"{prefix}{name}/"), child.size, child.files)
                    for name, child in sorted(folder.children.items()) if child.files]
        files = list_files(repo.root, folder.path, f"{rel}/{prefix}".rstrip("/"), git_dirs)
        names = sorted(files)
        stats = [files[n] for n in names]
        oids = sc.lookup_many(stats)
        gone = set(cache.missing({o for o in oids if o is not None}))
        need = [i for i, o in enumerate(oids) if o is None or o in gone]
        if progress:
            progress.advance(len(names) - len(need), sum(st.st_size for st in stats)
                             - sum(stats[i].st_size for i in need))
        if need:
            bases = previous.of(prefix, [(names[i], stats[i].st_size) for i in need])
            stored = cache.add_many([os.path.join(folder.path, names[i]) for i in need],
                                    [stats[i].st_size for i in need], bases)
            for i, o in zip(need, stored):
                oids[i] = o
            sc.record_many((stats[i], oids[i] or "") for i in need)
            hashed += len(need)
            if progress:
                progress.advance(len(need), sum(stats[i].st_size for i in need))
        entries = [manifest.Entry(n, o or "", st.st_size, bool(st.st_mode & 0o100))
                   for n, o, st in zip(names, oids, stats)]
        oid = cache.add_tree(manifest.dumps_tree(entries, subtrees))
        made.append((folder.path, oid, folder.sig))
        return oid

    with cache.batch(pack=top.files >= PACK_MIN_COUNT):
        root = visit(top, "")
    faults.point("add:objects-stored")
    # Durable now: the marks that let the next add reuse these trees unread.
    sc.set_complete_many(oid for _, oid, _ in made)
    sc.set_dirs_clean(made)
    return Stored(root, hashed)


class _Previous:
    """The folder's previous version, asked per subfolder for the oids of
    its large files (their chunks are reused and their pieces are delta
    bases: Cache.add_large).  Read only when a subfolder has a file at or
    above the chunk threshold."""

    def __init__(self, repo: Repo, rel: str, old: ptr.Pointer | None) -> None:
        self.repo = repo
        self.rel = rel
        self.old = old if old is not None and old.is_dir else None
        self._trees: Trees | None = None

    def of(self, prefix: str, files: list[tuple[str, int]]) -> list[str | None] | None:
        threshold = self.repo.cache.chunk_threshold
        if self.old is None or threshold is None or all(n < threshold for _, n in files):
            return None  # (the common case, a folder of small files, reads nothing)
        try:
            if self._trees is None:
                self._trees = Trees(self.repo, Target(self.rel, self.old))
            trees = self._trees
            oid = trees.root
            for part in [p for p in prefix.split("/") if p]:
                sub = next((t for t in trees.read(oid)[1] if t.name == part), None)
                if sub is None:
                    return None
                oid = sub.oid
            old = {e.path: e.oid for e in trees.read(oid)[0]}
        except GitmodelError:
            return None  # absent or damaged: the files are stored without it
        return [old.get(name) for name, _ in files]
