"""`gitmodel verify REF`: exit 0 only when allowed signers signed the tags that decide REF."""

from __future__ import annotations

import json
import sys

from gitmodel.registry.signing import verify_ref
from gitmodel.repo import Repo


def run(ref: str, *, allowed_signers: str | None = None, as_json: bool = False) -> int:
    v = verify_ref(Repo.discover(), ref, allowed_signers=allowed_signers)
    if as_json:
        print(json.dumps(v.to_json(), indent=2))
        if not v.ok:
            print(f"gitmodel: error: {v.problem}", file=sys.stderr)
        return 0 if v.ok else 1
    v.check()  # not ok: SignatureError, one line, exit 1
    what = f"{v.model} {v.version}" + (f" in stage {v.stage}" if v.stage else "")
    print(f"{ref}: {what} (commit {v.commit[:10]}) is signed by allowed signers")
    for c in v.checks:
        print(f"  {c.tag:<28} {c.role:<10} {c.principal} ({c.fingerprint})")
    return 0
