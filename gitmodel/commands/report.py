"""`gitmodel report --base REV [--head REV]`: the pull-request report, and its gates for CI.

The head side is the workspace unless --head names a revision.

Exit codes: 0 when every gate passes, 2 when a gate fails (the report is
still written, so CI can post it before failing the job), 1 on bad input.
"""

from __future__ import annotations

import sys

from gitmodel.metrics import report
from gitmodel.metrics.read import to_json
from gitmodel.repo import Repo

GATE_FAILED = 2


def run(base: str, head: str | None, *, fail_on: list[str], md: bool = False, as_json: bool = False,
        output: str | None = None, model: str | None = None, precision: int = 5,
        use_config_gates: bool = True) -> int:
    repo = Repo.discover()
    gates = (report.config_gates(repo) if use_config_gates else []) + list(fail_on)
    # Like `diff` and `metrics diff`: the new side is the workspace unless
    # --head names a revision, so a local run judges the uncommitted change
    # too (in CI the workspace is the checked-out HEAD: the same answer).
    c = report.compare(repo, base, head, model=model, gates=gates, precision=precision)
    if as_json:
        text = to_json(c.as_dict()) + "\n"
    elif md:
        text = report.markdown(c, precision)
    else:
        text = report.text(c, precision, changed_only=False)
    if output:
        report.write_output(output, text)
        print(f"wrote {output}", file=sys.stderr)
    else:
        print(text, end="")
    for e in c.errors:
        print(f"gitmodel: warning: {e}", file=sys.stderr)
    failed = c.failed
    if failed:
        for g in failed:
            print(f"gitmodel: gate failed: {g.gate.text}: {g.detail}", file=sys.stderr)
        return GATE_FAILED
    return 0
