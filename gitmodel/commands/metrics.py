"""`gitmodel metrics show|diff` and `gitmodel params show|diff`: print for people or as JSON."""

from __future__ import annotations

import sys
from typing import Any

from gitmodel.commands.output import table
from gitmodel.formats import is_number
from gitmodel.git.revs import resolve_commit
from gitmodel.metrics import read as m
from gitmodel.repo import Repo


def warn(lines: list[str]) -> None:
    for line in dict.fromkeys(lines):
        print(f"gitmodel: warning: {line}", file=sys.stderr)


def show(kind: str, revs: list[str], *, all_tags: bool = False, model: str | None = None,
         targets: list[str] | None = None, as_json: bool = False, md: bool = False, precision: int = 5) -> int:
    repo = Repo.discover()
    files = m.files_for(repo, kind, targets, model)
    reader = m.Reader(repo)
    # Resolve every revision before reading anything, so a typo fails alone and fast.
    commits = [(rev, None if rev == m.WORKSPACE else resolve_commit(repo, rev)) for rev in revs]
    if all_tags:
        commits += [(name, c) for name, c in m.tagged_commits(repo, model)]
        if not commits:
            print("no tags yet; tag a version with `gitmodel tag NAME v1.0.0` (or `git tag`)", file=sys.stderr)
            return 0
    elif not commits:
        commits = [(m.WORKSPACE, None)]
    snaps = [reader.read(rev, files) if c is None else reader.read_commit(rev, c, files) for rev, c in commits]
    if as_json:
        print(m.to_json({"kind": kind, "files": files, "revisions": [s.as_dict() for s in snaps]}))
        return 0
    blocks: list[str] = []
    for path in files:
        keys = list(dict.fromkeys(k for s in snaps for k in s.files[path].values))
        rows: list[list[str]] = []
        for s in snaps:
            f = s.files[path]
            label = s.rev
            if f.status == m.ABSENT:
                rows.append([label, "(absent)"] + [""] * max(len(keys) - 1, 0))
            elif f.status == m.ERROR:
                rows.append([label, "(unreadable, see below)"] + [""] * max(len(keys) - 1, 0))
            else:
                rows.append([label] + [m.fmt_value(f.values.get(k, m.MISSING), precision) for k in keys])
        headers = ["Revision", *(keys or [""])]
        # Right-align the columns that hold only numbers (and the absent marker).
        right = tuple(i + 1 for i, k in enumerate(keys)
                      if all(s.files[path].status == m.OK for s in snaps)
                      and all(is_number(s.files[path].values.get(k, 0)) for s in snaps))
        body = table(headers, rows, md=md, right=right)
        blocks.append(f"{'### ' if md else ''}{path}\n" + ("\n" if md else "") + body)
    print("\n\n".join(blocks))
    warn([e for s in snaps for e in s.errors])
    return 0


def diff(kind: str, a: str | None, b: str | None, *, model: str | None = None,
         targets: list[str] | None = None, as_json: bool = False, md: bool = False, precision: int = 5,
         show_all: bool = False) -> int:
    repo = Repo.discover()
    files = m.files_for(repo, kind, targets, model)
    old, new, changes = m.diff_revs(repo, a or "HEAD", b or m.WORKSPACE, files, include_unchanged=show_all)
    if as_json:
        out: dict[str, Any] = {"kind": kind, "a": {"rev": old.rev, "commit": old.commit},
                               "b": {"rev": new.rev, "commit": new.commit},
                               "changes": [c.as_dict() for c in changes], "errors": old.errors + new.errors}
        print(m.to_json(out))
        return 0
    if not changes:
        print(f"no {kind} changes between {old.rev} and {new.rev}")
    else:
        what = "Metric" if kind == m.METRICS else "Param"
        headers = ["Path", what, old.rev, new.rev, "Change"]
        rows = [[c.path, c.key, m.fmt_value(c.old, precision), m.fmt_value(c.new, precision),
                 m.fmt_change(c, precision)] for c in changes]
        print(table(headers, rows, md=md, right=(2, 3, 4)))
    warn(old.errors + new.errors)
    return 0
