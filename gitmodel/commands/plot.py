"""`gitmodel plot NAME --metric M -o out.html|out.png`: a metric across versions or commits."""

from __future__ import annotations

import json
import re
import sys
from typing import TYPE_CHECKING, Any

from gitmodel.commands.metrics import warn
from gitmodel.commands.output import fmt_value, plural
from gitmodel.errors import GitmodelError
from gitmodel.formats import is_number
from gitmodel.metrics import plot
from gitmodel.metrics import read as m
from gitmodel.metrics.report import write_output
from gitmodel.registry.declarations import all_models
from gitmodel.repo import Repo

if TYPE_CHECKING:
    import pygit2

MAX_DEFAULT_SERIES = 10


def _points(repo: Repo, name: str | None, commits: bool, rev: str, limit: int) -> list[tuple[str, str, pygit2.Commit]]:
    """(revision, x label, commit) for each point of the chart."""
    if commits:
        return [(short, short, c) for short, c in m.history_commits(repo, rev, limit)]
    if name is None:
        raise GitmodelError("name a model to plot its versions, or pass --commits to plot the commit history")
    tags = m.tagged_commits(repo, name)
    if not tags:
        raise GitmodelError(f"model {name!r} has no versions yet",
                            hint=f"tag one with `gitmodel tag {name} v1.0.0`, or pass --commits to plot the commit "
                                 "history")
    return [(tag, tag[len(name) + 1:], c) for tag, c in tags]


def _lookup(snap: m.Snapshot, spec: str) -> Any:
    path, sep, key = spec.partition(":")
    if sep and path in snap.files:
        return snap.files[path].values.get(key, m.MISSING)
    for f in snap.files.values():
        if spec in f.values:
            return f.values[spec]
    return m.MISSING


def run(name: str | None, metric_specs: list[str], *, output: str | None = None, commits: bool = False,
        rev: str = "HEAD", limit: int = 100, targets: list[str] | None = None, as_json: bool = False,
        width: int = 960, height: int = 540) -> int:
    repo = Repo.discover()
    if output is not None:
        plot.check_output(output)
    if not 200 <= width <= 10000 or not 150 <= height <= 10000:
        raise GitmodelError("--width must be 200..10000 and --height 150..10000 pixels")
    model = name if name is not None and name in all_models(repo) else None
    files = m.files_for(repo, m.METRICS, targets, model)
    points = _points(repo, name, commits, rev, limit)
    reader = m.Reader(repo)
    snaps = [reader.read_commit(rev, c, files) for rev, _, c in points]
    specs = metric_specs or _numeric_keys(snaps)
    if not specs:
        raise GitmodelError(f"no numeric metrics in {', '.join(files)} at any of these points",
                            hint="check with `gitmodel metrics show --all-tags`")
    series: list[plot.Series] = []
    skipped: list[str] = []
    for spec in specs:
        values: list[float | None] = []
        for s in snaps:
            v = _lookup(s, spec)
            if v is not m.MISSING and not is_number(v):
                skipped.append(f"at {s.rev}, {spec} is {fmt_value(v)!r}, not a number; left out of the chart")
            values.append(float(v) if is_number(v) else None)
        series.append(plot.Series(spec, values))
    subject = name or "HEAD"
    point = "commit" if commits else "version"
    what = point + "s"
    shown = ", ".join(specs) if len(specs) <= 3 else "metrics"
    title = f"{shown} across {what} of {subject}"
    chart = plot.Chart(title, [label for _, label, _ in points], series, ylabel=specs[0] if len(specs) == 1 else "",
                       xlabel="commit" if commits else "version")
    out = output or _default_output(subject, specs)
    write_output(out, plot.render(chart, out, width, height))
    if as_json:
        print(json.dumps({"output": out, "x": chart.xlabels,
                          "series": [{"label": s.label, "values": s.values} for s in series]}, indent=2))
    else:
        print(f"wrote {out} ({plural(len(snaps), point)}, {plural(len(series), 'metric')})")
    warn([e for s in snaps for e in s.errors] + skipped)
    if all(v is None for s in series for v in s.values):
        print("gitmodel: warning: the metric is absent at every point; check its name with "
              "`gitmodel metrics show --all-tags`", file=sys.stderr)
    return 0


def _numeric_keys(snaps: list[m.Snapshot]) -> list[str]:
    keys: dict[str, None] = {}
    for s in snaps:
        for f in s.files.values():
            for k, v in f.values.items():
                if is_number(v):
                    keys[k] = None
    return list(keys)[:MAX_DEFAULT_SERIES]


def _default_output(subject: str, specs: list[str]) -> str:
    stem = subject if len(specs) != 1 else f"{subject}-{specs[0]}"
    # One file name in the current folder, whatever the metric's key (it may
    # come from a committed metrics file): no `/`, and short enough for any
    # file system (255 bytes).
    return re.sub(r"[^A-Za-z0-9._-]+", "_", stem)[:120] + ".html"

