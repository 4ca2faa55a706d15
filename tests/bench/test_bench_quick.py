"""The benchmark harness runs in CI at tiny sizes, so it never rots (issue 9).
It checks that every gitmodel step of every workload ran; timings are not
judged here (they belong to bench/RESULTS.md)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_quick_runs_every_gitmodel_step() -> None:
    # W6 has its own quick test (test_w6_quick.py): not run twice.
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "run.py"), "--quick", "--no-peers", "--strict",
                           "--only", "W1,W2,W3,W4,HELP"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for heading in ("### W1", "### W2", "### W3", "### W4", "--help"):
        assert heading in proc.stdout, heading
