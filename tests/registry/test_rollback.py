"""`gitmodel rollback NAME --to VERSION`: the version's pointer and artifact
back in the workspace, staged; fetched from the remote when the cache lacks
it; refused, with nothing written, when that would lose work."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.cli import GM
from tests.support.git import git
from tests.support.store import object_path


def _commit_version(root: Path, gm: GM, version: str) -> None:
    assert gm("add", "models/clf.pkl").code == 0
    git("add", "-A", cwd=root)
    git("commit", "-q", "-m", f"train {version}", cwd=root)
    r = gm("tag", "clf", version, "--path", "models/clf.pkl")
    assert r.code == 0, r


@pytest.fixture
def two_versions(repo: Path, gm: GM) -> Path:
    (repo / "models").mkdir()
    (repo / "models" / "clf.pkl").write_bytes(b"one" * 1000)
    _commit_version(repo, gm, "v1.0.0")
    git("commit", "-q", "-am", "declare", cwd=repo)
    (repo / "models" / "clf.pkl").write_bytes(b"two" * 1000)
    _commit_version(repo, gm, "v2.0.0")
    return repo


def _pointer_oid(text: str) -> str:
    return next(line.split()[1] for line in text.splitlines() if line.startswith("oid "))


def test_rollback_restores_and_stages(two_versions: Path, gm: GM) -> None:
    repo = two_versions
    r = gm("rollback", "clf", "--to", "v1.0.0")
    assert r.code == 0, r
    assert "models/clf.pkl is back at clf v1.0.0" in r.out and "git commit" in r.out
    assert (repo / "models" / "clf.pkl").read_bytes() == b"one" * 1000
    assert git("diff", "--cached", "--name-only", cwd=repo).split() == ["models/clf.pkl.gm"]
    staged = git("show", ":models/clf.pkl.gm", cwd=repo)
    assert _pointer_oid(staged) == _pointer_oid(git("show", "clf@v1.0.0:models/clf.pkl.gm", cwd=repo))
    r = gm("status", "--json")
    assert r.code == 0 and '"state": "unchanged"' in r.out
    r = gm("rollback", "clf", "--to", "clf@v1.0.0")  # a full reference works too
    assert r.code == 0 and "nothing to do" in r.out, r
    git("commit", "-q", "-m", "roll back", cwd=repo)
    r = gm("rollback", "clf", "--to", "latest")
    assert r.code == 0, r
    assert (repo / "models" / "clf.pkl").read_bytes() == b"two" * 1000


def _status_index_and_model(root: Path) -> tuple[str, str, bytes, str]:
    return (git("status", "--porcelain", cwd=root), git("ls-files", "-s", cwd=root),
            (root / "models" / "clf.pkl").read_bytes(), (root / "models" / "clf.pkl.gm").read_text())


def test_rollback_refuses_to_lose_work(two_versions: Path, gm: GM) -> None:
    repo = two_versions
    (repo / "models" / "clf.pkl").write_bytes(b"unsaved experiment")
    before = _status_index_and_model(repo)
    r = gm("rollback", "clf", "--to", "v1.0.0")
    assert r.code == 1 and "has changes that are not recorded" in r.err, r
    assert len(r.err.strip().splitlines()) == 1
    assert _status_index_and_model(repo) == before
    for to, msg in (("v9.9.9", "has no version v9.9.9"), ("1.0.0", "did you mean v1.0.0?"),
                    ("other@v1.0.0", "names model other, not clf")):
        r = gm("rollback", "clf", "--to", to)
        assert r.code == 1 and msg in r.err, r
        assert _status_index_and_model(repo) == before
    r = gm("rollback", "nope", "--to", "v1.0.0")
    assert r.code == 1 and "model 'nope' has no versions" in r.err


def test_rollback_to_a_version_whose_commit_lacks_the_artifact(two_versions: Path, gm: GM) -> None:
    repo = two_versions
    # A version tagged by another tool on a commit without the pointer.
    empty_tree = git("hash-object", "-t", "tree", "/dev/null", cwd=repo).strip()
    bare = git("commit-tree", empty_tree, "-m", "nothing", cwd=repo).strip()
    git("tag", "-a", "clf@v0.1.0", "-m", "Registering artifact clf version v0.1.0", bare, cwd=repo)
    before = _status_index_and_model(repo)
    r = gm("rollback", "clf", "--to", "v0.1.0")
    assert r.code == 1 and "has no models/clf.pkl.gm, so there is nothing to roll back to" in r.err, r
    assert _status_index_and_model(repo) == before


@pytest.fixture
def folder_versions(repo: Path, gm: GM) -> Path:
    model = repo / "models" / "clf"
    model.mkdir(parents=True)
    (model / "config.json").write_text("{}")
    (model / "weights.bin").write_bytes(b"w1" * 500)
    assert gm("add", "models/clf").code == 0
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "v1", cwd=repo)
    assert gm("tag", "clf", "v1.0.0", "--path", "models/clf").code == 0
    git("commit", "-q", "-am", "declare", cwd=repo)
    (model / "weights.bin").write_bytes(b"w2" * 500)
    (model / "extra.bin").write_bytes(b"new in v2")
    assert gm("add", "models/clf").code == 0
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "v2", cwd=repo)
    assert gm("tag", "clf", "v2.0.0").code == 0
    return repo


def test_rollback_of_a_tracked_folder(folder_versions: Path, gm: GM) -> None:
    repo = folder_versions
    model = repo / "models" / "clf"
    (model / "scratch.txt").write_text("mine, untracked")  # not part of any version: left alone
    r = gm("rollback", "clf", "--to", "v1.0.0")
    assert r.code == 0, r
    assert sorted(p.name for p in model.iterdir()) == ["config.json", "scratch.txt", "weights.bin"]
    assert (model / "weights.bin").read_bytes() == b"w1" * 500
    assert git("diff", "--cached", "--name-only", cwd=repo).split() == ["models/clf.gm"]
    r = gm("status", "--json")
    assert '"state": "modified"' in r.out and '"added": 1' in r.out  # only scratch.txt


def _commit_folder_remote(repo: Path, store: Path) -> None:
    """A new, empty folder remote `store` in the committed config."""
    store.mkdir()
    with open(repo / ".gitmodel" / "config.toml", "a") as f:
        f.write(f'\n[remote.store]\nurl = "{store}"\n')
    git("commit", "-q", "-am", "remote", cwd=repo)


def _drop_from_cache(repo: Path, oid: str) -> None:
    obj = object_path(repo, oid)
    os.chmod(obj.parent, 0o755)
    obj.unlink()


def test_rollback_fetches_a_missing_object_from_the_remote(two_versions: Path, gm: GM, tmp_path: Path) -> None:
    repo = two_versions
    store = tmp_path / "store"
    _commit_folder_remote(repo, store)
    from gitmodel.repo import Repo
    from gitmodel.transfer import push as transfer

    transfer.push(Repo.discover(str(repo)), revs=["clf@v1.0.0"])
    old = _pointer_oid(git("show", "clf@v1.0.0:models/clf.pkl.gm", cwd=repo))
    _drop_from_cache(repo, old)
    r = gm("rollback", "clf", "--to", "v1.0.0")
    assert r.code == 0, r
    assert "1 object fetched" in r.out, r
    assert (repo / "models" / "clf.pkl").read_bytes() == b"one" * 1000


def test_rollback_without_the_object_anywhere_changes_nothing(two_versions: Path, gm: GM, tmp_path: Path) -> None:
    repo = two_versions
    store = tmp_path / "empty-store"
    _commit_folder_remote(repo, store)
    _drop_from_cache(repo, _pointer_oid(git("show", "clf@v1.0.0:models/clf.pkl.gm", cwd=repo)))
    before = _status_index_and_model(repo)
    r = gm("rollback", "clf", "--to", "v1.0.0")
    assert r.code == 1, r
    assert len(r.err.strip().splitlines()) == 1
    assert _status_index_and_model(repo) == before
