"""`gitmodel diff A B`: artifacts (size, oid, folder contents), data, params and metrics in one report."""

from __future__ import annotations

import json
import os
from pathlib import Path

from gitmodel.git.revs import pointer_at
from gitmodel.repo import Repo
from gitmodel.store import pointer as ptr
from tests.support.files import write
from tests.support.git import gm_add
from tests.support.metrics import build_history


def test_diff_json_between_versions(gm, repo: Path) -> None:
    commits = build_history(repo, upto=2)
    r = gm("diff", "clf@v1.0.0", "clf@v1.1.0", "--json")
    assert r.code == 0, r
    d = json.loads(r.out)
    assert d["base"] == {"rev": "clf@v1.0.0", "commit": commits["clf@v1.0.0"]}
    assert d["head"] == {"rev": "clf@v1.1.0", "commit": commits["clf@v1.1.0"]}
    arts = {a["path"]: a for a in d["artifacts"]}
    assert set(arts) == {"models/clf.pkl", "data/train"}
    model = arts["models/clf.pkl"]
    old = pointer_at(Repo.discover(str(repo)), "clf@v1.0.0", "models/clf.pkl")
    assert model["status"] == "modified" and model["roles"] == ["model clf"]
    assert model["old"] == {"oid": old.oid, "size": 7, "kind": "file"} and model["new"]["size"] == 7
    data = arts["data/train"]
    assert data["roles"] == ["data of clf"] and data["kind"] == "dir"
    assert (data["files_added"], data["files_removed"], data["files_modified"]) == (["c.csv"], ["a.csv"], ["b.csv"])
    assert data["old"]["files"] == 2 and data["new"]["files"] == 2
    assert [(p["key"], p["old"], p["new"]) for p in d["params"]] == [("train.lr", 0.01, 0.005)]
    metrics = {c["key"]: c for c in d["metrics"]}
    assert metrics["accuracy"]["verdict"] == "better" and metrics["loss"]["verdict"] == "worse"
    assert metrics["loss"]["direction"] == "lower" and metrics["eval.f1"]["verdict"] == "same"
    assert d["errors"] == [] and d["gates"] == [] and d["passed"] is True


def test_diff_text_groups_models_and_data(gm, repo: Path) -> None:
    build_history(repo, upto=2)
    r = gm("diff", "clf@v1.0.0", "clf@v1.1.0")
    assert r.code == 0, r
    out = r.out
    assert out.index("Models:") < out.index("Data:") < out.index("Params:") < out.index("Metrics:")
    data_line = next(line for line in out.splitlines() if line.strip().startswith("data/train/"))
    assert "modified: 1 added, 1 removed, 1 modified" in data_line and "data of clf" in data_line
    acc = next(line for line in out.splitlines() if " accuracy " in line).split()
    assert acc == ["metrics.json", "accuracy", "0.91", "0.93", "+0.02", "(+2.20%)", "better"]


def test_diff_against_workspace_and_other_tracked_files(gm, repo: Path) -> None:
    build_history(repo, upto=1)
    write(repo, "extra/blob.bin", "zzz")
    gm_add(repo, "extra/blob.bin")
    r = gm("diff", "--json")
    d = json.loads(r.out)
    assert d["base"]["rev"] == "HEAD" and d["head"] == {"rev": "workspace", "commit": None}
    assert [(a["path"], a["status"], a["roles"]) for a in d["artifacts"]] == [("extra/blob.bin", "added", [])]
    text = gm("diff").out
    assert "Other tracked files:" in text and "extra/blob.bin" in text and "added" in text


def test_diff_unchanged_only_with_all(gm, repo: Path) -> None:
    build_history(repo, upto=1)
    d = json.loads(gm("diff", "HEAD", "HEAD", "--json").out)
    assert d["artifacts"] == [] and d["params"] == []
    d = json.loads(gm("diff", "HEAD", "HEAD", "--json", "--all").out)
    assert {a["status"] for a in d["artifacts"]} == {"unchanged"} and len(d["artifacts"]) == 2


def test_diff_folder_whose_manifest_is_not_cached(gm, repo: Path) -> None:
    build_history(repo, upto=2)
    r0 = Repo.discover(str(repo))
    old = pointer_at(r0, "clf@v1.0.0", "data/train")
    path = r0.cache.path(old.oid)
    os.chmod(os.path.dirname(path), 0o755)
    os.remove(path)
    r = gm("diff", "clf@v1.0.0", "clf@v1.1.0", "--json")
    assert r.code == 0, r
    data = next(a for a in json.loads(r.out)["artifacts"] if a["path"] == "data/train")
    assert "files_added" not in data and "gitmodel fetch data/train" in data["note"]
    assert "gitmodel fetch data/train" in gm("diff", "clf@v1.0.0", "clf@v1.1.0").out


def test_diff_markdown(gm, repo: Path) -> None:
    build_history(repo, upto=2)
    r = gm("diff", "clf@v1.0.0", "clf@v1.1.0", "--md")
    assert r.out.startswith("<!-- gitmodel-report -->\n## gitmodel diff\n")
    assert "| data/train/ | data of clf | modified: 1 added, 1 removed, 1 modified |" in r.out


def test_diff_bad_pointer_at_a_revision_is_one_line(gm, repo: Path) -> None:
    build_history(repo, upto=1)
    (repo / ptr.pointer_path("models/clf.pkl")).write_text("garbage\n")
    r = gm("diff")
    assert r.code == 1 and r.err.count("\n") == 1 and "models/clf.pkl.gm" in r.err
