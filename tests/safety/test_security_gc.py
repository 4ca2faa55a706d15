"""Issue 13, class 6 (objects gc must keep or never share) and the remote
"objects" that are not files (class 5).

- A pointer that `add --no-stage` wrote into a git-ignored folder is live:
  local gc keeps its object.
- `gc -r` on a remote another repository pushes to refuses (each push records
  its repository under meta/repos/): a folder remote and S3 (moto).  Clones of
  one project whose git remotes this clone has are not strangers.
- A folder remote's hard links and a hardlink/symlink checkout never make one
  inode of the cache, the remote and a workspace file: an in-place write to
  the workspace file leaves the remote's copy intact.
- A FIFO, a folder or a device where a remote object belongs: fetch, pull,
  fsck -r and gc -r say one line and exit 1, never block (the repository
  lock is free afterwards), leave no temp file.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from gitmodel.remote.layout import object_key
from gitmodel.remote.sharing import normal_url
from tests.support.cli import assert_one_line_error, gm_proc, gm_run
from tests.support.git import clone, commit_without_hooks, git, hooks_dir, make_repo, set_link
from tests.support.state import tree_state
from tests.support.store import age, cache_root, object_path, objects, oid_of, pointer_oid, store_objects, temps

SKIP = {"GITMODEL_SKIP_PUSH": "1"}  # `git push` without the pre-push hook's gitmodel push


def gm(root: Path, *args: str):  # noqa: ANN201 - support.cli.Result
    return gm_run(list(args), cwd=root)


def ok(root: Path, *args: str) -> str:
    r = gm(root, *args)
    assert r.code == 0, r
    return r.out


def git_state(root: Path) -> tuple[object, ...]:
    """What a hostile remote must never change: hooks and git's config."""
    return tree_state(hooks_dir(root), skip_git=False), (root / ".git" / "config").read_bytes()


def on_remote(store: Path, oid: str) -> Path:
    return store / object_key(oid)


def records(store: Path) -> dict[str, dict[str, object]]:
    folder = store / "meta" / "repos"
    return {p.stem: json.loads(p.read_bytes()) for p in folder.iterdir()} if folder.is_dir() else {}


# -- 1. local gc keeps the object of an ignored, unstaged pointer ------------------------------------------

def test_gc_keeps_the_object_of_a_pointer_in_an_ignored_folder(repo: Path, tmp_path: Path) -> None:
    (repo / ".gitignore").write_text("scratch/\n")
    commit_without_hooks(repo, "ignore scratch/")
    git("worktree", "add", "-q", str(tmp_path / "wt2"), cwd=repo)
    wt2 = tmp_path / "wt2"
    kept = {}
    for root, data in ((repo, b"an experiment only this work tree names"), (wt2, b"one in the second worktree")):
        (root / "scratch").mkdir()
        (root / "scratch" / "m.bin").write_bytes(data)
        ok(root, "add", "--no-stage", "scratch/m.bin")
        assert git("status", "--porcelain", "--ignored", cwd=root).count("scratch/") == 1  # git ignores it all
        kept[root] = oid_of(data)
    age(objects(repo), 30)
    r = gm(repo, "gc", "--keep-days", "0")
    assert r.code == 0, r
    assert set(kept.values()) <= set(objects(repo)), "gc deleted the object of a live, git-ignored pointer"
    # Still gc: the same object goes once its pointer is gone.
    (repo / "scratch" / "m.bin.gm").unlink()
    ok(repo, "gc", "--keep-days", "0")
    assert kept[repo] not in objects(repo) and kept[wt2] in objects(repo)


# -- 2. gc -r on a remote that several repositories push to -----------------------------------------------

