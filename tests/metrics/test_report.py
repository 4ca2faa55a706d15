"""`gitmodel report`: the pull-request markdown (golden files), better/worse per metric, gates.

Golden files live in tests/metrics/golden/; commit ids are replaced by <base>/<head>
before comparing (they depend on the config text and the clock). To accept
a deliberate change of the report: GITMODEL_UPDATE_GOLDEN=1 pytest tests/metrics/test_report.py
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from gitmodel.metrics import read as m
from gitmodel.metrics import report
from tests.support.files import write
from tests.support.git import commit_without_hooks
from tests.support.metrics import build_history, set_config
from tests.support.state import file_contents

GOLDEN = Path(__file__).parent / "golden"


def golden(name: str, text: str, commits: dict[str, str]) -> None:
    for tag, sha in commits.items():
        text = text.replace(sha[:7], f"<{tag}>")
    path = GOLDEN / name
    if os.environ.get("GITMODEL_UPDATE_GOLDEN") == "1":
        path.parent.mkdir(exist_ok=True)
        path.write_text(text)
    assert text == path.read_text()


def test_report_markdown_golden_with_failing_gate(gm, repo: Path) -> None:
    commits = build_history(repo, upto=2)
    r = gm("report", "--base", "clf@v1.0.0", "--head", "clf@v1.1.0", "--md",
           "--fail-on", "accuracy<-0.01", "--fail-on", "loss>5%")
    assert r.code == 2, r
    golden("report_gate_failed.md", r.out, commits)
    assert r.err == "gitmodel: gate failed: loss>5%: loss changed by +16.67%\n"


def test_report_markdown_golden_unreadable_head(gm, repo: Path) -> None:
    commits = build_history(repo, upto=3)
    set_config(repo, '[report]\nfail_on = ["metrics.json:accuracy<-0.05"]')
    r = gm("report", "--base", "clf@v1.1.0", "--head", "clf@v1.2.0", "--md")
    assert r.code == 2, r
    golden("report_unreadable_head.md", r.out, commits)
    assert "at clf@v1.2.0, metrics.json: not valid JSON" in r.err


def test_report_text_golden(gm, repo: Path) -> None:
    commits = build_history(repo, upto=2)
    set_config(repo, '[metrics.direction]\nloss = "higher"\n"eval.f1" = "none"')
    r = gm("report", "--base", "clf@v1.0.0", "--head", "clf@v1.1.0")
    assert r.code == 0, r
    golden("report_text.txt", r.out, commits)


def test_report_head_defaults_to_the_workspace_like_metrics_diff(gm, repo: Path) -> None:
    """A local `report --fail-on` judges the uncommitted change that
    `metrics diff` shows, instead of passing while it ignores it."""
    build_history(repo, upto=2)
    write(repo, "metrics.json", '{"accuracy": 0.0}')  # an uncommitted regression
    shown = gm("metrics", "diff", "--json")
    assert shown.code == 0 and [c["key"] for c in json.loads(shown.out)["changes"]][:1] == ["accuracy"], shown
    r = gm("report", "--base", "clf@v1.0.0", "--fail-on", "accuracy<-0.01", "--json")
    assert r.code == 2, r
    d = json.loads(r.out)
    assert d["head"] == {"rev": "workspace", "commit": None} and d["passed"] is False
    assert r.err == "gitmodel: gate failed: accuracy<-0.01: accuracy changed by -0.91\n"


def test_report_head_HEAD_leaves_the_workspace_out(gm, repo: Path) -> None:
    build_history(repo, upto=2)
    write(repo, "metrics.json", '{"accuracy": 0.0}')
    r = gm("report", "--base", "clf@v1.0.0", "--head", "HEAD", "--fail-on", "accuracy<-0.01", "--json")
    assert r.code == 0, r
    d = json.loads(r.out)
    assert d["head"]["rev"] == "HEAD" and d["passed"] is True
    assert d["gates"] == [{"gate": "accuracy<-0.01", "passed": True, "detail": "accuracy changed by +0.02"}]


def test_report_in_a_clean_checkout_equals_head_HEAD(gm, repo: Path) -> None:
    """CI checks out the PR's commit: there the default and `--head HEAD` agree."""
    build_history(repo, upto=2)
    default = gm("report", "--base", "clf@v1.0.0", "--fail-on", "accuracy<-0.01", "--json")
    at_head = gm("report", "--base", "clf@v1.0.0", "--head", "HEAD", "--fail-on", "accuracy<-0.01", "--json")
    assert default.code == at_head.code == 0, (default, at_head)
    strip = lambda d: {k: v for k, v in d.items() if k != "head"}  # noqa: E731
    assert strip(json.loads(default.out)) == strip(json.loads(at_head.out))


