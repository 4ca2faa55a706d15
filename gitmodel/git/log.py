"""`gitmodel log [PATH]`: the history of tracked artifacts across commits.

One `git log` subprocess finds the commits that changed the pointer files
(with git's own history simplification, so a merge that only brought a
branch's version in is not listed twice); the pointers at those commits are
then read in-process (pygit2), and the version tags (`clf@v1.2.0`, GTO's
grammar) are what the registry reads from the tag refs, once.  `--rev`
goes through the one resolver (`gitmodel.git.revs.resolve_commit`), so it
takes version references (`clf@v1.2.0`, `clf@latest`, `clf#prod`) too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gitmodel.errors import GitmodelError, PathError
from gitmodel.git import runner as gitops
from gitmodel.repo import Repo
from gitmodel.store import pointer as ptr

_STATUS = {"A": "added", "M": "modified", "T": "modified", "D": "deleted"}


@dataclass
class Change:
    path: str  # the tracked path (pointer path without .gm)
    status: str  # added | modified | deleted
    pointer: ptr.Pointer | None  # None when deleted, or unreadable (see `problem`)
    problem: str | None = None

    def as_dict(self) -> dict[str, Any]:
        p = self.pointer
        d: dict[str, Any] = {"path": self.path, "status": self.status}
        if p is not None:
            d.update(kind=p.kind, oid=p.oid, size=p.size)
            if p.is_dir:
                d["files"] = p.files
        if self.problem:
            d["problem"] = self.problem
        return d


@dataclass
class Entry:
    commit: str
    date: str  # ISO 8601, the author date
    author: str
    email: str
    message: str  # the subject line
    tags: list[str] = field(default_factory=list)  # version tags on this commit
    changes: list[Change] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"commit": self.commit, "date": self.date, "author": self.author, "email": self.email,
                "message": self.message, "tags": self.tags, "changes": [c.as_dict() for c in self.changes]}


def pathspecs(repo: Repo, user_path: str | None, cwd: str | None = None) -> list[str]:
    """The pointer files `user_path` stands for: its own pointer, and the
    pointers below it when it is (or was) a folder of tracked artifacts."""
    if not user_path:
        return [f":(glob)**/*{ptr.SUFFIX}"]
    rel = repo.relpath(user_path, cwd)
    if rel.endswith(ptr.SUFFIX):
        rel = ptr.target_path(rel)
    return [f":(literal){ptr.pointer_path(rel)}", f":(glob){_glob_escape(rel)}/**/*{ptr.SUFFIX}"]


def _glob_escape(path: str) -> str:
    return "".join(f"\\{c}" if c in "*?[]\\" else c for c in path)


def log(repo: Repo, user_path: str | None = None, *, limit: int | None = None, rev: str = "HEAD",
        cwd: str | None = None) -> list[Entry]:
    """Newest first.  Raises PathError when nothing under `user_path` was ever tracked at `rev`."""
    from gitmodel.git.revs import resolve_commit

    specs = pathspecs(repo, user_path, cwd)
    # The one resolver: `clf@v1.2.0`, `clf@latest` and `clf#prod` are
    # revisions here as everywhere else; git log is handed the commit id.
    try:
        commit = str(resolve_commit(repo, rev).id)
    except GitmodelError:
        if rev == "HEAD":
            return []  # no commit yet
        raise
    args = ["log", "-z", "--format=%x1e%H%x1f%aI%x1f%an%x1f%ae%x1f%s", "--name-status", "--no-renames",
            "--diff-merges=first-parent"]
    if limit:
        args.append(f"--max-count={limit}")
    proc = gitops.run([*args, commit, "--", *specs], cwd=repo.root)
    entries = _parse(proc.stdout.decode("utf-8", "surrogateescape"))
    if not entries and user_path:
        raise PathError(f"{user_path}: no commit holds a gitmodel pointer for it",
                        hint=f"commit one "
                             f"(`gitmodel add {user_path}`, then `git commit`), "
                             f"or see what is tracked with `gitmodel status`")
    _read_pointers(repo, entries)
    tags = version_tags(repo)
    for e in entries:
        e.tags = tags.get(e.commit, [])
    return entries


def _parse(out: str) -> list[Entry]:
    entries = []
    for record in out.split("\x1e")[1:]:
        head, _, rest = record.partition("\0")
        commit, date, author, email, message = (head.split("\x1f") + [""] * 5)[:5]
        e = Entry(commit, date, author, email, message)
        fields = rest.lstrip("\n").split("\0")
        for status, path in zip(fields[0::2], fields[1::2]):
            if path.endswith(ptr.SUFFIX) and status[:1] in _STATUS:
                e.changes.append(Change(ptr.target_path(path), _STATUS[status[:1]], None))
        entries.append(e)
    return entries


def _read_pointers(repo: Repo, entries: list[Entry]) -> None:
    import pygit2

    from gitmodel.git.revs import git

    g = git(repo)
    for e in entries:
        tree = g[e.commit].peel(pygit2.Commit).tree
        for c in e.changes:
            if c.status == "deleted":
                continue
            where = f"{e.commit[:10]}:{ptr.pointer_path(c.path)}"
            try:
                blob = tree[ptr.pointer_path(c.path)]
                if not isinstance(blob, pygit2.Blob):
                    raise KeyError(c.path)
                c.pointer = ptr.loads(blob.data.decode("utf-8"), where)
            except (GitmodelError, UnicodeDecodeError, KeyError) as err:
                c.problem = str(err) if isinstance(err, GitmodelError) else f"{where}: not a readable pointer"


def version_tags(repo: Repo) -> dict[str, list[str]]:
    """{commit id: [version tag names]} for the versions the registry holds
    active (annotated, not deregistered: GTO's reading, done once, by
    gitmodel.registry.state), each commit's tags sorted by name."""
    from gitmodel.registry.state import all_states

    found = sorted((v.tag, v.commit) for st in all_states(repo).values() for v in st.versions.values()
                   if v.active and v.tag is not None)
    out: dict[str, list[str]] = {}
    for tag, commit_id in found:
        out.setdefault(commit_id, []).append(tag)
    return out
