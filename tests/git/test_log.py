"""`gitmodel log [PATH]`: commit, date, author, message, oid, size and the
version tags of each commit that changed a tracked artifact."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.cli import assert_one_line_error
from tests.support.files import write
from tests.support.git import commit_with_hooks, git, gm_add
from tests.support.store import oid_of


def history(gm, repo: Path) -> None:
    write(repo, "models/clf.pkl", b"v1")
    gm_add(repo, "models/clf.pkl")
    commit_with_hooks(repo, "train v1")
    git("tag", "-a", "clf@v1.0.0", "-m", "Registering artifact clf version v1.0.0", cwd=repo)
    write(repo, "README", "docs only")
    commit_with_hooks(repo, "docs")  # does not touch the model: not in its log
    write(repo, "models/clf.pkl", b"v2 weights")
    write(repo, "data/a.csv", "a")
    gm_add(repo, "models/clf.pkl", "data")
    commit_with_hooks(repo, "train v2")
    git("tag", "-a", "clf@v1.1.0", "-m", "v1.1.0", cwd=repo)
    git("tag", "clf@v9.0.0", cwd=repo)  # lightweight: not a version (GTO counts annotated tags only)
    git("tag", "-a", "clf#prod#1", "-m", "promote", cwd=repo)  # a stage, not a version


def test_log_of_one_artifact(gm, repo: Path) -> None:
    history(gm, repo)
    r = gm("log", "models/clf.pkl", "--json")
    assert r.code == 0, r
    entries = json.loads(r.out)
    assert [e["message"] for e in entries] == ["train v2", "train v1"]
    assert [e["tags"] for e in entries] == [["clf@v1.1.0"], ["clf@v1.0.0"]]
    assert entries[0]["commit"] == git("rev-parse", "HEAD", cwd=repo).strip()
    assert entries[0]["author"] == "Test" and entries[0]["email"] == "test@example.com"
    assert entries[0]["date"].startswith("20")
    changes = [e["changes"] for e in entries]
    assert changes == [
        [{"path": "models/clf.pkl", "status": "modified", "kind": "file", "oid": oid_of(b"v2 weights"), "size": 10}],
        [{"path": "models/clf.pkl", "status": "added", "kind": "file", "oid": oid_of(b"v1"), "size": 2}],
    ]
    # For people: one block per commit.
    r = gm("log", "models/clf.pkl")
    assert r.code == 0, r
    assert "(clf@v1.1.0)" in r.out and "train v1" in r.out and "docs" not in r.out
    assert f"modified models/clf.pkl  10 B  {oid_of(b'v2 weights')[7:17]}" in r.out


def test_log_of_everything_and_of_a_folder(gm, repo: Path) -> None:
    history(gm, repo)
    (repo / "data.gm").unlink()
    git("rm", "-q", "--cached", "data.gm", cwd=repo)
    commit_with_hooks(repo, "drop data")
    entries = json.loads(gm("log", "--json").out)
    assert [e["message"] for e in entries] == ["drop data", "train v2", "train v1"]
    assert entries[0]["changes"] == [{"path": "data", "status": "deleted"}]
    assert {c["path"] for c in entries[1]["changes"]} == {"models/clf.pkl", "data"}
    data = [c for c in entries[1]["changes"] if c["path"] == "data"][0]
    assert data["kind"] == "dir" and data["files"] == 1 and data["size"] == 1
    # A folder holding tracked artifacts: their history.
    entries = json.loads(gm("log", "models", "--json").out)
    assert [e["message"] for e in entries] == ["train v2", "train v1"]
    assert json.loads(gm("log", "models", "-n", "1", "--json").out)[0]["message"] == "train v2"


def test_log_of_an_untracked_path_is_one_line(gm, repo: Path) -> None:
    history(gm, repo)
    assert_one_line_error(gm("log", "README"), "README", "no commit holds a gitmodel pointer")
    assert_one_line_error(gm("log", "../outside"), "outside the repository")


def test_log_in_a_fresh_repository(gm, repo: Path) -> None:
    r = gm("log")
    assert r.code == 0 and "no commit" in r.out, r
    assert json.loads(gm("log", "--json").out) == []


def test_log_rev_takes_version_references(gm, repo: Path) -> None:
    """`--rev` goes through the one revision resolver, like every command
    that takes a revision: `clf#prod`, `clf@v1.0.0` and `clf@latest` work."""
    history(gm, repo)
    # prod moves back to v1.0.0 (GTO: the most recent assignment holds the stage).
    git("tag", "-a", "clf#prod#2", "-m", "rollback", "clf@v1.0.0^{commit}", cwd=repo)
    for rev, messages in (("clf#prod", ["train v1"]), ("clf@v1.0.0", ["train v1"]),
                          ("clf@latest", ["train v2", "train v1"]), ("clf@v1.1.0", ["train v2", "train v1"])):
        r = gm("log", "--rev", rev, "--json")
        assert r.code == 0, (rev, r)
        assert [e["message"] for e in json.loads(r.out)] == messages, rev
    r = gm("log", "models/clf.pkl", "--rev", "clf#prod")
    assert r.code == 0 and "train v1" in r.out and "train v2" not in r.out, r
    # The same one-line errors as every other command taking a revision.
    assert_one_line_error(gm("log", "--rev", "clf#staging"), "clf#staging", "no version of clf is in stage staging")
    assert_one_line_error(gm("log", "--rev", "clf@v3.0.0"), "has no version v3.0.0")
    assert_one_line_error(gm("log", "--rev", "no-such-branch"), "unknown revision 'no-such-branch'")


def test_log_tags_are_the_registry_versions(gm, repo: Path) -> None:
    """The tags shown are the versions the registry holds: a deregistered
    one (`!`, with GTO's counter too) is not shown."""
    history(gm, repo)
    git("tag", "-a", "clf@v1.0.0!#5", "-m", "Deregister", "clf@v1.0.0^{commit}", cwd=repo)
    entries = json.loads(gm("log", "--json").out)
    assert [e["tags"] for e in entries] == [["clf@v1.1.0"], []]
    versions = json.loads(gm("versions", "clf", "--json").out)
    assert [v["tag"] for v in versions] == ["clf@v1.1.0"]
