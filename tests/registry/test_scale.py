"""500 tagged versions: listed, resolved and promoted (read in-process,
no git subprocess per tag).  No timing assertion: bench/ measures it."""

from __future__ import annotations

import json
from pathlib import Path

from gitmodel.registry import state as registry
from gitmodel.registry import tagging
from gitmodel.registry.grammar import NAME_RE
from gitmodel.registry.snapshot import Item, Snapshot
from gitmodel.repo import Repo
from tests.support.git import git


def _many_versions(root: Path, n: int) -> str:
    """`n` versions of one model on one commit each, tagged in-process with
    the real registry messages (git tag -a would spend a process per tag)."""
    import pygit2

    g = pygit2.Repository(str(root))
    sig = pygit2.Signature("Test", "test@example.com", 1_700_000_000, 0)
    tree = g.TreeBuilder().write()
    parent: list[pygit2.Oid] = []
    for i in range(n):
        version = f"v1.{i // 100}.{i % 100}"
        commit = g.create_commit(None, sig, sig, f"train {i}", tree, parent)
        parent = [commit]
        snap = Snapshot("clf", version, str(commit),
                        Item("models/clf.pkl", "file", f"xxh128:{i:032x}", 1000 + i),
                        [Item("data/train.csv", "file", f"xxh128:{i + 10**6:032x}", 50)],
                        "params.yaml", {"lr": 0.01 * i}, "metrics.json", {"acc": i / n, "loss": 1 - i / n})
        tagger = pygit2.Signature("Test", "test@example.com", 1_700_000_000 + i, 0)
        g.create_tag(f"clf@{version}", commit, pygit2.enums.ObjectType.COMMIT, tagger,
                     tagging.version_message(snap, None))
    g.references.create("refs/heads/main", parent[0], force=True)
    return str(parent[0])


def test_five_hundred_versions_list_resolve_and_promote(repo: Path, gm: object) -> None:
    head = _many_versions(repo, 500)
    r = gm("versions", "clf", "--json")  # type: ignore[operator]
    assert r.code == 0, r
    rows = json.loads(r.out)
    assert len(rows) == 500
    assert rows[0]["version"] == "v1.4.99" and rows[-1]["version"] == "v1.0.0"
    assert rows[0]["commit"] == head and rows[0]["key_metrics"] == {"acc": 0.998, "loss": 0.0020000000000000018}
    assert rows[0]["artifact"]["size"] == 1499
    r = gm("promote", "clf", "v1.2.3", "prod")  # type: ignore[operator]
    assert r.code == 0, r
    state = registry.model_state(Repo.discover(), "clf")
    assert state.stages == {"prod": "v1.2.3"} and state.latest() is not None
    assert state.latest().name == "v1.4.99"  # type: ignore[union-attr]
    r = gm("show", "clf#prod", "--json")  # type: ignore[operator]
    assert r.code == 0 and json.loads(r.out)["snapshot"]["params"]["values"] == {"lr": 0.01 * 203}, r
    r = gm("versions")  # type: ignore[operator]
    assert r.code == 0 and len(r.out.splitlines()) == 502
    # Unrelated tags do not slow or break anything.
    assert NAME_RE.match("clf")
    assert git("tag", "-l", cwd=repo).count("\n") == 501
