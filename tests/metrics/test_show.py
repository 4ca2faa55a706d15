"""`gitmodel metrics show|diff` and `gitmodel params show|diff` on a real repository with several versions."""

from __future__ import annotations

import json
from pathlib import Path

from gitmodel.metrics import read as m
from gitmodel.repo import Repo
from tests.support.files import write
from tests.support.git import commit_without_hooks, git, gm_add
from tests.support.metrics import build_history, build_many_versions, set_config
from tests.support.state import file_contents


def test_show_workspace_by_default(gm, repo: Path) -> None:
    build_history(repo, upto=1)
    r = gm("metrics", "show")
    assert r.code == 0, r
    lines = r.out.splitlines()
    assert lines[0] == "metrics.json"
    assert lines[1].split() == ["Revision", "accuracy", "loss", "eval.f1", "note"]
    assert lines[2].split() == ["workspace", "0.91", "0.3", "0.8", "base"]


def test_show_all_tags_reports_bad_file_and_shows_the_rest(gm, repo: Path) -> None:
    build_history(repo)
    r = gm("metrics", "show", "--all-tags")
    assert r.code == 0, r
    rows = {line.split()[0]: line for line in r.out.splitlines()[2:]}
    assert list(rows) == ["clf@v1.0.0", "clf@v1.1.0", "clf@v1.2.0", "clf@v1.3.0"]
    assert rows["clf@v1.0.0"].split()[1:] == ["0.91", "0.3", "0.8", "base"]
    assert rows["clf@v1.1.0"].split()[1:] == ["0.93", "0.35", "0.8", "new"]
    assert "unreadable" in rows["clf@v1.2.0"]
    assert "(absent)" in rows["clf@v1.3.0"]
    # The malformed file is named with its revision and file, on stderr, in one line.
    assert r.err.strip() == ("gitmodel: warning: at clf@v1.2.0, metrics.json: not valid JSON "
                             "(line 2, column 10: Expecting value)")


def test_show_json(gm, repo: Path) -> None:
    commits = build_history(repo)
    r = gm("metrics", "show", "clf@v1.1.0", "clf@v1.2.0", "clf@v1.3.0", "workspace", "--json")
    assert r.code == 0, r
    data = json.loads(r.out)
    revs = data["revisions"]
    assert [x["rev"] for x in revs] == ["clf@v1.1.0", "clf@v1.2.0", "clf@v1.3.0", "workspace"]
    assert revs[0]["commit"] == commits["clf@v1.1.0"]
    assert revs[0]["files"]["metrics.json"] == {
        "status": "ok", "values": {"accuracy": 0.93, "loss": 0.35, "eval.f1": 0.8, "note": "new"}}
    assert revs[1]["files"]["metrics.json"]["status"] == "error"
    assert "not valid JSON" in revs[1]["files"]["metrics.json"]["error"]
    assert revs[2]["files"]["metrics.json"] == {"status": "absent"}
    assert revs[3]["commit"] is None and revs[3]["files"]["metrics.json"] == {"status": "absent"}


def test_version_references_and_git_revs(gm, repo: Path) -> None:
    build_history(repo, upto=2)
    git("tag", "-a", "clf#prod#1", "-m", "Promote", "clf@v1.0.0^{commit}")
    r = gm("metrics", "show", "clf#prod", "clf@latest", "HEAD~1", "--json")
    assert r.code == 0, r
    acc = [x["files"]["metrics.json"]["values"]["accuracy"] for x in json.loads(r.out)["revisions"]]
    assert acc == [0.91, 0.93, 0.91]


