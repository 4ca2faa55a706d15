"""What a transfer moves, shared by push, fetch and pull: the objects named
by the workspace pointers (or by the pointers of given revisions).  A
directory pointer names a manifest object, which names the file objects;
all of them move."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from gitmodel.errors import ObjectMissingError, PathError
from gitmodel.git import revs
from gitmodel.remote.spec import Remote, open_remote, spec_from_config
from gitmodel.repo import Repo
from gitmodel.store import manifest
from gitmodel.store import pointer as ptr
from gitmodel.store.cache import Cache
from gitmodel.workspace import targets as tracked

MANIFEST_MAGIC = (manifest.HEADER + "\n").encode()


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
        raise PathError(f"{unknown[0]}: is not tracked by gitmodel at any of the revisions given",
                        hint="check the path with `git ls-tree -r --name-only REV`")
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


@contextmanager
def opened(repo: Repo, name: str | None) -> Iterator[tuple[Remote, int | None]]:
    spec = spec_from_config(repo.config, name, repo.root)
    r = open_remote(spec, repo.config.link)
    try:
        yield r, spec.jobs()
    finally:
        r.close()


def is_manifest(cache: Cache, oid: str) -> bool:
    """Whether the object starts like a manifest.  Manifests are always
    loose objects, so only the loose copy is read: a chunked file (a chunk
    list, no object) or a packed one is never taken for a manifest, and
    never rebuilt to find out."""
    try:
        with open(cache.path(oid), "rb") as f:
            return manifest.is_manifest(f.read(len(MANIFEST_MAGIC)))
    except OSError:
        return False


def missing_error(missing: list[tuple[str, str]], where: str, push: bool) -> ObjectMissingError:
    path, oid = missing[0]
    more = f" and {len(missing) - 1} more" if len(missing) > 1 else ""
    if push:
        return ObjectMissingError(
            f"{path} ({oid}){more} not in the local cache, so not pushed to {where} (everything else was)",
            hint="fetch it from where it was added (`gitmodel fetch -r OTHER`) or `gitmodel add` it again")
    return ObjectMissingError(
        f"{path} ({oid}){more} not on {where} (everything else was fetched)",
        hint="push it from a clone that has it (`gitmodel push`), or fetch from another remote with -r NAME")