def pushed(root: Path, store: str, data: bytes, *, endpoint: str | None = None, name: str = "m.bin",
           commit: bool = True) -> str:
    """`name` = data, added and pushed to the folder (or S3) remote `origin`;
    committed (else a draft only the remote holds); its oid."""
    if not (root / ".gitmodel" / "config.toml").read_text().count("[remote.origin]"):
        ok(root, "remote", "add", "origin", store, "--default")
        if endpoint:
            ok(root, "remote", "modify", "origin", "endpoint_url", endpoint)
        else:
            ok(root, "remote", "modify", "origin", "link", "copy")
    (root / name).write_bytes(data)
    ok(root, "add", name)
    ok(root, "push")
    if commit:
        commit_without_hooks(root, f"{name} {data[:10]!r}")
    return oid_of(data)


def test_gc_r_refuses_a_folder_remote_another_repository_pushes_to(tmp_path: Path) -> None:
    store = tmp_path / "store"
    a = make_repo(tmp_path / "a")
    b = make_repo(tmp_path / "b")
    draft = pushed(a, str(store), b"a's draft", commit=False)
    pushed(a, str(store), b"a's final model")
    theirs = pushed(b, str(store), b"b's model, which a's refs never name")
    assert len(records(store)) == 2, "each pushing repository records itself"
    age(store_objects(store), 30)
    before = tree_state(store, skip_git=False)
    for args in ([], ["--dry-run"]):
        line = assert_one_line_error(gm(a, "gc", "-r", "origin", "--keep-days", "0", *args),
                                     "nothing deleted", "another repository pushes", "b on ")
        assert "docs/remotes.md" in line
    assert tree_state(store, skip_git=False) == before, "a refused gc -r changed the remote"
    assert {draft, theirs} <= set(store_objects(store))
    # The remote gc works again once b's record is gone (b is deleted, say):
    # what only b needed goes with the garbage, which is what deleting the record means.
    (store / "meta" / "repos" / f"{_own_id(b)}.json").unlink()
    ok(a, "gc", "-r", "origin", "--keep-days", "0")
    assert draft not in store_objects(store) and oid_of(b"a's final model") in store_objects(store)


def _own_id(root: Path) -> str:
    return str(json.loads((cache_root(root) / "repository.json").read_bytes())["id"])


def test_gc_r_refuses_an_s3_remote_another_repository_pushes_to(tmp_path: Path, s3_env: str, s3_bucket: str
                                                                ) -> None:
    import boto3

    url = f"s3://{s3_bucket}/team"
    a = make_repo(tmp_path / "a")
    b = make_repo(tmp_path / "b")
    pushed(a, url, b"a on s3", endpoint=s3_env)
    theirs = pushed(b, url, b"b on s3", endpoint=s3_env)
    s3 = boto3.client("s3", endpoint_url=s3_env, region_name="us-east-1")

    def keys() -> set[str]:
        return {o["Key"] for o in s3.list_objects_v2(Bucket=s3_bucket).get("Contents", [])}

    assert len([k for k in keys() if k.startswith("team/meta/repos/")]) == 2
    before = keys()
    assert_one_line_error(gm(a, "gc", "-r", "origin", "--keep-days", "0"), "nothing deleted", "another repository")
    assert keys() == before
    assert any(theirs.split(":")[1][2:] in k for k in keys())


@pytest.fixture
def project(tmp_path: Path) -> dict[str, Path]:
    """One project, a bare git remote, and two clones of it pushing to one folder remote."""
    origin = tmp_path / "origin.git"
    git("init", "-q", "--bare", str(origin))
    a = make_repo(tmp_path / "a")
    git("remote", "add", "origin", str(origin), cwd=a)
    store = tmp_path / "store"
    pushed(a, str(store), b"a's first model")
    git("push", "-q", "origin", "HEAD:main", cwd=a, env=SKIP)
    b = clone(origin, tmp_path / "b")
    return {"a": a, "b": b, "origin": origin, "store": store}


