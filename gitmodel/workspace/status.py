"""Comparing the workspace with the pointers: `gitmodel status`, and the
per-file "what does this hold now" that checkout, the hooks and the
registry ask before they replace anything."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field

from gitmodel.errors import ObjectMissingError, PointerError, refuse
from gitmodel.repo import Repo
from gitmodel.store import manifest
from gitmodel.store import oid as oidmod
from gitmodel.store.cache import DEFAULT_THREADS, hash_path
from gitmodel.store.pointer import Pointer
from gitmodel.workspace.targets import Target, read_manifest, resolve
from gitmodel.workspace.walk import Folder, list_files, scan, walk

UNCHANGED, MODIFIED, MISSING, NOT_IN_CACHE = "unchanged", "modified", "missing", "not in cache"


@dataclass
class Status:
    rel: str
    kind: str
    state: str  # UNCHANGED | MODIFIED | MISSING (from workspace) | NOT_IN_CACHE (not yet fetched)
    in_cache: bool
    size: int
    added: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        d: dict[str, object] = {"path": self.rel, "kind": self.kind, "state": self.state,
                                "in_cache": self.in_cache, "size": self.size}
        if self.kind == "dir":
            d.update(added=len(self.added), modified=len(self.modified), deleted=len(self.deleted))
        return d


def current_oids(repo: Repo, base: str, files: dict[str, os.stat_result]) -> dict[str, str]:
    """Content oids of workspace files: from the stat cache where it knows
    them, hashed (in parallel) where it does not; new hashes are recorded."""
    names = list(files)
    stats = [files[n] for n in names]
    known = repo.statcache.lookup_many(stats)
    miss = [i for i, o in enumerate(known) if o is None]
    if miss:
        paths = [os.path.join(base, names[i]) if names[i] else base for i in miss]
        if len(miss) > 64:
            from concurrent.futures import ThreadPoolExecutor  # imported when threads are used

            with ThreadPoolExecutor(DEFAULT_THREADS) as pool:
                hashed = list(pool.map(hash_path, paths, chunksize=64))
        else:
            hashed = [hash_path(p) for p in paths]
        for i, o in zip(miss, hashed):
            known[i] = o
        repo.statcache.record_many((stats[i], known[i] or "") for i in miss)
    return {n: o or "" for n, o in zip(names, known)}


def file_stat(path: str) -> os.stat_result | None:
    try:
        return os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None


def dir_diff(repo: Repo, target: Target, entries: list[manifest.Entry]
              ) -> tuple[list[str], list[str], list[str], dict[str, os.stat_result]]:
    absp = repo.abspath(target.rel)
    files = walk(repo.root, absp, target.rel) if os.path.isdir(absp) else {}
    want = {e.path: e for e in entries}
    present = {p: s for p, s in files.items() if p in want}
    oids = current_oids(repo, absp, present)
    modified = [p for p, o in oids.items()
                if o != want[p].oid or bool(present[p].st_mode & 0o100) != want[p].executable]
    deleted = [p for p in want if p not in files]
    added = [p for p in files if p not in want]
    return sorted(added), sorted(modified), sorted(deleted), files


def disagreement(p: Pointer, actual: int, files: int | None = None) -> str | None:
    """How a pointer's size (and, for a folder, file count) disagrees with
    what its object holds (`files`: the manifest's count), or None."""
    if actual == p.size and (files is None or files == p.files):
        return None
    if files is None:
        return f"says {p.size:,} bytes, but its object holds {actual:,}"
    return f"says {p.files or 0:,} files, {p.size:,} bytes, but its manifest lists {files:,} files, {actual:,} bytes"


def size_mismatch(target: Target, actual: int, files: int | None = None) -> PointerError | None:
    """The error for a pointer at odds with its object (`disagreement`), or
    None.  The oid decides what is written; a pointer that says otherwise was
    edited by hand or by someone else, and is said to be, not trusted quietly."""
    detail = disagreement(target.pointer, actual, files)
    if detail is None:
        return None
    return PointerError(f"{target.pointer_rel}: {detail} ({target.pointer.oid})",
                        hint=f"restore the pointer with `git checkout -- {target.pointer_rel}`")


def size_agrees(repo: Repo, target: Target) -> bool:
    """False, with the refusal recorded (errors.refuse: one line, exit 1),
    for a file pointer whose object is cached and of another size; what
    checkout asks before it writes a file (for folders, `read_manifest`
    holds the manifest to the pointer)."""
    if target.pointer.is_dir:
        return True
    size = repo.cache.size_of(target.pointer.oid)
    problem = size_mismatch(target, size) if size is not None else None
    if problem is not None:
        refuse(problem)
    return problem is None


def status_of(repo: Repo, target: Target) -> Status:
    """The target's state; a pointer whose size disagrees with its cached
    object raises PointerError (`size_mismatch`)."""
    p = target.pointer
    absp = repo.abspath(target.rel)
    cache = repo.cache
    if not p.is_dir:
        size = cache.size_of(p.oid)
        in_cache = size is not None
        problem = size_mismatch(target, size) if size is not None else None
        if problem is not None:
            raise problem
        st = file_stat(absp)
        if st is None:
            return Status(target.rel, "file", MISSING if in_cache else NOT_IN_CACHE, in_cache, p.size)
        if not stat.S_ISREG(st.st_mode):
            return Status(target.rel, "file", MODIFIED, in_cache, p.size)
        cur = current_oids(repo, absp, {"": st})[""]
        return Status(target.rel, "file", UNCHANGED if cur == p.oid else MODIFIED, in_cache, p.size)
    return _dir_status(repo, target)


def _dir_status(repo: Repo, target: Target) -> Status:
    """A folder's state, compared one folder at a time against its trees:
    a subfolder whose signature matches the row recorded for its tree is
    skipped unread, so memory follows the largest folder and one changed
    file costs the trees on its way, not the whole manifest."""
    p = target.pointer
    absp = repo.abspath(target.rel)
    cache, sc = repo.cache, repo.statcache
    top = scan(repo.root, absp, target.rel, (repo.git_dir, repo.common_dir)) if os.path.isdir(absp) else None
    # The completeness mark first: it is only set after the manifest was read
    # from the cache (and gc and fsck clear the marks), so it also answers
    # "is the manifest here" without cache.has, which may load every pack index.
    if top is not None and sc.is_complete(p.oid) and sc.dir_is_clean(absp, p.oid, top.sig):
        # Clean: the folder holds exactly the manifest's files, so their
        # count and sizes are the manifest's, checked against this pointer
        # (the marks are the manifest's, and another pointer may name it).
        problem = size_mismatch(target, top.size, top.files)
        if problem is not None:
            raise problem
        return Status(target.rel, "dir", UNCHANGED, True, p.size)
    if not cache.has(p.oid):
        return Status(target.rel, "dir", NOT_IN_CACHE, False, p.size)
    try:
        trees = Trees(repo, target)
        in_cache = trees.complete()
    except ObjectMissingError:  # a tree below the root is not here (yet)
        return Status(target.rel, "dir", NOT_IN_CACHE, False, p.size)
    st = Status(target.rel, "dir", UNCHANGED, in_cache, p.size)
    if top is None:
        st.deleted = [e.path for e in trees.files(trees.root)]
        st.state = MISSING if in_cache else NOT_IN_CACHE
        return st
    _compare(repo, trees, trees.root, top, "", st, target.rel)
    if st.added or st.modified or st.deleted:
        st.state = MODIFIED
        if not in_cache and not st.added and not st.modified:
            st.state = NOT_IN_CACHE  # only deletions, and the cache cannot restore them yet
    else:
        sc.set_dir_clean(absp, p.oid, top.sig)
    for names in (st.added, st.modified, st.deleted):
        names.sort()
    return st


def _compare(repo: Repo, trees: Trees, oid: str, folder: Folder, prefix: str, st: Status, shown: str) -> None:
    """Add to `st` what differs between the folder and the tree `oid`."""
    sc = repo.statcache
    if prefix and sc.dir_is_clean(folder.path, oid, folder.sig):
        return
    own, subtrees = trees.read(oid, prefix)
    files = list_files(repo.root, folder.path, f"{shown}/{prefix}".rstrip("/"), (repo.git_dir, repo.common_dir))
    want = {e.path: e for e in own}
    present = {n: s for n, s in files.items() if n in want}
    before = len(st.added) + len(st.modified) + len(st.deleted)
    for name, cur in current_oids(repo, folder.path, present).items():
        e = want[name]
        if cur != e.oid or bool(present[name].st_mode & 0o100) != e.executable:
            st.modified.append(prefix + name)
    st.deleted += [prefix + n for n in want if n not in files]
    st.added += [prefix + n for n in files if n not in want]
    by_name = {t.name: t for t in subtrees}
    for name, child in folder.children.items():
        t = by_name.get(name)
        if t is None:  # a new folder: every file below it is new
            st.added += [f"{prefix}{name}/{rel}" for rel in walk(repo.root, child.path, f"{shown}/{prefix}{name}",
                                                                   (repo.git_dir, repo.common_dir))]
        else:
            _compare(repo, trees, t.oid, child, f"{prefix}{name}/", st, shown)
    for name, t in by_name.items():
        if name not in folder.children:
            st.deleted += [f"{prefix}{name}/{e.path}" for e in trees.files(t.oid, f"{prefix}{name}/")]
    if prefix and len(st.added) + len(st.modified) + len(st.deleted) == before:
        sc.set_dir_clean(folder.path, oid, folder.sig)


class Trees:
    """The trees of a folder pointer's manifest, read one at a time from
    the cache, held to what the pointer says.  A flat manifest (written
    before trees) is turned into trees in memory, once: its folders then
    have trees too, whose rows work the same way."""

    def __init__(self, repo: Repo, target: Target) -> None:
        self.repo = repo
        self.target = target
        cache = repo.cache
        p = target.pointer
        size = cache.size_of(p.oid)
        if size is not None and size > manifest.max_bytes(p.files or 0):
            read_manifest(repo, target)  # (raises: the pointer and its manifest disagree)
        data = cache.read_bytes(p.oid)
        self._mem: dict[str, bytes] = {}
        self.root = p.oid
        if not manifest.is_tree(data):
            entries = read_manifest(repo, target)  # (flat: held to the pointer as always)
            root, below = manifest.build(entries)
            self._mem = {oidmod.of_bytes(d): d for _, d in below}
            self.root = oidmod.of_bytes(root)
            self._mem[self.root] = root
        else:
            self._mem[p.oid] = data
            # The root's own count and size are checked against the pointer
            # here; each tree's against what its parent says as it is read.
            # (Worded as Cache.read_manifest words it for a flat manifest.)
            size, files = self._totals(data)
            where, restore = target.pointer_rel, f"restore the pointer with `git checkout -- {target.pointer_rel}`"
            if files != (p.files or 0):
                raise PointerError(f"{where}: says {p.files or 0:,} files, but its manifest lists {files:,} "
                                   f"({p.oid})", hint=restore)
            if size != p.size:
                raise PointerError(f"{where}: says {p.size:,} bytes, but its manifest lists {size:,} ({p.oid})",
                                   hint=restore)
        self._said: dict[str, int] = {self.root: p.files or 0}

    def _totals(self, data: bytes) -> tuple[int, int]:
        own, subs = manifest.loads_tree(data, self._where(""))
        return sum(e.size for e in own) + sum(t.size for t in subs), len(own) + sum(t.files for t in subs)

    def _where(self, prefix: str) -> str:
        return f"manifest of {self.target.rel}/{prefix}".rstrip("/")

    def _bytes(self, oid: str) -> bytes:
        data = self._mem.get(oid)
        return data if data is not None else self.repo.cache.read_bytes(oid)

    def read(self, oid: str, prefix: str = "") -> tuple[list[manifest.Entry], list[manifest.Subtree]]:
        """One tree: its own files (by name) and its subfolders."""
        own, subs = manifest.loads_tree(self._bytes(oid), self._where(prefix), self._said.get(oid))
        for t in subs:
            self._said[t.oid] = t.files
        return own, subs

    def files(self, oid: str, prefix: str = "") -> list[manifest.Entry]:
        """Every file below the tree `oid`, by its path below it."""
        return manifest.expand(self._bytes, oid, self._where(prefix), self._said.get(oid))[0]

    def complete(self) -> bool:
        """Whether every object of the folder is in the cache (remembered
        once true), checked one tree at a time."""
        sc, cache = self.repo.statcache, self.repo.cache
        if sc.is_complete(self.target.pointer.oid):
            return True
        todo = [(self.root, "")]
        while todo:
            oid, prefix = todo.pop()
            own, subs = self.read(oid, prefix)
            if cache.missing({e.oid for e in own}):
                return False
            todo += [(t.oid, f"{prefix}{t.name}/") for t in subs]
        sc.set_complete(self.target.pointer.oid)
        return True


def objects_complete(repo: Repo, manifest_oid: str, entries: list[manifest.Entry]) -> bool:
    """Whether every object of a folder is in the cache (remembered once true)."""
    if repo.statcache.is_complete(manifest_oid):
        return True
    if repo.cache.missing({e.oid for e in entries}):
        return False
    repo.statcache.set_complete(manifest_oid)
    return True


def status(repo: Repo, user_paths: list[str], cwd: str | None = None) -> list[Status]:
    """Every target's state.  A pointer at odds with its object (a size, a
    folder's file count, a manifest that cannot be its own) is refused
    (errors.refuse: one line each, exit 1) and the others are still listed."""
    repo.require_init()
    out = []
    for t in resolve(repo, user_paths, cwd):
        try:
            out.append(status_of(repo, t))
        except PointerError as e:
            refuse(e)
    return out


