"""What gitmodel tracks: finding pointer files, turning user paths into
tracked targets, and reading a target's pointer and manifest."""

from __future__ import annotations

import os
from dataclasses import dataclass

from gitmodel.errors import ObjectMissingError, PathError, UnsafePathError, refuse
from gitmodel.git import runner as gitops
from gitmodel.repo import Repo
from gitmodel.store import manifest
from gitmodel.store import pointer as ptr


@dataclass
class Target:
    rel: str  # repository-relative posix path of the tracked file or folder
    pointer: ptr.Pointer

    @property
    def pointer_rel(self) -> str:
        return ptr.pointer_path(self.rel)


def all_pointer_rels(repo: Repo, under: str | None = None) -> list[str]:
    """Pointer files in the work tree (tracked or not, but not git-ignored).

    A pointer whose target would land in control space (`.git.gm`,
    `.gitmodel.gm`, a nested repository) is refused here, for every command
    that lists the work tree: recorded with errors.refuse (the command goes
    on with the others and exits 1) and left out."""
    spec = f":(glob){under}/**/*{ptr.SUFFIX}" if under else f":(glob)**/*{ptr.SUFFIX}"
    found = gitops.list_files(repo.root, [spec])
    out = []
    for p in sorted(found):
        if not os.path.isfile(repo.abspath(p)):
            continue
        try:
            repo.check_rel(ptr.target_path(p), p, control=True)
        except UnsafePathError as e:
            refuse(e)
            continue
        out.append(p)
    return out


def resolve(repo: Repo, user_paths: list[str], cwd: str | None = None) -> list[Target]:
    """Tracked targets named by `user_paths` (all of them when empty)."""
    rels: list[str] = []
    if not user_paths:
        rels = [ptr.target_path(p) for p in all_pointer_rels(repo)]
    for user in user_paths:
        rel = repo.relpath(user, cwd)
        absp = repo.abspath(rel)
        if rel.endswith(ptr.SUFFIX) and os.path.isfile(absp):
            rels.append(ptr.target_path(rel))
        elif os.path.isfile(absp + ptr.SUFFIX):
            rels.append(rel)
        elif os.path.isdir(absp):
            inner = [ptr.target_path(p) for p in all_pointer_rels(repo, rel)]
            if not inner:
                raise PathError(f"{user}: nothing in it is tracked by gitmodel", hint=f"run `gitmodel add {user}`")
            rels += inner
        else:
            above = _tracked_folder_above(repo, rel)
            if above:
                raise PathError(f"{user}: is part of the tracked folder {above}",
                                hint=f"name the folder instead (e.g. `gitmodel checkout {above}`)")
            raise PathError(f"{user}: is not tracked by gitmodel", hint=f"run `gitmodel add {user}` to track it")
    seen: set[str] = set()
    out: list[Target] = []
    for rel in rels:
        if rel not in seen:
            seen.add(rel)
            out.append(load(repo, rel))
    return out


def _tracked_folder_above(repo: Repo, rel: str) -> str | None:
    parts = rel.split("/")
    for i in range(len(parts) - 1, 0, -1):
        above = "/".join(parts[:i])
        if os.path.isfile(repo.abspath(above) + ptr.SUFFIX):
            return above
    return None


def load(repo: Repo, rel: str) -> Target:
    """The target at `rel` with its pointer; the path rule first (Repo.check_rel)."""
    pointer_rel = ptr.pointer_path(rel)
    repo.check_rel(rel, pointer_rel, control=True)
    return Target(rel, ptr.read(repo.abspath(pointer_rel), pointer_rel))


def read_manifest(repo: Repo, target: Target) -> list[manifest.Entry]:
    """The folder's manifest, held to what its pointer says (Cache.read_manifest)."""
    try:
        return repo.cache.read_manifest(target.pointer, target.pointer_rel, target.rel)
    except ObjectMissingError:
        raise ObjectMissingError(f"{target.rel}: its manifest {target.pointer.oid} is not in the cache",
                                 hint=f"run `gitmodel fetch {target.rel}`") from None