def test_gc_r_accepts_clones_of_one_project_with_the_same_git_remote(project: dict[str, Path]) -> None:
    a, b, store = project["a"], project["b"], project["store"]
    draft = pushed(b, str(store), b"b's draft, pushed and replaced", commit=False)
    final = pushed(b, str(store), b"b's model, pushed to git")
    git("push", "-q", "origin", "HEAD:main", cwd=b, env=SKIP)
    git("fetch", "-q", "origin", cwd=a)
    assert len(records(store)) == 2
    age(store_objects(store), 30)
    ok(a, "gc", "-r", "origin", "--keep-days", "0")
    have = set(store_objects(store))
    assert final in have and oid_of(b"a's first model") in have, "gc -r deleted what a pushed ref names"
    assert draft not in have


def test_gc_r_refuses_a_clone_whose_git_remote_it_lacks(project: dict[str, Path], tmp_path: Path) -> None:
    """A fork: same project, its commits on a git remote this clone does not
    have; once added and fetched, gc -r sees its refs and keeps its objects."""
    a, b, store = project["a"], project["b"], project["store"]
    fork = tmp_path / "fork.git"
    git("init", "-q", "--bare", str(fork))
    git("remote", "set-url", "origin", str(fork), cwd=b)
    theirs = pushed(b, str(store), b"the fork's model")
    git("push", "-q", "origin", "HEAD:main", cwd=b, env=SKIP)
    age(store_objects(store), 30)
    assert_one_line_error(gm(a, "gc", "-r", "origin", "--keep-days", "0"), "nothing deleted", "another clone",
                          "fork")
    assert theirs in store_objects(store)
    git("remote", "add", "fork", str(fork), cwd=a)
    git("fetch", "-q", "--all", "--tags", cwd=a)
    ok(a, "gc", "-r", "origin", "--keep-days", "0")
    assert theirs in store_objects(store), "gc -r deleted what the fork's pushed branch names"


@pytest.mark.parametrize("body", [
    b"\x00not json{",
    b"[" * 100_000,
    b'{"project": "PROJECT", "git_remotes": ["ORIGIN", "evil\\u001b[2J"], "pushed": 1e999}',
    b'{"project": "PROJECT", "git_remotes": "ORIGIN", "pushed": 1' + b"0" * 400 + b"}",
])
def test_an_unreadable_record_counts_as_another_repository(project: dict[str, Path], body: bytes) -> None:
    """A record that does not parse, or names a git remote gc could not
    compare, is never taken for a covered clone (even next to this clone's own
    project and git remote); nothing in it reaches the message but its name."""
    a, store = project["a"], project["store"]
    root_commit = git("rev-list", "--max-parents=0", "HEAD", cwd=a).strip()
    body = body.replace(b"PROJECT", root_commit.encode()).replace(b"ORIGIN", str(project["origin"]).encode())
    (store / "meta" / "repos" / ("f" * 32 + ".json")).write_bytes(body)
    line = assert_one_line_error(gm(a, "gc", "-r", "origin", "--keep-days", "0"), "nothing deleted", "unreadable")
    assert "\x1b" not in line


def test_the_record_holds_no_secret_and_a_quiet_push_does_not_rewrite_it(tmp_path: Path) -> None:
    store = tmp_path / "store"
    a = make_repo(tmp_path / "a")
    git("remote", "add", "upstream", "https://alice:s3cr3t-token@git.example.com:8443/team/proj.git?x=1", cwd=a)
    pushed(a, str(store), b"model")
    (rec_path,) = (store / "meta" / "repos").iterdir()
    assert json.loads(rec_path.read_bytes())["project"] == "", "pushed before the first commit: no project yet"
    ok(a, "push")  # after it: the record learns the project
    raw = rec_path.read_bytes()
    assert b"s3cr3t" not in raw and b"alice" not in raw and b"8443" not in raw
    rec = json.loads(raw)
    assert rec["git_remotes"] == ["git.example.com/team/proj"]
    assert rec["project"] == git("rev-list", "--max-parents=0", "HEAD", cwd=a).strip()
    mtime = rec_path.stat().st_mtime_ns
    ok(a, "push")
    assert rec_path.stat().st_mtime_ns == mtime, "a push with nothing new rewrote the record"


