"""The GTO tag grammar, semver precedence, version references, and a
repository tagged the way GTO tags (plain `git tag -a` with GTO's names and
messages) read back correctly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gitmodel.registry import grammar as tagname
from gitmodel.registry import resolve as refs
from gitmodel.registry import snapshot
from gitmodel.registry import state as registry
from gitmodel.registry.grammar import Action, SemVer, TagName, parse_tag
from gitmodel.repo import Repo
from tests.support.git import git


@pytest.mark.parametrize("name, expected", [
    ("clf@v1.2.0", TagName(Action.REGISTER, "clf", version="v1.2.0")),
    ("clf@v1.2.0!", TagName(Action.DEREGISTER, "clf", version="v1.2.0")),
    ("clf#prod#3", TagName(Action.ASSIGN, "clf", stage="prod", counter=3)),
    ("clf#prod!#4", TagName(Action.UNASSIGN, "clf", stage="prod", counter=4)),
    ("clf#prod", TagName(Action.ASSIGN, "clf", stage="prod")),
    ("clf@deprecated", TagName(Action.DEPRECATE, "clf")),
    ("clf@deprecated#7", TagName(Action.DEPRECATE, "clf", counter=7)),
    ("clf@created", TagName(Action.CREATE, "clf")),
    ("clf@v1.0.0#2", TagName(Action.REGISTER, "clf", version="v1.0.0", counter=2)),
    ("team/clf-small@v2.0.0-rc.1+build.5", TagName(Action.REGISTER, "team/clf-small", version="v2.0.0-rc.1+build.5")),
    ("models=clf@v0.0.1", TagName(Action.REGISTER, "models:clf", version="v0.0.1")),
    ("a1#stage-2/x#10", TagName(Action.ASSIGN, "a1", stage="stage-2/x", counter=10)),
])
def test_tag_names_parse_and_format_back(name: str, expected: TagName) -> None:
    assert parse_tag(name) == expected
    assert expected.format() == name


@pytest.mark.parametrize("name", [
    "v1.0.0", "release-1", "clf@1.0.0", "Clf@v1.0.0", "clf@v01.0.0", "clf@v1.0", "clf#prod#x",
    "clf@latest", "clf#Prod#1", "-clf@v1.0.0", "clf-@v1.0.0", "clf@v1.0.0!!", "clf##1", "clf@v1.0.0 ",
])
def test_names_outside_the_grammar_are_not_registry_tags(name: str) -> None:
    assert parse_tag(name) is None


def test_semver_precedence_and_bumps() -> None:
    ordered = ["v1.0.0-alpha", "v1.0.0-alpha.1", "v1.0.0-alpha.beta", "v1.0.0-beta", "v1.0.0-beta.2",
               "v1.0.0-beta.11", "v1.0.0-rc.1", "v1.0.0", "v1.0.1", "v1.1.0", "v1.10.0", "v2.0.0"]
    parsed = [SemVer.parse(v) for v in ordered]
    assert all(p is not None for p in parsed)
    keys = [p.key() for p in parsed if p is not None]
    assert keys == sorted(keys)
    v = SemVer.parse("v1.2.3")
    assert v is not None
    assert (str(v.bump("patch")), str(v.bump("minor")), str(v.bump("major"))) == ("v1.2.4", "v1.3.0", "v2.0.0")
    rc = SemVer.parse("v1.3.0-rc.2")
    assert rc is not None and str(rc.bump("patch")) == "v1.3.0"
    assert SemVer.parse("1.2.3") is None and SemVer.parse("v1.2") is None



def test_version_order_is_semver_precedence_for_any_tag_text() -> None:
    """The one SemVer ordering, for text that is not a registry version too
    (metrics' `--all-tags` sorts plain git tags with it): `v` optional,
    anything that is no version after every version."""
    ordered = ["1.2.9", "v1.2.10", "1.3.0-rc.1", "v1.3.0-rc.2", "v1.3.0", "2.0.0", "beta", "release"]
    assert sorted(reversed(ordered), key=tagname.version_order) == ordered
    versions = ["v1.0.0-alpha", "v1.0.0-alpha.1", "v1.0.0-beta.11", "v1.0.0", "v1.10.0"]
    assert [tagname.version_order(v) for v in versions] == sorted(tagname.version_order(v) for v in versions)

def test_malformed_version_error_says_what_to_type() -> None:
    with pytest.raises(tagname.GitmodelError, match=r"did you mean v1\.2\.0"):
        tagname.check_version("1.2.0")


@pytest.mark.parametrize("text, expected", [
    ("clf@v1.2.0", refs.VersionRef("clf", version="v1.2.0")),
    ("clf@latest", refs.VersionRef("clf", latest=True)),
    ("clf@greatest", refs.VersionRef("clf", latest=True)),
    ("clf#prod", refs.VersionRef("clf", stage="prod")),
    ("team/clf#prod", refs.VersionRef("team/clf", stage="prod")),
    ("models:clf@v1.0.0", refs.VersionRef("models:clf", version="v1.0.0")),
])
def test_version_references_parse(text: str, expected: refs.VersionRef) -> None:
    assert refs.parse(text) == expected
    assert str(expected) == text.replace("@greatest", "@latest")


@pytest.mark.parametrize("text", ["HEAD", "main", "HEAD~2", "clf#prod#3", "v1.0.0", "abc1234", "clf@{1}",
                                  "clf@v1.0.0!", "origin/main"])
def test_git_revisions_are_not_version_references(text: str) -> None:
    assert refs.parse(text) is None


# -- a repository tagged the way GTO tags --------------------------------------------------

def _commit(root: Path, name: str, text: str, msg: str) -> str:
    (root / name).write_text(text)
    git("add", "-A", cwd=root)
    git("commit", "-q", "-m", msg, cwd=root)
    return git("rev-parse", "HEAD", cwd=root).strip()


def _gto_tag(root: Path, name: str, message: str, rev: str, when: int) -> None:
    # GTO runs exactly this (`git tag -a NAME -m MESSAGE REF`); the dates are
    # fixed so that the order of events is not left to the clock.
    git("tag", "-a", name, "-m", message, rev, cwd=root,
        env={"GIT_COMMITTER_DATE": f"{when} +0000"})


@pytest.fixture
def gto_repo(repo: Path, gm: object) -> Path:
    """A repository whose tags were written with GTO's names and messages;
    the artifact path comes from GTO's own artifacts.yaml."""
    (repo / "models").mkdir()
    (repo / "artifacts.yaml").write_text("clf:\n  type: model\n  path: models/clf.pkl\n")
    (repo / "models" / "clf.pkl").write_text("model one")
    assert gm("add", "models/clf.pkl").code == 0  # type: ignore[operator]
    c1 = _commit(repo, "train.py", "1", "first model")
    (repo / "models" / "clf.pkl").write_text("model two")
    assert gm("add", "models/clf.pkl").code == 0  # type: ignore[operator]
    c2 = _commit(repo, "train.py", "2", "second model")
    c3 = _commit(repo, "train.py", "3", "experiment")
    t = 1_700_000_000
    _gto_tag(repo, "clf@v0.0.1", "Registering artifact clf version v0.0.1", c1, t)
    _gto_tag(repo, "clf@v0.1.0", "Registering artifact clf version v0.1.0", c2, t + 10)
    _gto_tag(repo, "clf#prod#1", "Assigning stage prod to artifact clf version v0.0.1", c1, t + 20)
    _gto_tag(repo, "clf#staging#2", "Assigning stage staging to artifact clf version v0.1.0", c2, t + 30)
    # GTO's --skip-registration: a stage on a commit that has no version
    _gto_tag(repo, "clf#dev#3", f"Assigning stage dev to artifact clf commit {c3}", c3, t + 40)
    _gto_tag(repo, "clf#staging!#4", "Unassigning stage 'staging' to artifact 'clf' version 'v0.1.0'", c2, t + 50)
    _gto_tag(repo, "clf#prod#5", "Assigning stage prod to artifact clf version v0.1.0", c2, t + 50)
    _gto_tag(repo, "models=net@v1.0.0", "Registering artifact models:net version v1.0.0", c2, t + 60)
    _gto_tag(repo, "old@v1.0.0", "Registering artifact old version v1.0.0", c1, t + 70)
    _gto_tag(repo, "old@deprecated", "Deprecating artifact 'old'", c1, t + 80)
    # Neither kind is a registry event: a lightweight tag and a foreign name.
    git("tag", "clf@v9.9.9", c3, cwd=repo)
    git("tag", "-a", "release-2024", "-m", "release", c3, cwd=repo)
    return repo


def test_a_gto_tagged_repository_reads_back(gto_repo: Path, gm: object) -> None:
    state = registry.model_state(Repo.discover(), "clf")
    assert sorted(v.name for v in state.versions.values() if v.registered) == ["v0.0.1", "v0.1.0"]
    c3 = git("rev-parse", "HEAD", cwd=gto_repo).strip()
    # Stage holders as GTO computes them: prod moved to v0.1.0 (counter 5
    # after the unassignment #4 in the same second), staging was unassigned,
    # dev is held by an unregistered commit.
    assert state.stages == {"dev": c3, "prod": "v0.1.0"}
    assert state.latest() is not None and state.latest().name == "v0.1.0"  # type: ignore[union-attr]
    assert state.next_counter() == 6

    r = gm("versions", "clf", "--json")  # type: ignore[operator]
    assert r.code == 0, r
    rows = json.loads(r.out)
    assert [(x["version"], x["stages"]) for x in rows] == [(c3, ["dev"]), ("v0.1.0", ["prod"]), ("v0.0.1", [])]
    assert rows[1]["registered"] and not rows[0]["registered"]
    # No snapshot in GTO's messages: the artifact is read from the commit,
    # through GTO's artifacts.yaml.
    assert rows[1]["artifact"]["path"] == "models/clf.pkl" and rows[1]["artifact"]["size"] == len("model two")

    r = gm("show", "clf#prod", "--json")  # type: ignore[operator]
    assert r.code == 0, r
    shown = json.loads(r.out)
    assert shown["version"] == "v0.1.0" and shown["recorded"] is False
    assert [e["tag"] for e in shown["stage_history"]] == ["clf#staging#2", "clf#staging!#4", "clf#prod#5"]

    r = gm("history", "--json")  # type: ignore[operator]
    assert r.code == 0, r
    events = json.loads(r.out)
    tags = [e["tag"] for e in events]
    assert "clf@v9.9.9" not in tags and "release-2024" not in tags
    assert tags[:3] == ["old@deprecated", "old@v1.0.0", "models=net@v1.0.0"]
    assert [e["event"] for e in events if e["model"] == "clf"] == \
        ["assign", "unassign", "assign", "assign", "assign", "register", "register"]
    net = next(e for e in events if e["tag"] == "models=net@v1.0.0")
    assert net["model"] == "models:net" and net["version"] == "v1.0.0"

    r = gm("versions", "--json")  # type: ignore[operator]
    assert {x["model"] for x in json.loads(r.out)} == {"clf", "models:net", "old"}
    r = gm("versions")  # type: ignore[operator]
    assert "old (deprecated)" in r.out


def test_gto_references_resolve_to_commits(gto_repo: Path) -> None:
    from gitmodel.git.revs import pointer_at, resolve_commit

    repo = Repo.discover()
    c1 = git("rev-parse", "clf@v0.0.1^{commit}", cwd=gto_repo).strip()
    c2 = git("rev-parse", "clf@v0.1.0^{commit}", cwd=gto_repo).strip()
    assert str(resolve_commit(repo, "clf@v0.0.1").id) == c1
    assert str(resolve_commit(repo, "clf@latest").id) == c2
    assert str(resolve_commit(repo, "clf#prod").id) == c2
    assert str(resolve_commit(repo, "models:net@v1.0.0").id) == c2
    # An exact tag name is still a git revision.
    assert str(resolve_commit(repo, "clf#prod#1").id) == c1
    assert pointer_at(repo, "clf#prod", "models/clf.pkl").size == len("model two")
    with pytest.raises(registry.GitmodelError, match="no version of clf is in stage staging"):
        resolve_commit(repo, "clf#staging")


def test_our_snapshot_survives_in_the_tag_message(repo: Path, gm: object) -> None:
    (repo / "m.bin").write_text("weights")
    (repo / "metrics.json").write_text('{"acc": 0.5, "nested": {"f1": 0.25}}')
    assert gm("add", "m.bin").code == 0  # type: ignore[operator]
    assert gm("model", "add", "m", "m.bin", "--metrics", "metrics.json").code == 0  # type: ignore[operator]
    _commit(repo, "x", "1", "one")
    r = gm("tag", "m", "v1.0.0", "-m", "# not a comment\n\nsecond paragraph")  # type: ignore[operator]
    assert r.code == 0, r
    message = git("tag", "-l", "--format=%(contents)", "m@v1.0.0", cwd=repo)
    assert message.startswith("# not a comment\n\nsecond paragraph\n")  # nothing stripped
    assert "artifact: m.bin (7 B, xxh128:" in message and "metrics (metrics.json): acc=0.5, nested.f1=0.25" in message
    snap = snapshot.parse_snapshot(message)
    assert snap is not None and snap.metrics == {"acc": 0.5, "nested.f1": 0.25}
    assert snap.commit == git("rev-parse", "HEAD", cwd=repo).strip()
    # A damaged block is ignored, never an error.
    assert snapshot.parse_snapshot(message.replace('"format"', '"frmt"')) is None
    assert snapshot.parse_snapshot("Registering artifact m version v1.0.0") is None
