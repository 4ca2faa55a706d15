"""W6 (model versions, issue 15) at toy sizes, so the harness never rots: the
series is generated, every method's stored bytes are counted, every version
is added, pushed and fetched by a teammate (--strict: no gitmodel step n/a).
Only what holds at any size is judged here; the real figures belong to
bench/RESULTS.md."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def row(report: str, heading: str, label: str) -> list[str]:
    """The cells of the row `label` in the table under `heading`."""
    section = report[report.index(heading):]
    line = next(x for x in section.splitlines() if x.startswith(f"| {label} |"))
    return [c.strip() for c in line.strip().strip("|").split("|")]


def test_w6_quick_measures_every_method_and_transfer() -> None:
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "run.py"), "--quick", "--no-peers", "--strict",
                           "--only", "W6"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    out = proc.stdout
    assert proc.returncode == 0, out[-3000:] + proc.stderr[-3000:]
    stored, moved = "### W6: model versions — bytes stored", "### W6: model versions — transfers"
    for heading in (stored, moved, "### W6: one "):
        assert heading in out, heading
    # Over the series gitmodel stores less than FastCDC alone (structure, compression, deltas).
    total = row(out, stored, "**whole series**")
    ratio = float(total[-1].strip("*"))
    assert 0 < ratio < 1, total
    # The full fine-tune moves every weight: no chunk repeats, yet the XOR delta stores less.
    full_ft = row(out, stored, "(c) full fine-tune, every weight moves ~1e-5 relative")
    assert float(full_ft[-1]) < 0.8, full_ft
    # A fine-tune of the head and last block pushes and fetches only part of the file.
    head = row(out, moved, "(a) fine-tune of the head and last block")
    sent, fetched = (float(re.search(r"\(([0-9.]+)%\)", c).group(1)) for c in (head[4], head[6]))  # type: ignore[union-attr]
    assert 0 < sent < 60 and 0 < fetched < 60, head
    assert "requests (target at most 100)" in out