def test_show_all_tags_over_many_versions_in_process(gm, repo: Path) -> None:
    """Many tags sharing few distinct blobs: each blob parsed once, no subprocess per tag."""
    build_many_versions(repo, 40, metrics=lambda i: {"step": i // 4}, tag=lambda i: f"t{i:03d}")
    reader = m.Reader(Repo.discover(str(repo)))
    tags = m.tagged_commits(reader.repo)
    assert [t for t, _ in tags] == [f"t{i:03d}" for i in range(40)]
    snaps = [reader.read_commit(t, c, ["metrics.json"]) for t, c in tags]
    assert [s.files["metrics.json"].values["step"] for s in snaps] == [i // 4 for i in range(40)]
    assert len(reader._parsed) == 10
    r = gm("metrics", "show", "-T", "--json")
    assert len(json.loads(r.out)["revisions"]) == 40


def test_deregistered_and_stage_tags_left_out(gm, repo: Path) -> None:
    build_history(repo, upto=2)
    git("tag", "-a", "clf@v1.1.0!", "-m", "Deregister", "clf@v1.1.0^{commit}")
    git("tag", "-a", "clf#prod#1", "-m", "Promote", "clf@v1.0.0^{commit}")
    r = gm("metrics", "show", "-T", "--json")
    assert [x["rev"] for x in json.loads(r.out)["revisions"]] == ["clf@v1.0.0"]
    r = gm("metrics", "show", "-T", "--model", "clf", "--json")
    assert [x["rev"] for x in json.loads(r.out)["revisions"]] == ["clf@v1.0.0"]


def test_targets_and_config_files(gm, repo: Path) -> None:
    build_history(repo, upto=1)
    write(repo, "eval/scores.yaml", "auc: 0.7\n")
    write(repo, "log.csv", "epoch,acc\n1,0.5\n2,0.6\n")
    r = gm("metrics", "show", "--targets", "eval/scores.yaml,log.csv", "--json")
    files = json.loads(r.out)["revisions"][0]["files"]
    assert files == {"eval/scores.yaml": {"status": "ok", "values": {"auc": 0.7}},
                     "log.csv": {"status": "ok", "values": {"epoch": 2, "acc": 0.6}}}
    set_config(repo, '[metrics]\nfiles = ["log.csv"]')
    assert json.loads(gm("metrics", "show", "--json").out)["files"] == ["metrics.json", "log.csv"]


def test_no_files_declared_is_one_line(gm, repo: Path) -> None:
    r = gm("metrics", "show")
    assert r.code == 1 and r.out == ""
    assert r.err.count("\n") == 1 and "no metrics files are declared" in r.err and "--targets" in r.err


def test_unknown_revision_fails_before_reading(gm, repo: Path) -> None:
    build_history(repo, upto=1)
    r = gm("metrics", "show", "HEAD", "nope")
    assert r.code == 1 and r.out == "" and "unknown revision 'nope'" in r.err


def test_metrics_file_outside_repo_refused(gm, repo: Path) -> None:
    set_config(repo, '[metrics]\nfiles = ["../secret.json"]')
    r = gm("metrics", "show")
    assert r.code == 1 and "[metrics] files: unsafe path '../secret.json'" in r.err


def test_metrics_file_tracked_by_gitmodel(gm, repo: Path) -> None:
    """A metrics file stored through a pointer is read from the cache."""
    set_config(repo, '[metrics]\nfiles = ["big.json"]')
    write(repo, "big.json", '{"acc": 0.5}')
    gm_add(repo, "big.json")
    commit_without_hooks(repo, "c")
    r = gm("metrics", "show", "HEAD", "--json")
    assert json.loads(r.out)["revisions"][0]["files"]["big.json"]["values"] == {"acc": 0.5}


# -- diff -----------------------------------------------------------------------


def test_diff_between_versions_text(gm, repo: Path) -> None:
    build_history(repo, upto=2)
    r = gm("metrics", "diff", "clf@v1.0.0", "clf@v1.1.0")
    assert r.code == 0, r
    lines = [line.split() for line in r.out.splitlines()]
    assert lines[0] == ["Path", "Metric", "clf@v1.0.0", "clf@v1.1.0", "Change"]
    assert lines[1] == ["metrics.json", "accuracy", "0.91", "0.93", "+0.02", "(+2.20%)"]
    assert lines[2] == ["metrics.json", "loss", "0.3", "0.35", "+0.05", "(+16.67%)"]
    # A non-numeric value is shown, not diffed.
    assert lines[3] == ["metrics.json", "note", "base", "new", "-"]
    assert len(lines) == 4  # unchanged eval.f1 left out


def test_diff_json_absolute_and_relative(gm, repo: Path) -> None:
    build_history(repo, upto=2)
    r = gm("metrics", "diff", "clf@v1.0.0", "clf@v1.1.0", "--json", "--all")
    data = json.loads(r.out)
    by_key = {c["key"]: c for c in data["changes"]}
    assert abs(by_key["accuracy"]["change"] - 0.02) < 1e-12
    assert abs(by_key["accuracy"]["relative"] - 0.02 / 0.91) < 1e-12
    assert by_key["eval.f1"]["status"] == "unchanged" and by_key["eval.f1"]["change"] == 0
    assert by_key["note"] == {"path": "metrics.json", "key": "note", "old": "base", "new": "new",
                              "status": "modified", "change": None, "relative": None}


def test_diff_defaults_head_and_workspace(gm, repo: Path) -> None:
    build_history(repo, upto=1)
    write(repo, "metrics.json", '{"accuracy": 0.95, "loss": 0, "eval": {"f1": 0.8}, "extra": 1}')
    r = gm("metrics", "diff", "--json")
    data = json.loads(r.out)
    assert data["a"]["rev"] == "HEAD" and data["b"] == {"rev": "workspace", "commit": None}
    by_key = {c["key"]: c for c in data["changes"]}
    assert by_key["extra"]["status"] == "added" and by_key["extra"]["old"] is None
    assert by_key["note"]["status"] == "removed"
    assert by_key["loss"]["relative"] == -1.0
    r = gm("metrics", "diff", "HEAD")  # one rev: against the workspace
    assert "workspace" in r.out.splitlines()[0]


def test_diff_relative_undefined_from_zero(gm, repo: Path) -> None:
    set_config(repo, '[metrics]\nfiles = ["m.json"]')
    write(repo, "m.json", '{"errors": 0}')
    commit_without_hooks(repo, "c")
    write(repo, "m.json", '{"errors": 3}')
    r = gm("metrics", "diff")
    assert r.out.splitlines()[1].split() == ["m.json", "errors", "0", "3", "+3"]


def test_diff_md_and_precision(gm, repo: Path) -> None:
    build_history(repo, upto=2)
    r = gm("metrics", "diff", "clf@v1.0.0", "clf@v1.1.0", "--md", "--precision", "1")
    assert r.out.splitlines()[:3] == [
        "| Path | Metric | clf@v1.0.0 | clf@v1.1.0 | Change |",
        "|:--|:--|--:|--:|--:|",
        "| metrics.json | accuracy | 0.9 | 0.9 | +0.02 (+2.2%) |",
    ]


def test_diff_with_a_broken_side_warns_and_continues(gm, repo: Path) -> None:
    build_history(repo, upto=3)
    write(repo, "params.yaml", "train:\n  lr: 0.1\n  epochs: 10\n")
    r = gm("metrics", "diff", "clf@v1.1.0", "clf@v1.2.0")
    assert r.code == 0
    assert "no metrics changes" in r.out
    assert "at clf@v1.2.0, metrics.json: not valid JSON" in r.err


def test_diff_no_changes(gm, repo: Path) -> None:
    build_history(repo, upto=1)
    r = gm("metrics", "diff")
    assert r.code == 0 and r.out == "no metrics changes between HEAD and workspace\n"


def test_params_diff_and_show(gm, repo: Path) -> None:
    build_history(repo, upto=2)
    r = gm("params", "diff", "clf@v1.0.0", "clf@v1.1.0")
    assert r.code == 0, r
    assert r.out.splitlines()[1].split() == ["params.yaml", "train.lr", "0.01", "0.005", "-0.005", "(-50.00%)"]
    assert len(r.out.splitlines()) == 2  # epochs unchanged
    r = gm("params", "show", "-T", "--json")
    vals = [x["files"]["params.yaml"]["values"]["train.lr"] for x in json.loads(r.out)["revisions"]]
    assert vals == [0.01, 0.005]


def test_read_commands_change_nothing(gm, repo: Path) -> None:
    build_history(repo)
    before = file_contents(repo)
    status = git("status", "--porcelain")
    for args in (["metrics", "show", "-T"], ["metrics", "diff", "clf@v1.0.0"], ["params", "diff"],
                 ["metrics", "show", "bad-rev"]):
        gm(*args)
    assert file_contents(repo) == before and git("status", "--porcelain") == status


def test_show_all_tags_500_versions(gm, repo: Path) -> None:
    """The speed case of the issue (500 tagged versions); no timing asserted here, see docs/metrics.md."""
    build_many_versions(repo, 500)
    r = gm("metrics", "show", "--all-tags", "--model", "clf", "--json")
    assert r.code == 0, r
    revs = json.loads(r.out)["revisions"]
    assert len(revs) == 500 and revs[0]["rev"] == "clf@v1.0.0" and revs[-1]["rev"] == "clf@v1.499.0"
    assert revs[-1]["files"]["metrics.json"]["values"]["accuracy"] == 0.5 + 499 / 1000
    r = gm("metrics", "show", "-T")
    assert r.code == 0 and len(r.out.splitlines()) == 2 + 500


def test_nan_tiny_and_non_numeric_values(gm, repo: Path) -> None:
    set_config(repo, '[metrics]\nfiles = ["m.json"]')
    write(repo, "m.json", '{"loss": NaN, "lr": 1e-07, "ok": true, "hist": [1, 2]}')
    commit_without_hooks(repo, "c")
    write(repo, "m.json", '{"loss": 0.5, "lr": 2e-07, "ok": 1, "hist": [1, 3]}')
    r = gm("metrics", "show", "HEAD", "--json")
    values = json.loads(r.out)["revisions"][0]["files"]["m.json"]["values"]  # strict JSON: NaN as text
    assert values == {"loss": "NaN", "lr": 1e-07, "ok": True, "hist": [1, 2]}
    r = gm("metrics", "diff")
    rows = {line.split()[1]: line.split()[2:] for line in r.out.splitlines()[1:]}
    assert rows["loss"] == ["nan", "0.5", "-"]  # not diffed
    assert rows["lr"] == ["1e-07", "2e-07", "+1e-07", "(+100.00%)"]  # not rounded away
    assert rows["ok"] == ["true", "1", "-"] and rows["hist"] == ["[1,2]", "[1,3]", "-"]


def test_a_bad_model_declaration_is_the_same_one_line_error_everywhere(gm, repo: Path) -> None:
    """One parser of model declarations (the registry's): metrics does not
    silently skip or accept what `model list`, `versions` and `tag` refuse."""
    for decl, needle in (('[model.clf]\nmetrics = "metrics.json"', "[model.clf] has no `path`"),
                         ('[model.clf]\npath = "models/clf.pkl"\nmetrics = ["a.json", "b.json"]',
                          "[model.clf] metrics must be a path"),
                         ('[model]\nclf = "models/clf.pkl"', "[model.clf] must be a table")):
        config = repo / ".gitmodel" / "config.toml"
        before = config.read_text()
        set_config(repo, decl)
        errors = set()
        for args in (["metrics", "show"], ["params", "show"], ["metrics", "diff"], ["model", "list"],
                     ["versions", "clf"], ["tag", "clf", "v1.0.0"]):
            r = gm(*args)
            lines = r.err.strip().splitlines()
            assert r.code == 1 and len(lines) == 1 and needle in lines[0] and "Traceback" not in r.err, (args, r)
            errors.add(lines[0])
        assert len(errors) == 1, errors  # word for word the same
        config.write_text(before)


def test_all_tags_reads_registry_tags_as_the_registry_does(gm, repo: Path) -> None:
    """`--all-tags`: a registry tag counts as the registry reads it (only an
    active version's annotated registration), any other git tag as itself,
    ordered by commit time, then by version precedence."""
    build_history(repo, upto=2)
    git("tag", "clf@v9.0.0", "clf@v1.1.0^{commit}")  # lightweight: not a version for GTO, nor here
    git("tag", "-a", "clf@v1.0.0!#3", "-m", "Deregister", "clf@v1.0.0^{commit}")  # GTO's counter after `!`
    git("tag", "-a", "clf@created", "-m", "GTO's creation event", "clf@v1.0.0^{commit}")
    for foreign in ("1.10.0", "1.9.0"):
        git("tag", foreign, "clf@v1.1.0^{commit}")  # outside the grammar: plain git tags, listed
    r = gm("metrics", "show", "-T", "--json")
    assert r.code == 0, r
    assert [x["rev"] for x in json.loads(r.out)["revisions"]] == ["1.9.0", "1.10.0", "clf@v1.1.0"]
    assert [v["version"] for v in json.loads(gm("versions", "clf", "--json").out)] == ["v1.1.0"]
