"""pre-push: `git push` to a bare repository on disk uploads the objects of
the pushed commits to the gitmodel remote (a local folder) first; and the
newcomer's `git clone && gitmodel pull`."""

from __future__ import annotations

import os
from pathlib import Path

from tests.support.files import read, write
from tests.support.git import add_folder_remote, bare, commit_with_hooks, git, gm_add, run_git, save
from tests.support.state import file_contents
from tests.support.store import loose_oids, objects, oid_of


def setup(gm, repo: Path, tmp_path: Path) -> tuple[Path, Path]:
    store, upstream = tmp_path / "store", bare(tmp_path)
    add_folder_remote(gm, repo, store)
    git("remote", "add", "origin", str(upstream), cwd=repo)
    return store, upstream


def test_push_uploads_objects_before_the_refs(gm, repo: Path, tmp_path: Path) -> None:
    store, upstream = setup(gm, repo, tmp_path)
    write(repo, "m.bin", b"model v1")
    write(repo, "d/a.txt", "a")
    write(repo, "d/sub/b.txt", "b")
    gm_add(repo, "m.bin", "d")
    commit_with_hooks(repo, "v1")
    proc = run_git(repo, "push", "-q", "origin", "main")
    assert proc.returncode == 0, proc.stderr
    assert "5 objects uploaded" in proc.stderr, proc.stderr  # m.bin, a, b, the tree of d/sub and d's manifest
    assert loose_oids(store) == set(objects(repo))
    assert git("rev-parse", "main", cwd=upstream) == git("rev-parse", "main", cwd=repo)
    # Nothing new: the next push sends nothing and says so.
    write(repo, "notes.txt", "plain git file")
    commit_with_hooks(repo, "notes")
    proc = run_git(repo, "push", "-q", "origin", "main")
    assert proc.returncode == 0, proc.stderr
    assert "gitmodel" not in proc.stderr


def test_a_new_branch_uploads_exactly_the_missing_objects(gm, repo: Path, tmp_path: Path) -> None:
    store, upstream = setup(gm, repo, tmp_path)
    write(repo, "m.bin", b"main model")
    write(repo, "d/a.txt", "a")
    gm_add(repo, "m.bin", "d")
    commit_with_hooks(repo, "main")
    assert run_git(repo, "push", "-q", "origin", "main").returncode == 0
    first = loose_oids(store)
    git("checkout", "-q", "-b", "exp", cwd=repo)
    write(repo, "m.bin", b"experiment model")
    write(repo, "d/c.txt", "c")
    gm_add(repo, "m.bin", "d")
    commit_with_hooks(repo, "exp")
    proc = run_git(repo, "push", "-q", "origin", "exp")
    assert proc.returncode == 0, proc.stderr
    new = {oid_of(b"experiment model"), oid_of(b"c")}
    added = loose_oids(store) - first
    assert new <= added and len(added) == 3  # and d's new manifest; a.txt was not sent again
    # Only pointers the remote-tracking ref lacks were considered: m.bin and d (one object
    # each), not main's versions, which origin/main already holds.
    assert "3 objects uploaded" in proc.stderr and ", 1 already on origin" in proc.stderr, proc.stderr


def test_push_fails_without_a_gitmodel_remote(gm, repo: Path, tmp_path: Path) -> None:
    upstream = bare(tmp_path)
    git("remote", "add", "origin", str(upstream), cwd=repo)
    save(repo, "m.bin", b"model", "v1")
    proc = run_git(repo, "push", "-q", "origin", "main")
    assert proc.returncode != 0
    assert "gitmodel remote add NAME URL --default" in proc.stderr, proc.stderr
    assert "GITMODEL_SKIP_PUSH=1" in proc.stderr
    assert git("for-each-ref", cwd=upstream) == ""  # git sent no ref
    # GITMODEL_SKIP_PUSH=1 bypasses the upload, and says how to catch up.
    proc = run_git(repo, "push", "-q", "origin", "main", env={"GITMODEL_SKIP_PUSH": "1"})
    assert proc.returncode == 0, proc.stderr
    assert "gitmodel push" in proc.stderr
    assert git("rev-parse", "main", cwd=upstream) == git("rev-parse", "main", cwd=repo)