@pytest.mark.parametrize("url, want", [
    ("git@github.com:team/proj.git", "github.com/team/proj"),
    ("ssh://git@GitHub.com/team/proj", "github.com/team/proj"),
    ("https://user:pw@github.com/team/proj.git/", "github.com/team/proj"),
])
def test_one_repository_spelled_two_ways_is_one_remote(url: str, want: str, tmp_path: Path) -> None:
    assert normal_url(url, str(tmp_path)) == want
    assert normal_url("../origin.git", str(tmp_path / "a")) == str((tmp_path / "origin").resolve())


# -- 3. a workspace write never reaches every copy ------------------------------------------------------

def write_in_place(path: Path) -> None:
    """What a root process or a `chmod +w` then an editor's in-place save does."""
    os.chmod(path, 0o644)
    with open(path, "r+b") as f:
        f.write(b"CORRUPTED")


def inode(path: Path) -> int:
    return os.stat(path).st_ino


@pytest.mark.parametrize("order", ["push-then-checkout", "checkout-then-push"])
def test_hardlinked_remote_and_hardlink_checkout_keep_an_independent_copy(repo: Path, tmp_path: Path,
                                                                          order: str) -> None:
    store = tmp_path / "store"
    data = os.urandom(5000)
    (repo / "m.bin").write_bytes(data)
    ok(repo, "remote", "add", "origin", str(store), "--default")
    oid = oid_of(data)
    if order == "push-then-checkout":
        ok(repo, "add", "m.bin")  # core.link reflink: `auto` hard-links the remote's copy
        ok(repo, "push")
        assert inode(on_remote(store, oid)) == inode(object_path(repo, oid)), "the fast path is kept"
        set_link(repo, "hardlink")
        (repo / "m.bin").unlink()
        ok(repo, "checkout")
    else:
        set_link(repo, "hardlink")
        ok(repo, "remote", "modify", "origin", "link", "hardlink")
        ok(repo, "add", "m.bin")
        assert inode(repo / "m.bin") == inode(object_path(repo, oid)), "hardlink mode links the workspace file"
        ok(repo, "push")
    names = {inode(repo / "m.bin"), inode(object_path(repo, oid)), inode(on_remote(store, oid))}
    assert len(names) >= 2, "the workspace file, the cache and the remote are one inode"
    write_in_place(repo / "m.bin")
    survivors = [p for p in (object_path(repo, oid), on_remote(store, oid)) if oid_of(p.read_bytes()) == oid]
    assert survivors, "one in-place write to the workspace file damaged every copy"
    assert oid_of(on_remote(store, oid).read_bytes()) == oid, "the remote's copy was damaged"


def test_symlink_checkout_never_shares_the_remote_inode(repo: Path, tmp_path: Path) -> None:
    store = tmp_path / "store"
    data = os.urandom(5000)
    set_link(repo, "symlink")
    (repo / "m.bin").write_bytes(data)
    ok(repo, "remote", "add", "origin", str(store), "--default")
    ok(repo, "remote", "modify", "origin", "link", "hardlink")
    ok(repo, "add", "m.bin")
    ok(repo, "push")
    oid = oid_of(data)
    assert (repo / "m.bin").is_symlink()
    assert inode(on_remote(store, oid)) != inode(object_path(repo, oid)), \
        "a symlink does not show in the link count: the remote must not hard-link under symlink checkouts"
    write_in_place(repo / "m.bin")  # through the symlink: the cache's object
    assert oid_of(on_remote(store, oid).read_bytes()) == oid


# -- 4. remote entries that are not object files ------------------------------------------------------------

