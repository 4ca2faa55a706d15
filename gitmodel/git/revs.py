"""Reading pointers at any revision, in-process (pygit2), with no checkout.

`resolve_commit` is the single place a revision string becomes a commit:
git revisions here; version references (`clf@v1.2.0`, `clf@latest`,
`clf#prod`) are resolved by the registry and plugged in at this one point.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from gitmodel.errors import GitmodelError, PointerError, UnsafePathError, refuse
from gitmodel.repo import Repo
from gitmodel.store import pointer as ptr

if TYPE_CHECKING:
    import pygit2


def git(repo: Repo) -> pygit2.Repository:
    """The pygit2 handle for `repo` (its one handle: Repo.git)."""
    return repo.git


def resolve_commit(repo: Repo, rev: str) -> pygit2.Commit:
    """The commit `rev` names: a version reference first, else a git
    revision; every command that takes a revision asks here (`log`,
    `metrics`, `fetch`/`push --rev`, `get`, `tag --rev`, ...)."""
    import pygit2

    from gitmodel.registry import resolve as refs

    g = git(repo)
    version_commit = refs.commit_for(repo, rev)  # clf@v1.2.0, clf@latest, clf#prod
    if version_commit is not None:
        return g[version_commit].peel(pygit2.Commit)
    try:
        obj = g.revparse_single(rev)
        commit = obj.peel(pygit2.Commit)
    except (KeyError, ValueError, pygit2.GitError, pygit2.InvalidSpecError):
        raise GitmodelError(f"unknown revision {rev!r}",
                            hint="check it with `git log --oneline` or `git tag`") from None
    return commit


def _walk_pointers(g: pygit2.Repository, tree: pygit2.Tree, prefix: str) -> Iterator[tuple[str, bytes]]:
    import pygit2

    for entry in tree:
        name = entry.name or ""
        if entry.type == pygit2.GIT_OBJECT_TREE:
            sub = g[entry.id]
            assert isinstance(sub, pygit2.Tree)
            yield from _walk_pointers(g, sub, f"{prefix}{name}/")
        elif name.endswith(ptr.SUFFIX) and entry.type == pygit2.GIT_OBJECT_BLOB:
            blob = g[entry.id]
            assert isinstance(blob, pygit2.Blob)
            yield f"{prefix}{name}", blob.data


def pointers_at(repo: Repo, rev: str, under: str | None = None) -> dict[str, ptr.Pointer]:
    """{tracked target rel path: pointer} for every pointer in `rev`'s tree."""
    g = git(repo)
    tree = resolve_commit(repo, rev).tree
    prefix = ""
    if under:
        under = under.strip("/")
        try:
            sub = tree[under]
        except KeyError:
            return {}
        if not isinstance(sub, type(tree)):
            return {}
        tree, prefix = sub, under + "/"
    out: dict[str, ptr.Pointer] = {}
    for path, data in _walk_pointers(g, tree, prefix):
        where = f"{rev}:{path}"
        try:  # a commit is input from strangers: the path rule before anything reads on
            repo.check_rel(ptr.target_path(path), where, control=True)
        except UnsafePathError as e:
            refuse(e)  # skipped; the command goes on with the others and exits 1
            continue
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise PointerError(f"{where}: not UTF-8 text") from None
        out[ptr.target_path(path)] = ptr.loads(text, where)
    return out


def pointer_at(repo: Repo, rev: str, rel: str) -> ptr.Pointer:
    """The pointer of one tracked path at `rev`."""
    tree = resolve_commit(repo, rev).tree
    path = ptr.pointer_path(rel.strip("/"))
    repo.check_rel(rel.strip("/"), f"{rev}:{path}", control=True)
    import pygit2

    try:
        blob = tree[path]
    except KeyError:
        raise GitmodelError(f"{rel} is not tracked by gitmodel at {rev} (no {path} there)") from None
    if not isinstance(blob, pygit2.Blob):
        raise PointerError(f"{rev}:{path}: is a folder, not a pointer file")
    try:
        return ptr.loads(blob.data.decode("utf-8"), f"{rev}:{path}")
    except UnicodeDecodeError:
        raise PointerError(f"{rev}:{path}: not UTF-8 text") from None
