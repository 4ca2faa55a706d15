"""Everything between two versions, and the pull-request report built on it.

`compare()` gathers one `Comparison`: the tracked artifacts (pointer oid and
size; for directories the files added, removed and modified, when both
manifests are in the cache), their role (a model's artifact or the data it
was trained on, from the model declarations), params changed and metrics with
absolute and relative change. `gitmodel diff` prints it; `gitmodel report`
renders it as comment-ready markdown, marks each metric better or worse, and
evaluates gates.

Direction: `[metrics.direction] loss = "lower"` in the config (keys: `KEY`,
`FILE:KEY`, or the last dotted part of a key); without one, names that say
loss or error (loss, error, rmse, mae, perplexity, latency, ...) are lower
is better and everything else higher is better.

Gates: `KEY<-0.01` fails when KEY's change (head - base) is below -0.01;
`loss>5%` fails when loss grows by more than 5% of its base value. Operators
`<`, `<=`, `>`, `>=`; `FILE:KEY` to name one file. From `--fail-on` and from
`[report] fail_on = [...]` in the config.
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from gitmodel.errors import GitmodelError, ObjectMissingError, PathError, PointerError
from gitmodel.humanize import human_size, plural, table
from gitmodel.metrics import read as m
from gitmodel.repo import Repo
from gitmodel.store import manifest
from gitmodel.store import pointer as ptr

HIGHER, LOWER, NONE = "higher", "lower", "none"
BETTER, WORSE, SAME = "better", "worse", "same"
MARKER = "<!-- gitmodel-report -->"  # lets CI find and update its previous comment

# Name parts that mean "smaller is better"; matched against the words of the last dotted part of a key.
_LOWER_WORDS = frozenset({
    "loss", "error", "err", "errors", "rmse", "mse", "mae", "mape", "smape", "rmsle", "msle",
    "perplexity", "ppl", "latency", "wer", "cer", "ter", "fpr", "fnr", "logloss", "nll",
    "regret", "distance", "divergence", "kl", "eer", "hter", "brier",
})


class GateError(GitmodelError):
    pass


# -- direction -----------------------------------------------------------------


def directions(repo: Repo) -> dict[str, str]:
    section = repo.config.get("metrics.direction", {})
    if not isinstance(section, dict):
        raise GitmodelError("[metrics.direction] in .gitmodel/config.toml must be a table of "
                            "KEY = \"higher\"|\"lower\"")
    out: dict[str, str] = {}
    for key, value in section.items():
        v = str(value).lower()
        if v not in (HIGHER, LOWER, NONE):
            raise GitmodelError(f"[metrics.direction] {key} = {value!r} is not \"higher\", \"lower\" or \"none\"",
                                hint="fix .gitmodel/config.toml")
        out[str(key)] = v
    return out


def direction(path: str, key: str, configured: dict[str, str]) -> str:
    """HIGHER or LOWER (or NONE) is better for metric `key` of `path`."""
    last = key.rsplit(".", 1)[-1]
    for name in (f"{path}:{key}", key, last):
        if name in configured:
            return configured[name]
    words = {w for w in re.split(r"[^a-z0-9]+", last.lower()) if w}
    return LOWER if words & _LOWER_WORDS else HIGHER


def verdict(change: m.Change, way: str) -> str | None:
    """BETTER, WORSE or SAME for two numbers; None when there is nothing to judge."""
    d = change.change
    if d is None or way == NONE:
        return None
    if d == 0:
        return SAME
    return BETTER if (d > 0) == (way == HIGHER) else WORSE


# -- gates ---------------------------------------------------------------------

_GATE = re.compile(
    r"^\s*(?:(?P<path>[^:<>=]+):)?(?P<key>[^:<>=\s]+)\s*(?P<op><=|>=|<|>)\s*"
    r"(?P<num>[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)\s*(?P<pct>%)?\s*$")


@dataclass(frozen=True)
class Gate:
    text: str
    key: str
    op: str
    threshold: float
    relative: bool  # threshold is a percentage of the base value
    path: str | None = None

    def trips(self, value: float) -> bool:
        t = self.threshold
        return {"<": value < t, "<=": value <= t, ">": value > t, ">=": value >= t}[self.op]


def parse_gate(text: str) -> Gate:
    mt = _GATE.match(text)
    if not mt:
        raise GateError(f"gate {text!r} is not KEY<NUMBER (e.g. 'accuracy<-0.01', 'loss>5%', "
                        f"'metrics.json:f1<=-0.02')", hint="fix --fail-on or [report] fail_on")
    return Gate(text=text.strip(), key=mt["key"], op=mt["op"], threshold=float(mt["num"]),
                relative=bool(mt["pct"]), path=mt["path"].strip() if mt["path"] else None)


def config_gates(repo: Repo) -> list[str]:
    value = repo.config.get("report.fail_on", [])
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise GateError("[report] fail_on in .gitmodel/config.toml must be a list of strings like 'accuracy<-0.01'")
    return list(value)


@dataclass
class GateResult:
    gate: Gate
    passed: bool
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {"gate": self.gate.text, "passed": self.passed, "detail": self.detail}


def evaluate(gate: Gate, changes: Sequence[m.Change], head: m.Snapshot, precision: int = 5,
             base: m.Snapshot | None = None) -> GateResult:
    """Whether `gate` holds for metric `changes` (computed with unchanged ones included)."""
    matches = [c for c in changes if c.key == gate.key and (gate.path is None or c.path == gate.path)]
    if not matches:
        # A file unreadable on either side hides its metrics from the diff: say so, and fail.
        unreadable = [f"{f.path} could not be read at {snap.rev}" for snap in (base, head) if snap is not None
                      for f in snap.files.values()
                      if f.status == m.ERROR and (gate.path is None or f.path == gate.path)]
        if unreadable:
            return GateResult(gate, False, "; ".join(unreadable))
        return GateResult(gate, False, f"no metric {gate.key!r} at either side; check the name")
    problems: list[str] = []
    notes: list[str] = []
    for c in matches:
        name = c.key if gate.path is not None or len(matches) == 1 else f"{c.path}:{c.key}"
        if c.status == m.REMOVED:
            problems.append(f"{name} is missing at {head.rev}")
            continue
        if c.status == m.ADDED:
            notes.append(f"{name} is new ({m.fmt_value(c.new, precision)}), nothing to compare")
            continue
        if not c.numeric:
            problems.append(f"{name} is not a number ({m.fmt_value(c.new, precision)})")
            continue
        if gate.relative:
            rel = c.relative
            if rel is None:
                notes.append(f"{name} was 0 at the base, so its relative change is undefined")
                continue
            value, shown = rel * 100, f"{rel * 100:+.2f}%"
        else:
            value, shown = float(c.change or 0), m.fmt_change(c, precision).split(" ")[0]
        if gate.trips(value):
            problems.append(f"{name} changed by {shown}")
        else:
            notes.append(f"{name} changed by {shown}")
    if problems:
        return GateResult(gate, False, "; ".join(problems))
    return GateResult(gate, True, "; ".join(notes))


# -- artifacts -----------------------------------------------------------------


@dataclass
class ArtifactChange:
    path: str
    status: str  # m.ADDED | m.REMOVED | m.MODIFIED | m.UNCHANGED
    old: ptr.Pointer | None
    new: ptr.Pointer | None
    roles: list[str] = field(default_factory=list)  # "model clf", "data of clf"
    added: list[str] | None = None  # for directories whose manifests were both compared
    removed: list[str] | None = None
    modified: list[str] | None = None
    note: str | None = None

    @property
    def kind(self) -> str:
        p = self.new or self.old
        return p.kind if p is not None else "file"

    @property
    def is_data(self) -> bool:
        return any(r.startswith("data") for r in self.roles)

    @property
    def is_model(self) -> bool:
        return any(r.startswith("model") for r in self.roles)

    def summary(self) -> str:
        """`modified: 2 added, 1 removed, 0 modified` for people."""
        if self.status == m.MODIFIED and self.added is not None:
            return (f"modified: {len(self.added)} added, {len(self.removed or [])} removed, "
                    f"{len(self.modified or [])} modified")
        return self.status

    def as_dict(self) -> dict[str, Any]:
        def side(p: ptr.Pointer | None) -> dict[str, Any] | None:
            if p is None:
                return None
            d: dict[str, Any] = {"oid": p.oid, "size": p.size, "kind": p.kind}
            if p.is_dir:
                d["files"] = p.files
            return d

        d: dict[str, Any] = {"path": self.path, "kind": self.kind, "status": self.status, "roles": self.roles,
                             "old": side(self.old), "new": side(self.new)}
        if self.added is not None:
            d.update(files_added=self.added, files_removed=self.removed, files_modified=self.modified)
        if self.note:
            d["note"] = self.note
        return d


def pointers(repo: Repo, rev: str | None) -> dict[str, ptr.Pointer]:
    """{tracked path: pointer} at `rev`, or in the workspace for None/WORKSPACE."""
    if rev is not None and rev != m.WORKSPACE:
        from gitmodel.git.revs import pointers_at

        return pointers_at(repo, rev)
    from gitmodel.workspace.targets import all_pointer_rels, load

    out: dict[str, ptr.Pointer] = {}
    for rel in all_pointer_rels(repo):
        target = load(repo, ptr.target_path(rel))
        out[target.rel] = target.pointer
    return out


def roles(repo: Repo) -> list[tuple[str, str]]:
    """(declared path, role) from the model declarations."""
    from gitmodel.registry.declarations import all_models

    out: list[tuple[str, str]] = []
    for name, model in all_models(repo).items():
        out.append((model.path, f"model {name}"))
        out += [(d, f"data of {name}") for d in model.data]
    return out


def _roles_of(path: str, declared: list[tuple[str, str]]) -> list[str]:
    return list(dict.fromkeys(role for p, role in declared
                              if path == p or path.startswith(p + "/") or p.startswith(path + "/")))


def diff_artifacts(repo: Repo, a: str | None, b: str | None, include_unchanged: bool = False) -> list[ArtifactChange]:
    old, new = pointers(repo, a), pointers(repo, b)
    declared = roles(repo)
    out: list[ArtifactChange] = []
    for path in sorted({*old, *new}):
        po, pn = old.get(path), new.get(path)
        if po is None:
            status = m.ADDED
        elif pn is None:
            status = m.REMOVED
        elif po.same_content(pn):
            status = m.UNCHANGED
        else:
            status = m.MODIFIED
        if status == m.UNCHANGED and not include_unchanged:
            continue
        change = ArtifactChange(path, status, po, pn, _roles_of(path, declared))
        if status == m.MODIFIED and po is not None and pn is not None and po.is_dir and pn.is_dir:
            _dir_changes(repo, change, po, pn)
        out.append(change)
    return out


def _dir_changes(repo: Repo, change: ArtifactChange, old: ptr.Pointer, new: ptr.Pointer) -> None:
    try:
        a = {e.path: e for e in manifest.expand(repo.cache.read_bytes, old.oid, f"manifest of {change.path}")[0]}
        b = {e.path: e for e in manifest.expand(repo.cache.read_bytes, new.oid, f"manifest of {change.path}")[0]}
    except ObjectMissingError:
        change.note = f"file lists not compared: a manifest is not in the cache (run `gitmodel fetch {change.path}`)"
        return
    except PointerError as e:
        change.note = f"file lists not compared: {e}"
        return
    change.added = sorted(set(b) - set(a))
    change.removed = sorted(set(a) - set(b))
    change.modified = sorted(p for p in set(a) & set(b)
                             if (a[p].oid, a[p].executable) != (b[p].oid, b[p].executable))


# -- the whole comparison ------------------------------------------------------------


@dataclass
class Comparison:
    base: m.Snapshot  # metrics at the base
    head: m.Snapshot
    base_params: m.Snapshot
    head_params: m.Snapshot
    metrics: list[m.Change]  # unchanged ones included, so a report shows every metric
    params: list[m.Change]  # changed ones only
    artifacts: list[ArtifactChange]
    directions: dict[str, str]
    gates: list[GateResult] = field(default_factory=list)

    @property
    def errors(self) -> list[str]:
        return list(dict.fromkeys([*self.base.errors, *self.head.errors,
                                   *self.base_params.errors, *self.head_params.errors]))

    @property
    def failed(self) -> list[GateResult]:
        return [g for g in self.gates if not g.passed]

    def direction(self, c: m.Change) -> str:
        return direction(c.path, c.key, self.directions)

    def verdict(self, c: m.Change) -> str | None:
        return verdict(c, self.direction(c))

    def as_dict(self) -> dict[str, Any]:
        return {
            "base": {"rev": self.base.rev, "commit": self.base.commit},
            "head": {"rev": self.head.rev, "commit": self.head.commit},
            "metrics": [{**c.as_dict(), "direction": self.direction(c), "verdict": self.verdict(c)}
                        for c in self.metrics],
            "params": [c.as_dict() for c in self.params],
            "artifacts": [a.as_dict() for a in self.artifacts],
            "gates": [g.as_dict() for g in self.gates],
            "passed": not self.failed,
            "errors": self.errors,
        }


def compare(repo: Repo, base: str | None, head: str | None, *, metric_files: Sequence[str] | None = None,
            param_files: Sequence[str] | None = None, model: str | None = None,
            gates: Sequence[str] = (), include_unchanged: bool = False, precision: int = 5) -> Comparison:
    """Compare two revisions (None: the workspace) on metrics, params and artifacts.

    Gates are parsed before anything is read so a typo fails fast."""
    parsed = [parse_gate(g) for g in gates]
    mfiles = list(metric_files) if metric_files else m.files_for(repo, m.METRICS, model=model, required=False)
    pfiles = list(param_files) if param_files else m.files_for(repo, m.PARAMS, model=model, required=False)
    dirs = directions(repo)
    reader = m.Reader(repo)
    base_m, head_m = reader.read(base, mfiles), reader.read(head, mfiles)
    base_p, head_p = reader.read(base, pfiles), reader.read(head, pfiles)
    comparison = Comparison(
        base=base_m, head=head_m, base_params=base_p, head_params=head_p,
        metrics=m.diff(base_m, head_m, include_unchanged=True),
        params=m.diff(base_p, head_p, include_unchanged=include_unchanged),
        artifacts=diff_artifacts(repo, base, head, include_unchanged=include_unchanged),
        directions=dirs,
    )
    comparison.gates = [evaluate(g, comparison.metrics, head_m, precision, base_m) for g in parsed]
    return comparison


# -- rendering -----------------------------------------------------------------


def short(commit: str | None) -> str:
    return commit[:7] if commit else ""


def rev_label(s: m.Snapshot, md: bool = False) -> str:
    if s.commit is None:
        return "workspace"
    if md:
        return f"`{s.rev}` (`{short(s.commit)}`)" if not s.commit.startswith(s.rev) else f"`{short(s.commit)}`"
    return f"{s.rev} ({short(s.commit)})" if not s.commit.startswith(s.rev) else short(s.commit)


def artifact_side(p: ptr.Pointer | None, md: bool = False) -> str:
    if p is None:
        return "-"
    oid = p.oid.split(":", 1)[-1][:8]
    what = f"{human_size(p.size)}, {plural(p.files or 0, 'file')}" if p.is_dir else human_size(p.size)
    return f"{what} `{oid}`" if md else f"{what} {oid}"


_MARKS = {BETTER: "✅ better", WORSE: "❌ worse", SAME: "same"}


def metric_rows(c: Comparison, precision: int, md: bool, changed_only: bool = False) -> list[list[str]]:
    rows: list[list[str]] = []
    for ch in c.metrics:
        if changed_only and ch.status == m.UNCHANGED:
            continue
        v = c.verdict(ch)
        if ch.status in (m.ADDED, m.REMOVED):
            mark = ch.status
        elif v is None:
            mark = ""  # not two numbers, or no direction configured: shown, not judged
        else:
            mark = _MARKS[v] if md else v
        rows.append([ch.path, ch.key, m.fmt_value(ch.old, precision), m.fmt_value(ch.new, precision),
                     m.fmt_change(ch, precision), mark])
    return rows


def param_rows(c: Comparison, precision: int) -> list[list[str]]:
    return [[ch.path, ch.key, m.fmt_value(ch.old, precision), m.fmt_value(ch.new, precision)]
            for ch in c.params]


def artifact_rows(c: Comparison, md: bool) -> list[list[str]]:
    return [[a.path + ("/" if a.kind == "dir" else ""), ", ".join(a.roles) or "-", a.summary(),
             artifact_side(a.old, md), artifact_side(a.new, md)] for a in c.artifacts]


def markdown(c: Comparison, precision: int = 5, title: str = "gitmodel report") -> str:
    """The comment-ready pull-request report."""
    out = [MARKER, f"## {title}", "",
           f"Comparing base {rev_label(c.base, md=True)} with head {rev_label(c.head, md=True)}."]
    if c.gates:
        failed = c.failed
        n = len(c.gates)
        out += ["", f"**❌ {len(failed)} of {plural(n, 'gate')} failed.**" if failed
                else f"**✅ {'The gate' if n == 1 else f'All {n} gates'} passed.**"]
    out += ["", "### Metrics", ""]
    rows = metric_rows(c, precision, md=True)
    if rows:
        out.append(table(["File", "Metric", "Base", "Head", "Change", ""], rows, md=True, right=(2, 3, 4)))
    elif c.base.errors or c.head.errors:
        out.append("_No metrics to compare: a metrics file could not be read (see below)._")
    else:
        out.append("_No metrics found._")
    out += ["", "### Params", ""]
    prow = param_rows(c, precision)
    out.append(table(["File", "Param", "Base", "Head"], prow, md=True, right=(2, 3)) if prow
               else "_No params changed._")
    out += ["", "### Artifacts", ""]
    arow = artifact_rows(c, md=True)
    out.append(table(["Path", "Role", "Change", "Base", "Head"], arow, md=True) if arow
               else "_No tracked artifacts changed._")
    details = [a for a in c.artifacts if a.added is not None and (a.added or a.removed or a.modified)]
    for a in details:
        out += ["", f"<details><summary>{a.path}/: {a.summary()}</summary>", ""]
        for label, names in (("added", a.added), ("removed", a.removed), ("modified", a.modified)):
            out += [f"- {label}: `{n}`" for n in (names or [])[:50]]
            if names and len(names) > 50:
                out.append(f"- … and {len(names) - 50} more {label}")
        out += ["", "</details>"]
    notes = [f"{a.path}: {a.note}" for a in c.artifacts if a.note]
    if notes:
        out += [""] + [f"> {n}" for n in notes]
    if c.gates:
        out += ["", "### Gates", ""]
        out.append(table(["Gate", "Result", "Detail"],
                         [[f"`{g.gate.text}`", "✅ passed" if g.passed else "❌ failed", g.detail or "-"]
                          for g in c.gates], md=True))
    if c.errors:
        out += ["", "### Could not read", ""] + [f"- ⚠️ {e}" for e in c.errors]
    return "\n".join(out) + "\n"


def text(c: Comparison, precision: int = 5, changed_only: bool = True) -> str:
    """The same comparison for a terminal."""
    out = [f"base {rev_label(c.base)} -> head {rev_label(c.head)}"]
    arts = c.artifacts
    for label, group in (("Models", [a for a in arts if a.is_model]),
                         ("Data", [a for a in arts if a.is_data and not a.is_model]),
                         ("Other tracked files", [a for a in arts if not a.is_model and not a.is_data])):
        if not group:
            continue
        sub = Comparison(c.base, c.head, c.base_params, c.head_params, [], [], group, c.directions)
        out += ["", f"{label}:", _indent(table(["Path", "Role", "Change", "Base", "Head"], artifact_rows(sub, False)))]
        for a in group:
            if a.note:
                out.append(f"  note: {a.path}: {a.note}")
    if not arts:
        out += ["", "Artifacts: no tracked files changed"]
    prow = param_rows(c, precision)
    out += (["", "Params:", _indent(table(["Path", "Param", "Base", "Head"], prow, right=(2, 3)))]
            if prow else ["", "Params: no changes"])
    rows = metric_rows(c, precision, md=False, changed_only=changed_only)
    out += (["", "Metrics:", _indent(table(["Path", "Metric", "Base", "Head", "Change", ""], rows, right=(2, 3, 4)))]
            if rows else ["", "Metrics: no changes"])
    if c.gates:
        out += ["", "Gates:"] + [f"  {'passed' if g.passed else 'FAILED'}  {g.gate.text}  {g.detail}".rstrip()
                                 for g in c.gates]
    return "\n".join(out) + "\n"


def _indent(s: str) -> str:
    return "\n".join("  " + line if line else line for line in s.splitlines())


def write_output(path: str, data: str | bytes) -> None:
    """Write a report or chart the user asked for (atomically: CI reads it next)."""
    from gitmodel.platform.atomic import write_atomic

    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise GitmodelError(f"{path}: folder {folder} does not exist", hint="create it or choose another -o path")
    if os.path.isdir(path):
        raise GitmodelError(f"{path}: is a folder", hint="name a file with -o")
    try:
        write_atomic(path, data.encode("utf-8") if isinstance(data, str) else data)
    except OSError as e:
        if e.errno != errno.ENAMETOOLONG:
            raise
        raise PathError(f"{path[:120]}...: the file name is too long", hint="choose a shorter -o path") from None


__all__ = ["Comparison", "Gate", "GateResult", "ArtifactChange", "compare", "markdown", "text", "table",
           "parse_gate", "evaluate", "direction", "verdict"]