def test_report_all_gates_pass_markdown(gm, repo: Path) -> None:
    build_history(repo, upto=2)
    r = gm("report", "--base", "clf@v1.0.0", "--head", "clf@v1.1.0", "--md", "--fail-on", "accuracy<0")
    assert r.code == 0 and "**✅ The gate passed.**" in r.out, r  # not "All 1 gates passed"
    r = gm("report", "--base", "clf@v1.0.0", "--head", "clf@v1.1.0", "--md", "--fail-on", "accuracy<0",
           "--fail-on", "loss>50%")
    assert r.code == 0 and "**✅ All 2 gates passed.**" in r.out, r
    r = gm("report", "--base", "clf@v1.0.0", "--head", "clf@v1.1.0", "--md", "--fail-on", "loss>5%")
    assert r.code == 2 and "**❌ 1 of 1 gate failed.**" in r.out, r


def test_config_gates_and_direction(gm, repo: Path) -> None:
    build_history(repo, upto=2)
    set_config(repo, '[report]\nfail_on = ["accuracy>0.01"]\n[metrics.direction]\naccuracy = "lower"')
    r = gm("report", "--base", "clf@v1.0.0", "--head", "clf@v1.1.0", "--json")
    d = json.loads(r.out)
    assert r.code == 2 and d["passed"] is False
    acc = next(c for c in d["metrics"] if c["key"] == "accuracy")
    assert acc["direction"] == "lower" and acc["verdict"] == "worse"
    r = gm("report", "--base", "clf@v1.0.0", "--head", "clf@v1.1.0", "--no-config-gates")
    assert r.code == 0


def test_gate_on_unknown_or_removed_metric_fails(gm, repo: Path) -> None:
    build_history(repo, upto=4)
    r = gm("report", "--base", "clf@v1.0.0", "--head", "clf@v1.1.0", "--fail-on", "acuracy<0", "--json")
    assert r.code == 2
    assert "no metric 'acuracy'" in json.loads(r.out)["gates"][0]["detail"]
    r = gm("report", "--base", "clf@v1.1.0", "--head", "clf@v1.3.0", "--fail-on", "accuracy<-0.01", "--json")
    assert r.code == 2
    assert json.loads(r.out)["gates"][0]["detail"] == "accuracy is missing at clf@v1.3.0"


def test_gate_on_new_or_non_numeric_metric(gm, repo: Path) -> None:
    set_config(repo, '[metrics]\nfiles = ["m.json"]')
    write(repo, "m.json", '{"a": "x"}')
    commit_without_hooks(repo, "base")
    write(repo, "m.json", '{"a": "y", "b": 1}')
    commit_without_hooks(repo, "head")
    r = gm("report", "--base", "HEAD~1", "--fail-on", "b<0", "--fail-on", "a<0", "--json")
    gates = json.loads(r.out)["gates"]
    assert gates[0]["passed"] is True and "new" in gates[0]["detail"]
    assert gates[1]["passed"] is False and "not a number" in gates[1]["detail"]


def test_bad_gate_is_one_line_and_writes_nothing(gm, repo: Path) -> None:
    build_history(repo, upto=2)
    before = file_contents(repo)
    r = gm("report", "--base", "clf@v1.0.0", "--fail-on", "accuracy drops", "-o", "report.md")
    assert r.code == 1 and r.out == "" and r.err.count("\n") == 1 and "accuracy drops" in r.err
    assert file_contents(repo) == before
    set_config(repo, '[report]\nfail_on = "oops"')
    r = gm("report", "--base", "clf@v1.0.0")
    assert r.code == 1 and "gate 'oops'" in r.err


def test_report_to_file(gm, repo: Path) -> None:
    build_history(repo, upto=2)
    r = gm("report", "--base", "clf@v1.0.0", "--md", "-o", "out/report.md")
    assert r.code == 1 and "does not exist" in r.err
    (repo / "out").mkdir()
    r = gm("report", "--base", "clf@v1.0.0", "--md", "-o", "out/report.md", "--fail-on", "loss>0")
    assert r.code == 2 and r.out == ""
    text = (repo / "out/report.md").read_text()
    assert text.startswith(report.MARKER) and "❌ failed" in text


