"""W5 (a million files, issue 16) at a toy size, so the harness never rots:
every step runs and is reported.  The real figures belong to bench/RESULTS.md."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_w5_quick_runs_every_step() -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "run.py"), "--only", "W5", "--files", "2000",
                           "--runs", "1"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for step in ("cp -r (floor)", "find walk (floor)", "gitmodel add", "gitmodel status, nothing changed",
                 "gitmodel status, one file changed", "gitmodel add, one file changed",
                 "gitmodel push (folder remote)", "gitmodel checkout into an empty folder"):
        line = next(x for x in proc.stdout.splitlines() if x.startswith(f"| {step} |"))
        seconds, memory = line.split("|")[2].strip(), line.split("|")[4].strip()
        assert seconds.endswith(" s") and float(seconds[:-2]) > 0, line
        assert memory.endswith(" MiB"), line
