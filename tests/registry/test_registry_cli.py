"""model add / tag / promote / deprecate / versions / show / history on real
repositories, with versions on several branches, and every bad input: one
line, exit 1, nothing written."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli import GM, Result
from tests.support.git import git


def _train(root: Path, gm: GM, model: str, acc: float, data: str | None = None, msg: str = "train") -> str:
    """Write a model, its metrics (and data), record them, commit; returns the commit."""
    (root / "models").mkdir(exist_ok=True)
    (root / "data").mkdir(exist_ok=True)
    (root / "models" / "clf.pkl").write_text(model)
    (root / "metrics.json").write_text(json.dumps({"acc": acc, "loss": round(1 - acc, 3), "notes": "x"}))
    (root / "params.yaml").write_text(f"train:\n  lr: {acc / 10}\n  depth: 4\n")
    paths = ["models/clf.pkl"]
    if data is not None:
        (root / "data" / "train.csv").write_text(data)
        paths.append("data/train.csv")
    r = gm("add", *paths)
    assert r.code == 0, r
    git("add", "-A", cwd=root)
    git("commit", "-q", "-m", msg, cwd=root)
    return git("rev-parse", "HEAD", cwd=root).strip()


@pytest.fixture
def clf(repo: Path, gm: GM) -> Path:
    """A repository with model clf declared and trained once (not tagged)."""
    _train(repo, gm, "model-1", 0.80, data="a,b\n1,2\n")
    r = gm("model", "add", "clf", "models/clf.pkl", "--data", "data/train.csv", "--params", "params.yaml",
           "--metrics", "metrics.json")
    assert r.code == 0, r
    git("commit", "-q", "-m", "declare clf", cwd=repo)
    return repo


def _snapshot_of_repo(root: Path) -> tuple[str, str, str, str]:
    """Everything a refused command must leave as it was."""
    return (git("for-each-ref", "--format=%(refname) %(objectname)", cwd=root),
            (root / ".gitmodel" / "config.toml").read_text(),
            git("status", "--porcelain", "--untracked-files=all", cwd=root),
            git("ls-files", "-s", cwd=root))


def _refused(gm: GM, root: Path, *args: str, match: str) -> Result:
    before = _snapshot_of_repo(root)
    r = gm(*args)
    assert r.code == 1, r
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and match in lines[0], r
    assert _snapshot_of_repo(root) == before, f"{args} changed the repository"
    return r


def test_versions_across_branches_and_stages(clf: Path, gm: GM) -> None:
    repo = clf
    c1 = git("rev-parse", "HEAD", cwd=repo).strip()
    r = gm("tag", "clf", "v1.0.0", "-m", "baseline")
    assert r.code == 0, r
    assert "created tag clf@v1.0.0" in r.out
    # v1.1.0 is trained on a branch and tagged from there.
    git("checkout", "-q", "-b", "experiment", cwd=repo)
    c2 = _train(repo, gm, "model-2", 0.90, data="a,b\n1,2\n3,4\n")
    r = gm("tag", "clf", "--bump", "minor")
    assert r.code == 0, r
    assert "clf@v1.1.0" in r.out
    git("checkout", "-q", "main", cwd=repo)
    assert gm("checkout", "--force").code == 0  # no hooks installed here: bring main's files back
    # Back on main, a patch on top of v1.0.0, tagged with --rev.
    c3 = _train(repo, gm, "model-1b", 0.82, msg="patch")
    git("checkout", "-q", "HEAD~1", cwd=repo)
    r = gm("tag", "clf", "v1.0.1", "--rev", "main")
    assert r.code == 0, r
    git("checkout", "-q", "main", cwd=repo)

    for args in (("clf", "v1.0.0", "prod"), ("clf", "v1.1.0", "staging"), ("clf", "v1.1.0", "prod"),
                 ("clf", "v1.0.0", "prod")):  # the last one: deploy-side rollback
        r = gm("promote", *args)
        assert r.code == 0, r
    tags = git("tag", "-l", "clf#*", cwd=repo).split()
    assert sorted(tags) == ["clf#prod#1", "clf#prod#3", "clf#prod#4", "clf#staging#2"]

    r = gm("versions", "clf", "--json")
    assert r.code == 0, r
    rows = json.loads(r.out)
    assert [x["version"] for x in rows] == ["v1.0.1", "v1.1.0", "v1.0.0"]
    by = {x["version"]: x for x in rows}
    assert by["v1.0.0"]["stages"] == ["prod"] and by["v1.1.0"]["stages"] == ["staging"]
    assert [by[v]["commit"] for v in ("v1.0.0", "v1.1.0", "v1.0.1")] == [c1, c2, c3]
    assert by["v1.1.0"]["key_metrics"] == {"acc": 0.9, "loss": 0.1}
    assert by["v1.1.0"]["artifact"]["size"] == len("model-2") and by["v1.1.0"]["author"] == "Test"

    r = gm("versions", "clf")
    assert r.code == 0, r
    assert r.out.splitlines()[0] == "clf  [prod=v1.0.0, staging=v1.1.0]"
    assert "acc=0.9 loss=0.1" in r.out and "VERSION" in r.out

    r = gm("show", "clf@v1.1.0", "--json")
    assert r.code == 0, r
    info = json.loads(r.out)
    pointer = git("show", "clf@v1.1.0:models/clf.pkl.gm", cwd=repo)
    assert f"oid {info['artifact']['oid']}" in pointer
    assert info["recorded"] is True and info["message"] == "Registering artifact clf version v1.1.0"
    lineage = info["lineage"]
    assert lineage["params"] == {"train.lr": 0.09, "train.depth": 4}
    assert lineage["data"][0]["path"] == "data/train.csv" and lineage["data"][0]["kind"] == "file"
    data_pointer = git("show", f"{c2}:data/train.csv.gm", cwd=repo)
    assert f"oid {lineage['data'][0]['oid']}" in data_pointer
    assert [e["tag"] for e in info["stage_history"]] == ["clf#staging#2", "clf#prod#3"]

    r = gm("show", "clf#prod")
    assert r.code == 0, r
    assert r.out.startswith("clf v1.0.0\n") and "message  baseline" in r.out and "acc = 0.8" in r.out

    r = gm("history", "clf", "--json")
    assert r.code == 0, r
    events = json.loads(r.out)
    assert [(e["event"], e["version"], e["stage"]) for e in events][:4] == [
        ("assign", "v1.0.0", "prod"), ("assign", "v1.1.0", "prod"), ("assign", "v1.1.0", "staging"),
        ("assign", "v1.0.0", "prod")]
    assert {e["event"] for e in events[4:]} == {"register"}
    r = gm("history")
    assert r.code == 0 and "clf#prod#4" in r.out.splitlines()[1]


def test_default_versions_and_bumps(clf: Path, gm: GM) -> None:
    r = gm("tag", "clf")
    assert r.code == 0 and "clf@v0.0.1" in r.out, r
    made = ["v0.0.1"]
    for i, (bump, expected) in enumerate([("patch", "v0.0.2"), ("minor", "v0.1.0"), ("major", "v1.0.0")]):
        _train(clf, gm, f"m{i}", 0.5 + i / 10)
        r = gm("tag", "clf", "--bump", bump)
        assert r.code == 0 and f"clf@{expected}" in r.out, r
        made.append(expected)
    _train(clf, gm, "m-rc", 0.95)
    assert gm("tag", "clf", "v2.0.0-rc.1").code == 0
    _train(clf, gm, "m-final", 0.96)
    r = gm("tag", "clf")  # the release a pre-release led to
    assert r.code == 0 and "clf@v2.0.0" in r.out, r
    r = gm("versions", "clf", "--json")
    assert [x["version"] for x in json.loads(r.out)] == ["v2.0.0", "v2.0.0-rc.1", *reversed(made)]


def test_path_on_the_first_tag_declares_the_model(repo: Path, gm: GM) -> None:
    _train(repo, gm, "weights", 0.7)
    r = gm("tag", "clf", "v1.0.0", "--path", "models/clf.pkl")
    assert r.code == 0, r
    assert "declared model clf" in r.out
    assert '[model.clf]\npath = "models/clf.pkl"' in (repo / ".gitmodel" / "config.toml").read_text()
    assert "M  .gitmodel/config.toml" in git("status", "--porcelain", cwd=repo)
    r = gm("model", "list", "--json")
    assert json.loads(r.out) == [{"name": "clf", "path": "models/clf.pkl", "data": [], "params": None,
                                  "metrics": None}]


def test_deprecate_unassign_deregister(clf: Path, gm: GM) -> None:
    assert gm("tag", "clf", "v1.0.0").code == 0
    _train(clf, gm, "two", 0.9)
    assert gm("tag", "clf", "v2.0.0").code == 0
    assert gm("promote", "clf", "v1.0.0", "prod").code == 0
    assert gm("promote", "clf", "latest", "prod").code == 0
    # Unassigning the holder hands the stage back to the previous one (GTO's rule).
    r = gm("deprecate", "clf", "--stage", "prod")
    assert r.code == 0 and "clf#prod!#3" in r.out, r
    r = gm("show", "clf#prod", "--json")
    assert json.loads(r.out)["version"] == "v1.0.0"
    # A deregistered version leaves listings and references.
    r = gm("deprecate", "clf", "v1.0.0")
    assert r.code == 0 and "clf@v1.0.0!" in r.out, r
    r = gm("versions", "clf", "--json")
    assert [x["version"] for x in json.loads(r.out)] == ["v2.0.0"]
    r = gm("versions", "clf", "--all", "--json")
    assert [(x["version"], x["deregistered"]) for x in json.loads(r.out)] == [("v2.0.0", False), ("v1.0.0", True)]
    r = gm("show", "clf@v1.0.0")  # still shown, marked
    assert r.code == 0 and r.out.startswith("clf v1.0.0  (deregistered)"), r
    r = gm("tag", "clf", "v9.0.0", "--rev", "clf@v1.0.0")  # but no longer a reference
    assert r.code == 1 and "was deregistered" in r.err
    r = gm("show", "clf#prod")
    assert r.code == 1 and "no version of clf is in stage prod" in r.err
    r = gm("deprecate", "clf")
    assert r.code == 0 and "clf@deprecated" in r.out, r
    r = gm("versions")
    assert r.out.startswith("clf (deprecated)")
    _refused(gm, clf, "deprecate", "clf", match="deprecated already")
    # Registering again revives it; deprecating again needs GTO's counter.
    _train(clf, gm, "three", 0.95)
    assert gm("tag", "clf", "v3.0.0").code == 0
    r = gm("deprecate", "clf")
    assert r.code == 0 and "clf@deprecated#4" in r.out, r
    # The next default version skips the deregistered ones' names too.
    assert gm("deprecate", "clf", "v3.0.0").code == 0
    _train(clf, gm, "four", 0.97)
    r = gm("tag", "clf")
    assert r.code == 0 and "clf@v3.0.1" in r.out, r


def test_stage_names_limited_by_config(clf: Path, gm: GM) -> None:
    assert gm("tag", "clf", "v1.0.0").code == 0
    with open(clf / ".gitmodel" / "config.toml", "a") as f:
        f.write('\n[registry]\nstages = ["dev", "prod"]\n')
    git("commit", "-q", "-am", "stages", cwd=clf)
    _refused(gm, clf, "promote", "clf", "v1.0.0", "qa", match="stage 'qa' is not allowed here")
    assert gm("promote", "clf", "v1.0.0", "dev").code == 0


def test_bad_input_is_refused_and_changes_nothing(clf: Path, gm: GM) -> None:
    repo = clf
    first = git("rev-list", "--max-parents=0", "HEAD", cwd=repo).strip()
    assert gm("tag", "clf", "v1.0.0").code == 0
    _refused(gm, repo, "tag", "nope", "v1.0.0", match="unknown model 'nope'")
    _refused(gm, repo, "tag", "Clf", "v1.0.0", match="model name 'Clf' is not valid")
    _refused(gm, repo, "tag", "clf", "1.2.0", match="did you mean v1.2.0?")
    _refused(gm, repo, "tag", "clf", "v1.2", match="is not valid")
    _refused(gm, repo, "tag", "clf", "v2.0.0", "--bump", "minor", match="not both")
    _refused(gm, repo, "tag", "clf", "--bump", "huge", match="--bump 'huge'")
    _refused(gm, repo, "tag", "clf", "v1.0.0", match="clf@v1.0.0 exists already")
    _refused(gm, repo, "tag", "clf", "v1.0.1", match="is version v1.0.0 of clf already")
    _refused(gm, repo, "tag", "clf", "v0.9.0", "--rev", "nowhere", match="unknown revision 'nowhere'")
    # a commit that lacks the artifact (an empty tree)
    empty_tree = git("hash-object", "-t", "tree", "/dev/null", cwd=repo).strip()
    bare = git("commit-tree", empty_tree, "-p", first, "-m", "no model here", cwd=repo).strip()
    _refused(gm, repo, "tag", "clf", "v0.1.0", "--rev", bare, match="has no models/clf.pkl.gm")
    # the artifact modified in the workspace and not re-added
    (repo / "models" / "clf.pkl").write_text("retrained, not added")
    _refused(gm, repo, "tag", "clf", "v2.0.0", match="models/clf.pkl is modified and not re-added")
    # re-added, but the pointer is not committed
    assert gm("add", "models/clf.pkl").code == 0
    _refused(gm, repo, "tag", "clf", "v2.0.0", match="models/clf.pkl.gm has changes that are not committed")
    git("commit", "-q", "-m", "retrained", cwd=repo)
    _refused(gm, repo, "tag", "clf", "v2.0.0", "--path", "elsewhere.pkl", match="elsewhere.pkl is not tracked")
    _refused(gm, repo, "promote", "clf", "v9.0.0", "prod", match="has no version v9.0.0")
    _refused(gm, repo, "promote", "clf", "9.0.0", "prod", match="did you mean v9.0.0?")
    _refused(gm, repo, "promote", "nope", "v1.0.0", "prod", match="model 'nope' has no versions")
    _refused(gm, repo, "promote", "clf", "v1.0.0", "Prod", match="stage name 'Prod' is not valid")
    assert gm("promote", "clf", "v1.0.0", "prod").code == 0
    _refused(gm, repo, "promote", "clf", "v1.0.0", "prod", match="in stage prod already")
    _refused(gm, repo, "deprecate", "clf", "--stage", "dev", match="no version of clf is in stage dev")
    _refused(gm, repo, "deprecate", "clf", "v5.0.0", match="has no version v5.0.0")
    _refused(gm, repo, "deprecate", "nope", match="model 'nope' has no version tags")
    _refused(gm, repo, "show", "clf@v7.0.0", match="has no version v7.0.0")
    _refused(gm, repo, "show", "nothing-here", match="neither a model with versions nor a version reference")
    _refused(gm, repo, "history", "nope", match="model 'nope' has no version tags")
    _refused(gm, repo, "versions", "nope", match="unknown model 'nope'")
    _refused(gm, repo, "model", "add", "clf", "params.yaml", match="params.yaml is not tracked by gitmodel")
    _refused(gm, repo, "model", "add", "other", "models/clf.pkl", "--data", "missing.csv",
             match="data missing.csv: no such file")
    _refused(gm, repo, "model", "add", "clf", "models/clf.pkl", match="already declared")


def test_model_add_is_idempotent_and_replace_changes_it(clf: Path, gm: GM) -> None:
    r = gm("model", "add", "clf", "models/clf.pkl", "--data", "data/train.csv", "--params", "params.yaml",
           "--metrics", "metrics.json")
    assert r.code == 0 and "nothing to do" in r.out, r
    r = gm("model", "add", "clf", "models/clf.pkl", "--replace")
    assert r.code == 0, r
    r = gm("model", "list")
    assert r.code == 0 and r.out.splitlines()[1].split() == ["clf", "models/clf.pkl", "-", "-", "-"]


def test_tags_outside_the_grammar_are_ignored(clf: Path, gm: GM) -> None:
    assert gm("tag", "clf", "v1.0.0").code == 0
    for name in ("release-1", "clf@1.0", "clf#prod#x", "v2"):
        git("tag", "-a", "-m", "foreign", name, cwd=clf)
    git("tag", "clf@v5.0.0", cwd=clf)  # lightweight: no author, no date, not a version
    r = gm("versions", "--json")
    assert r.code == 0 and [x["version"] for x in json.loads(r.out)] == ["v1.0.0"]
    r = gm("history", "--json")
    assert r.code == 0 and [e["tag"] for e in json.loads(r.out)] == ["clf@v1.0.0"]


def test_nothing_yet(repo: Path, gm: GM) -> None:
    r = gm("versions")
    assert r.code == 0 and "no versions yet" in r.out
    r = gm("history")
    assert r.code == 0 and "no registry tags yet" in r.out
    r = gm("model", "list")
    assert r.code == 0 and "no models declared" in r.out


@pytest.fixture
def remotes(clf: Path, tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """A bare git remote (origin) and a local folder object remote."""
    bare = tmp_path / "origin.git"
    git("init", "-q", "--bare", str(bare))
    git("remote", "add", "origin", str(bare), cwd=clf)
    store = tmp_path / "store"
    store.mkdir()
    with open(clf / ".gitmodel" / "config.toml", "a") as f:
        f.write(f'\n[remote.store]\nurl = "{store}"\n')
    git("commit", "-q", "-am", "remote", cwd=clf)
    yield bare, store


def test_push_sends_objects_then_the_tag(clf: Path, gm: GM, remotes: tuple[Path, Path]) -> None:
    bare, store = remotes
    assert gm("install-hooks").code == 0  # git's pre-push hook runs gitmodel too: no deadlock on the lock
    r = gm("tag", "clf", "v1.0.0", "--push")
    assert r.code == 0, r
    assert "pushed" in r.out
    assert git("tag", "-l", cwd=bare).split() == ["clf@v1.0.0"]
    oid = git("show", "HEAD:models/clf.pkl.gm", cwd=clf).split("oid xxh128:")[1].split()[0]
    assert any(oid[2:] in p.name for p in store.rglob("*")), "the artifact object was not uploaded"
    r = gm("promote", "clf", "v1.0.0", "prod", "--push")
    assert r.code == 0, r
    assert sorted(git("tag", "-l", cwd=bare).split()) == ["clf#prod#1", "clf@v1.0.0"]


def test_lineage_names_the_data_versions(clf: Path, gm: GM) -> None:
    # The training data is a registered artifact of its own.
    r = gm("model", "add", "dataset", "data/train.csv")
    assert r.code == 0, r
    git("commit", "-q", "-am", "declare dataset", cwd=clf)
    assert gm("tag", "dataset", "v1.0.0").code == 0
    assert gm("tag", "clf", "v1.0.0", "--rev", "HEAD~1").code == 0
    r = gm("show", "clf@v1.0.0", "--json")
    assert r.code == 0, r
    data = json.loads(r.out)["lineage"]["data"]
    assert [(d["path"], d["versions"]) for d in data] == [("data/train.csv", ["dataset@v1.0.0"])]
    r = gm("show", "clf@v1.0.0")
    assert "data     data/train.csv" in r.out and "= dataset@v1.0.0" in r.out
    assert "train.lr = 0.08" in r.out


def test_read_functions_return_typed_results_and_json_is_built_from_them(clf: Path, gm: GM) -> None:
    """`list_versions`, `history` and `show` return dataclasses; `--json`
    prints their `to_json()`, key for key in the same order."""
    from gitmodel.registry import show as showing
    from gitmodel.registry import state as registry
    from gitmodel.registry.grammar import Action
    from gitmodel.repo import Repo

    assert gm("tag", "clf", "v1.0.0").code == 0
    assert gm("promote", "clf", "v1.0.0", "prod").code == 0
    repo = Repo.discover(str(clf))
    versions = registry.list_versions(repo)
    assert [type(v) for v in versions] == [registry.VersionInfo]
    assert versions[0].version == "v1.0.0" and versions[0].stages == ["prod"]
    assert versions[0].artifact is not None and versions[0].artifact.path == "models/clf.pkl"
    events = registry.history(repo, "clf")
    assert [(type(e), e.event) for e in events] == [(registry.EventInfo, Action.ASSIGN),
                                                    (registry.EventInfo, Action.REGISTER)]
    shown = showing.show(repo, "clf#prod")
    assert isinstance(shown, showing.ShowInfo) and shown.info.version == "v1.0.0" and shown.recorded
    assert [e.stage for e in shown.stage_history] == ["prod"]
    for args, typed in ((["versions"], [v.to_json() for v in versions]),
                        (["history", "clf"], [e.to_json() for e in events]),
                        (["show", "clf#prod"], shown.to_json())):
        r = gm(*args, "--json")
        assert r.code == 0, r
        assert r.out == json.dumps(typed, indent=2) + "\n"
