"""`gitmodel tag NAME [VERSION | --bump PART]`: register a version."""

from __future__ import annotations

import sys

from gitmodel.commands.output import human_size
from gitmodel.registry.tagging import register
from gitmodel.repo import Repo
from gitmodel.store.oid import short


def run(name: str, version: str | None, *, bump: str | None = None, rev: str | None = None,
        message: str | None = None, path: str | None = None, push: bool = False, sign: bool | None = None) -> int:
    repo = Repo.discover()
    r = register(repo, name, version, bump=bump, rev=rev, message=message, path=path, push=push, sign=sign)
    if r.declared:
        print(f"declared model {name} in .gitmodel/config.toml (staged; commit it to share the declaration)")
    snap = r.snapshot
    what = ""
    if snap is not None and snap.artifact.oid:
        what = f" ({snap.artifact.path}, {human_size(snap.artifact.size or 0)}, {short(snap.artifact.oid)})"
    print(f"created {'signed ' if r.signed else ''}tag {r.tag} at commit {r.commit[:10]}{what}")
    for w in r.warnings:
        print(f"warning: {w}", file=sys.stderr)
    if r.pushed:
        print(f"pushed the objects, then the tag {r.tag}")
    else:
        print(f"next: `gitmodel push` and `git push origin {r.tag}` to share it (or tag with --push)")
    return 0