@pytest.fixture
def hostile(tmp_path: Path) -> dict[str, Path]:
    """A repository with a model file and a folder pushed to a folder remote;
    a clone of it (pointers only) whose commands meet the remote's entries."""
    src = make_repo(tmp_path / "src")
    store = tmp_path / "store"
    ok(src, "remote", "add", "origin", str(store), "--default")
    ok(src, "remote", "modify", "origin", "link", "copy")
    (src / "m.bin").write_bytes(os.urandom(3000))
    (src / "data").mkdir()
    (src / "data" / "a.txt").write_bytes(b"alpha")
    ok(src, "add", "m.bin", "data")
    ok(src, "push")
    commit_without_hooks(src, "model and data")
    return {"src": src, "store": store, "clone": clone(src, tmp_path / "clone")}


def replace(path: Path, kind: str) -> None:
    os.chmod(path.parent, 0o755)
    path.unlink()
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()
        (path / "inside").write_bytes(b"x")
    else:
        os.symlink("/dev/zero", path)  # anyone who can write the folder can make this one


KINDS = {"fifo": "a FIFO", "folder": "a folder", "device": "a character device"}


@pytest.mark.parametrize("kind", list(KINDS))
def test_a_remote_object_that_is_not_a_file(hostile: dict[str, Path], kind: str) -> None:
    c, store = hostile["clone"], hostile["store"]
    oid = pointer_oid(c / "m.bin.gm")
    replace(on_remote(store, oid), kind)
    before = git_state(c)
    key = object_key(oid)
    for args in (["fetch"], ["pull"], ["fsck", "-r", "origin"]):
        # A real process with a deadline: a read that blocks must fail the test, not hang it.
        r = gm_proc(*args, cwd=c, timeout=60)
        assert_one_line_error(r, key, KINDS[kind], "remove it")
        assert not temps(cache_root(c)) and not temps(c), f"{args[0]} left a temp file"
        assert not (c / "m.bin").exists()
    assert git_state(c) == before
    # Nothing held the repository lock: a command that takes it runs at once.
    ok(c, "gc", "--dry-run")
    # gc -r never reads an object it does not need, and lists only files: the
    # entry is neither read nor counted.
    r = gm_proc("gc", "-r", "origin", "--dry-run", cwd=hostile["src"], timeout=60)
    assert r.code == 0, r


def test_gc_r_reading_a_manifest_that_is_a_fifo(hostile: dict[str, Path]) -> None:
    """The one object gc -r reads from a remote: a folder's manifest the
    cache lacks.  A FIFO there is an unknown manifest: refused, not a hang."""
    src, store = hostile["src"], hostile["store"]
    moid = pointer_oid(src / "data.gm")
    replace(on_remote(store, moid), "fifo")
    os.chmod(object_path(src, moid).parent, 0o755)
    object_path(src, moid).unlink()  # the cache lacks it: gc -r reads it from the remote
    r = gm_proc("gc", "-r", "origin", "--keep-days", "0", cwd=src, timeout=60)
    assert_one_line_error(r, "nothing deleted", moid)
    assert not (store / "meta" / "locks" / "gc.json").exists(), "the remote lock was left behind"
    assert not temps(cache_root(src))


def test_push_over_a_folder_in_an_object_place(hostile: dict[str, Path]) -> None:
    src, store = hostile["src"], hostile["store"]
    oid = pointer_oid(src / "m.bin.gm")
    replace(on_remote(store, oid), "folder")
    assert not stat.S_ISREG(os.lstat(on_remote(store, oid)).st_mode)
    assert_one_line_error(gm(src, "push", "--check-remote"), "is a folder", "remove it")
    assert not temps(store)


def test_a_well_formed_record_of_a_covered_clone_is_accepted(project: dict[str, Path]) -> None:
    """The counterpart of the unreadable records above: the same record with
    only clean git remotes is a covered clone, and gc -r runs."""
    a, store = project["a"], project["store"]
    root_commit = git("rev-list", "--max-parents=0", "HEAD", cwd=a).strip()
    body = {"project": root_commit, "git_remotes": [normal_url(str(project["origin"]), str(a))], "pushed": 1.0}
    (store / "meta" / "repos" / ("f" * 32 + ".json")).write_text(json.dumps(body))
    ok(a, "gc", "-r", "origin", "--keep-days", "0")
