"""Version references everywhere a revision is taken, and a clone that
fetched only the tags."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gitmodel.errors import GitmodelError
from gitmodel.git import revs
from gitmodel.repo import Repo
from tests.support.cli import GM, gm_run
from tests.support.git import git


def _version(root: Path, gm: GM, content: str, version: str, acc: float) -> str:
    (root / "models").mkdir(exist_ok=True)
    (root / "models" / "clf.pkl").write_text(content)
    (root / "metrics.json").write_text(json.dumps({"acc": acc}))
    assert gm("add", "models/clf.pkl").code == 0
    git("add", "-A", cwd=root)
    git("commit", "-q", "-m", f"train {version}", cwd=root)
    if version == "v1.0.0":
        assert gm("model", "add", "clf", "models/clf.pkl", "--metrics", "metrics.json").code == 0
    r = gm("tag", "clf", version)
    assert r.code == 0, r
    return git("rev-parse", "HEAD", cwd=root).strip()


@pytest.fixture
def versions(repo: Path, gm: GM) -> dict[str, str]:
    """v1.0.0 and v1.2.0 on main, v1.1.0 on a branch; prod = v1.1.0 then v1.0.0."""
    c = {"v1.0.0": _version(repo, gm, "one", "v1.0.0", 0.7)}
    git("commit", "-q", "-m", "declare", cwd=repo)
    git("checkout", "-q", "-b", "exp", cwd=repo)
    c["v1.1.0"] = _version(repo, gm, "two", "v1.1.0", 0.8)
    git("checkout", "-q", "main", cwd=repo)
    assert gm("checkout", "--force").code == 0
    c["v1.2.0"] = _version(repo, gm, "three", "v1.2.0", 0.9)
    for v in ("v1.1.0", "v1.0.0"):
        assert gm("promote", "clf", v, "prod").code == 0
    assert gm("promote", "clf", "v1.2.0", "staging").code == 0
    return c


def test_references_resolve_to_the_versions_commits(repo: Path, versions: dict[str, str]) -> None:
    r = Repo.discover()
    for ref, version in (("clf@v1.0.0", "v1.0.0"), ("clf@v1.1.0", "v1.1.0"), ("clf@latest", "v1.2.0"),
                         ("clf@greatest", "v1.2.0"), ("clf#prod", "v1.0.0"), ("clf#staging", "v1.2.0")):
        assert str(revs.resolve_commit(r, ref).id) == versions[version], ref
    # Every reader of revisions goes through resolve_commit.
    assert revs.pointer_at(r, "clf#prod", "models/clf.pkl").size == len("one")
    assert revs.pointers_at(r, "clf@v1.1.0")["models/clf.pkl"].size == len("two")
    # git revisions still work, including the exact tag names
    assert str(revs.resolve_commit(r, "exp").id) == versions["v1.1.0"]
    assert str(revs.resolve_commit(r, "clf#prod#2").id) == versions["v1.0.0"]


def test_unknown_references_are_one_clear_line(repo: Path, versions: dict[str, str]) -> None:
    r = Repo.discover()
    with pytest.raises(GitmodelError, match=r"clf@v9\.0\.0: model 'clf' has no version v9\.0\.0 \(newest: v1\.2\.0"):
        revs.resolve_commit(r, "clf@v9.0.0")
    with pytest.raises(GitmodelError, match="no version of clf is in stage dev"):
        revs.resolve_commit(r, "clf#dev")
    with pytest.raises(GitmodelError, match="other@latest: model 'other' has no versions"):
        revs.resolve_commit(r, "other@latest")


def test_a_branch_that_looks_like_a_reference_still_resolves(repo: Path, versions: dict[str, str]) -> None:
    git("branch", "feature@latest", versions["v1.1.0"], cwd=repo)
    assert str(revs.resolve_commit(Repo.discover(), "feature@latest").id) == versions["v1.1.0"]


def test_stage_reassignment_is_the_deploy_side_rollback(repo: Path, gm: GM, versions: dict[str, str]) -> None:
    r = gm("history", "clf", "--json")
    prod = [(e["event"], e["version"]) for e in json.loads(r.out) if e["stage"] == "prod"]
    assert prod == [("assign", "v1.0.0"), ("assign", "v1.1.0")]  # newest first
    assert gm("promote", "clf", "clf@v1.1.0", "prod").code == 0
    assert str(revs.resolve_commit(Repo.discover(), "clf#prod").id) == versions["v1.1.0"]


def test_a_clone_that_fetched_only_the_tags(repo: Path, gm: GM, versions: dict[str, str], tmp_path: Path) -> None:
    clone = tmp_path / "tags-only"
    git("init", "-q", str(clone))
    git("fetch", "-q", str(repo), "refs/tags/*:refs/tags/*", cwd=clone)
    assert git("branch", cwd=clone) == ""  # no branch, no work tree files, no gitmodel config
    r = gm("versions", "clf", "--json", cwd=clone)
    assert r.code == 0, r
    rows = json.loads(r.out)
    assert [(x["version"], x["stages"]) for x in rows] == [("v1.2.0", ["staging"]), ("v1.1.0", []),
                                                            ("v1.0.0", ["prod"])]
    assert rows[0]["metrics"] == {"acc": 0.9} and rows[0]["artifact"]["size"] == len("three")
    r = gm("show", "clf#prod", "--json", cwd=clone)
    assert r.code == 0, r
    assert json.loads(r.out)["commit"] == versions["v1.0.0"]
    r = gm("history", "--json", cwd=clone)
    assert r.code == 0 and len(json.loads(r.out)) == 6, r
    assert revs.pointer_at(Repo.discover(str(clone)), "clf@latest", "models/clf.pkl").size == len("three")
    # Stages are only tags: they can be moved from such a clone too.
    r = gm("promote", "clf", "v1.2.0", "prod", cwd=clone)
    assert r.code == 0 and "clf#prod#4" in r.out, r
    r = gm("show", "clf#prod", "--json", cwd=clone)
    assert json.loads(r.out)["version"] == "v1.2.0"


def test_references_reach_the_cli_through_gm_run(repo: Path, versions: dict[str, str]) -> None:
    # The in-process CLI from another folder of the repository.
    (repo / "sub").mkdir()
    r = gm_run(["show", "clf@latest", "--json"], cwd=repo / "sub")
    assert r.code == 0 and json.loads(r.out)["version"] == "v1.2.0", r
