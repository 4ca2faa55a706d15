"""`gitmodel init`: outside a repository, twice, the cache in the git common
dir (shared by worktrees, out of reach of `git clean -fdx`), config committed."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import assert_one_line_error
from tests.support.git import git, make_repo
from tests.support.state import repo_state
from tests.support.store import cache_root, hash_file, objects


def test_init_outside_a_repository_is_one_line_and_creates_nothing(gm, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    r = gm("init", cwd=plain)
    assert_one_line_error(r, "not a git repository", "git init")
    assert list(plain.iterdir()) == []


def test_init_creates_config_and_cache_and_stages_config(gm, tmp_path: Path) -> None:
    root = make_repo(tmp_path / "r", init_gitmodel=False)
    r = gm("init", cwd=root)
    assert r.code == 0, r
    config = root / ".gitmodel" / "config.toml"
    assert config.is_file()
    assert "link" in config.read_text()
    # The per-user file is kept out of git.
    assert "/config.local.toml" in (root / ".gitmodel" / ".gitignore").read_text().splitlines()
    # The cache lives in the git common dir, not in the work tree.
    cache = root / ".git" / "gitmodel"
    assert cache == cache_root(root)
    assert (cache / "objects" / "xxh128").is_dir()
    assert (cache / "tmp").is_dir()
    staged = git("diff", "--cached", "--name-only", cwd=root).split()
    assert staged == [".gitattributes", ".gitmodel/.gitignore", ".gitmodel/config.toml"]  # + the diff driver line
    git("commit", "-qm", "gitmodel", cwd=root)
    committed = git("ls-tree", "-r", "--name-only", "HEAD", cwd=root).split()
    assert ".gitmodel/config.toml" in committed
    assert not any(p.startswith(".git/") for p in committed)


def test_init_twice_is_harmless(gm, repo: Path) -> None:
    config = repo / ".gitmodel" / "config.toml"
    config.write_text(config.read_text() + "# my own comment\n")
    (repo / "m.bin").write_bytes(b"model" * 100)
    assert gm("add", "m.bin").code == 0
    before = repo_state(repo)
    r = gm("init")
    assert r.code == 0, r
    assert "already set up" in r.out
    assert repo_state(repo) == before
    assert config.read_text().endswith("# my own comment\n")


def test_init_no_stage(gm, tmp_path: Path) -> None:
    root = make_repo(tmp_path / "r", init_gitmodel=False)
    assert gm("init", "--no-stage", cwd=root).code == 0
    assert (root / ".gitmodel" / "config.toml").is_file()
    assert git("diff", "--cached", "--name-only", cwd=root) == ""


def test_fresh_clone_gets_a_cache_on_first_use(gm, repo: Path, tmp_path: Path) -> None:
    """The config is committed, the cache is not: a clone builds its own."""
    (repo / "m.bin").write_bytes(b"weights" * 50)
    assert gm("add", "m.bin").code == 0
    git("commit", "-qm", "add", cwd=repo)
    clone = tmp_path / "clone"
    git("clone", "-q", str(repo), str(clone))
    assert not (clone / ".git" / "gitmodel").exists()
    r = gm("status", cwd=clone)
    assert r.code == 0, r
    assert "not in cache" in r.out
    assert (clone / ".git" / "gitmodel" / "objects").is_dir()


def test_linked_worktree_shares_the_cache(gm, repo: Path, tmp_path: Path) -> None:
    data = b"shared weights" * 100
    (repo / "m.bin").write_bytes(data)
    (repo / "d").mkdir()
    (repo / "d" / "x.txt").write_text("x")
    assert gm("add", "m.bin", "d").code == 0
    git("commit", "-qm", "add", cwd=repo)
    wt = tmp_path / "wt"
    git("worktree", "add", "-q", str(wt), "-b", "other", cwd=repo)
    assert cache_root(wt) == cache_root(repo)
    r = gm("init", cwd=wt)
    assert r.code == 0, r
    assert "already set up" in r.out
    # Nothing to fetch: the worktree checks out from the one shared cache.
    r = gm("checkout", cwd=wt)
    assert r.code == 0, r
    assert (wt / "m.bin").read_bytes() == data
    assert (wt / "d" / "x.txt").read_text() == "x"
    # And what the worktree adds, the main checkout sees.
    (wt / "n.bin").write_bytes(b"from the worktree")
    assert gm("add", "n.bin", cwd=wt).code == 0
    assert hash_file(wt / "n.bin") in objects(repo)
    assert not (wt / ".git").is_dir()  # a worktree's .git is a file; no second cache


def test_git_clean_fdx_leaves_the_cache(gm, repo: Path) -> None:
    data = b"precious" * 1000
    (repo / "m.bin").write_bytes(data)
    (repo / "d").mkdir()
    (repo / "d" / "a.txt").write_text("a")
    assert gm("add", "m.bin", "d").code == 0
    git("commit", "-qm", "add", cwd=repo)
    before = objects(repo)
    git("clean", "-fdxq", cwd=repo)
    assert not (repo / "m.bin").exists()  # git-ignored, so git clean took it
    assert objects(repo) == before
    r = gm("checkout")
    assert r.code == 0, r
    assert (repo / "m.bin").read_bytes() == data
    assert (repo / "d" / "a.txt").read_text() == "a"