def test_unknown_base_is_one_line(gm, repo: Path) -> None:
    build_history(repo, upto=1)
    r = gm("report", "--base", "origin/main")
    assert r.code == 1 and r.err.count("\n") == 1 and "origin/main" in r.err


@pytest.mark.parametrize("key,way", [
    ("accuracy", "higher"), ("loss", "lower"), ("val_loss", "lower"), ("eval.rmse", "lower"),
    ("test-error", "lower"), ("f1", "higher"), ("perplexity", "lower"), ("lossless_ratio", "higher"),
])
def test_direction_from_names(key: str, way: str) -> None:
    assert report.direction("m.json", key, {}) == way


def test_direction_from_config_keys() -> None:
    assert report.direction("m.json", "a.b", {"m.json:a.b": "lower"}) == "lower"
    assert report.direction("m.json", "a.b", {"b": "lower"}) == "lower"
    assert report.direction("m.json", "loss", {"loss": "none"}) == "none"


def test_parse_gates() -> None:
    g = report.parse_gate(" metrics.json:eval.f1 <= -2.5% ")
    assert (g.path, g.key, g.op, g.threshold, g.relative) == ("metrics.json", "eval.f1", "<=", -2.5, True)
    g = report.parse_gate("loss>1e-3")
    assert (g.path, g.key, g.op, g.threshold, g.relative) == (None, "loss", ">", 0.001, False)
    for bad in ("", "loss", "loss<", "loss<<1", "<1", "loss=1", "loss<abc"):
        with pytest.raises(report.GateError):
            report.parse_gate(bad)


def test_gate_thresholds_are_strict_or_not() -> None:
    base = m.Snapshot("a", "0" * 40, {"m.json": m.FileValues("m.json", m.OK, {"x": 1.0})})
    head = m.Snapshot("b", "1" * 40, {"m.json": m.FileValues("m.json", m.OK, {"x": 0.5})})
    changes = m.diff(base, head, include_unchanged=True)
    assert report.evaluate(report.parse_gate("x<-0.5"), changes, head).passed is True
    assert report.evaluate(report.parse_gate("x<=-0.5"), changes, head).passed is False
    assert report.evaluate(report.parse_gate("x<-50%"), changes, head).passed is True
    assert report.evaluate(report.parse_gate("x<=-50%"), changes, head).passed is False


def test_ci_workflow_in_docs_parses_and_matches_the_report(tmp_path: Path) -> None:
    import yaml

    doc = (Path(__file__).parents[2] / "docs" / "ci-report.md").read_text()
    block = doc.split("```yaml\n", 1)[1].split("```", 1)[0]
    workflow = yaml.safe_load(block)
    steps = workflow["jobs"]["report"]["steps"]
    run = next(s["run"] for s in steps if s.get("id") == "report")
    assert "gitmodel report --base" in run and "-o report.md" in run
    script = next(s["with"]["script"] for s in steps if "github-script" in s.get("uses", ""))
    assert f"'{report.MARKER}'" in script


def test_ci_flow_on_a_clone(tmp_path: Path) -> None:
    """What the workflow runs: a clone, a PR branch, the base as origin/main, a real process."""
    from tests.support.cli import gm_proc
    from tests.support.git import git, make_repo

    upstream = make_repo(tmp_path / "upstream")
    build_history(upstream, upto=1)
    clone = tmp_path / "clone"
    git("clone", "-q", str(upstream), str(clone))
    git("checkout", "-q", "-b", "pr", cwd=clone)
    write(clone, "metrics.json", '{"accuracy": 0.85, "loss": 0.3, "eval": {"f1": 0.8}, "note": "base"}\n')
    commit_without_hooks(clone, "worse model")
    r = gm_proc("report", "--base", "origin/main", "--md", "-o", "report.md", "--fail-on", "accuracy<-0.01",
                cwd=clone)
    assert r.code == 2, r
    text = (clone / "report.md").read_text()
    assert "| metrics.json | accuracy | 0.91 | 0.85 | -0.06 (-6.59%) | ❌ worse |" in text
    assert "gate failed: accuracy<-0.01: accuracy changed by -0.06" in r.err


def test_gate_with_unreadable_base_fails_naming_it(gm, repo: Path) -> None:
    build_history(repo, upto=3)
    r = gm("report", "--base", "clf@v1.2.0", "--head", "clf@v1.1.0", "--fail-on", "accuracy<-0.01", "--json")
    assert r.code == 2
    assert json.loads(r.out)["gates"][0]["detail"] == "metrics.json could not be read at clf@v1.2.0"
