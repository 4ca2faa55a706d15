"""`gitmodel deprecate NAME [VERSION] [--stage STAGE]`: GTO's `!` tags."""

from __future__ import annotations

import sys

from gitmodel.registry.grammar import Action
from gitmodel.registry.tagging import deprecate
from gitmodel.repo import Repo


def run(name: str, version: str | None, *, stage: str | None = None, message: str | None = None,
        push: bool = False, sign: bool | None = None) -> int:
    r = deprecate(Repo.discover(), name, version, stage=stage, message=message, push=push, sign=sign)
    if r.action == Action.UNASSIGN:
        print(f"{name} {r.version} left stage {stage} (tag {r.tag})")
    elif r.action == Action.DEREGISTER:
        print(f"{name} {r.version} is deregistered (tag {r.tag}); listings and references skip it now")
    else:
        print(f"model {name} is deprecated (tag {r.tag})")
    for w in r.warnings:
        print(f"warning: {w}", file=sys.stderr)
    if r.pushed:
        print(f"pushed the tag {r.tag}")
    else:
        print(f"next: `git push origin {r.tag}` to share it")
    return 0