def test_push_stops_when_an_object_is_nowhere(gm, repo: Path, tmp_path: Path) -> None:
    store, upstream = setup(gm, repo, tmp_path)
    write(repo, "keep.bin", b"keep")
    write(repo, "lost.bin", b"lost")
    gm_add(repo, "keep.bin", "lost.bin")
    commit_with_hooks(repo, "v1")
    lost = objects(repo)[oid_of(b"lost")]
    os.chmod(lost.parent, 0o755)
    lost.unlink()
    proc = run_git(repo, "push", "-q", "origin", "main")
    assert proc.returncode != 0
    line = [x for x in proc.stderr.splitlines() if x.startswith("gitmodel: error:")]
    assert len(line) == 1 and "lost.bin" in line[0] and "push was stopped" in line[0], proc.stderr
    assert git("for-each-ref", cwd=upstream) == ""
    assert oid_of(b"keep") in loose_oids(store)  # what could be sent, was


def test_push_under_a_gitmodel_command_holding_the_lock(gm, repo: Path, tmp_path: Path) -> None:
    """`gitmodel tag --push` runs `git push` while it holds the repository
    lock: the pre-push hook works under that lock instead of waiting for it."""
    from gitmodel.repo import Repo

    store, upstream = setup(gm, repo, tmp_path)
    save(repo, "m.bin", b"model", "v1")
    r = Repo.discover(str(repo))
    with r.lock:
        proc = run_git(repo, "push", "-q", "origin", "main", env={"GITMODEL_LOCK_TIMEOUT": "60"})
    assert proc.returncode == 0, proc.stderr
    assert oid_of(b"model") in loose_oids(store)


def test_newcomer_clone_then_pull(gm, repo: Path, tmp_path: Path) -> None:
    store, upstream = setup(gm, repo, tmp_path)
    write(repo, "models/clf.pkl", b"classifier")
    write(repo, "data/train/a.csv", "x,y\n1,2\n")
    write(repo, "data/train/b.csv", "x,y\n3,4\n")
    gm_add(repo, "models/clf.pkl", "data/train")
    commit_with_hooks(repo, "v1")
    git("tag", "-a", "clf@v1.0.0", "-m", "v1", cwd=repo)
    assert run_git(repo, "push", "-q", "origin", "main", "--tags").returncode == 0
    clone = tmp_path / "newcomer"
    git("clone", "-q", str(upstream), str(clone))
    r = gm("pull", cwd=clone)  # the remote comes from the committed config
    assert r.code == 0, r
    assert read(clone, "models/clf.pkl") == b"classifier"
    assert file_contents(clone, "data/train") == {"a.csv": b"x,y\n1,2\n", "b.csv": b"x,y\n3,4\n"}
    assert git("status", "--porcelain", cwd=clone) == ""
    # The clone's `git diff` reads pointers too: pull registered the driver.
    assert "-m gitmodel textconv" in git("config", "diff.gitmodel.textconv", cwd=clone)


def test_pre_push_under_the_pre_commit_framework(gm, repo: Path, tmp_path: Path) -> None:
    """No arguments and no stdin: the refs come from PRE_COMMIT_* variables."""
    import subprocess
    import sys

    store, upstream = setup(gm, repo, tmp_path)
    save(repo, "m.bin", b"framework", "v1")
    env = {**os.environ, "PRE_COMMIT_REMOTE_NAME": "origin", "PRE_COMMIT_REMOTE_URL": str(upstream),
           "PRE_COMMIT_TO_REF": git("rev-parse", "HEAD", cwd=repo).strip(), "PRE_COMMIT_LOCAL_BRANCH": "main"}
    proc = subprocess.run([sys.executable, "-m", "gitmodel", "hook", "pre-push"], cwd=repo, capture_output=True,
                          text=True, env=env, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    assert loose_oids(store) == {oid_of(b"framework")}
