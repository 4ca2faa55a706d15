"""`gitmodel promote NAME VERSION STAGE`: assign a stage (GTO's `NAME#STAGE#N`)."""

from __future__ import annotations

import sys

from gitmodel.registry.tagging import promote
from gitmodel.repo import Repo


def run(name: str, version: str, stage: str, *, message: str | None = None, push: bool = False,
        sign: bool | None = None) -> int:
    r = promote(Repo.discover(), name, version, stage, message=message, push=push, sign=sign)
    signed = "signed " if r.signed else ""
    print(f"{name} {r.version} is now in stage {stage} ({signed}tag {r.tag} at commit {r.commit[:10]})")
    for w in r.warnings:
        print(f"warning: {w}", file=sys.stderr)
    if r.pushed:
        print(f"pushed the objects, then the tag {r.tag}")
    else:
        print(f"next: `git push origin {r.tag}` to share it (or promote with --push)")
    return 0
