"""Bad input: hostile pointers and manifests, symlink loops and escapes,
unreadable files, a full disk, a read-only cache, a corrupt stat cache, a
corrupt config.  Each must give one clear line, exit 1, no traceback, and
change nothing in the workspace, index, cache or remote (nor anything
outside the repository).

The corpus is under tests/safety/corpus/ (see its README).  Permission cases run
the CLI as an unprivileged user when the tests run as root (root ignores
permission bits); the read-only cache uses the immutable attribute for root.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.cli import Result, assert_one_line_error, gm_run, run_cli, without_permission_override, write_figures
from tests.support.files import read_only
from tests.support.git import git
from tests.support.state import repo_state, tree_state
from tests.support.store import cache_root, objects, oid_of

CORPUS = Path(__file__).parent / "corpus"
TRIED: Counter[str] = Counter()  # category -> (input, command) pairs tried


@pytest.fixture(scope="module", autouse=True)
def _print_figures(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if TRIED:
        write_figures(request, f"bad-input corpus: {sum(TRIED.values())} (input, command) pairs tried, each one line, "
                               f"exit 1, nothing changed (a corrupt stat cache: rebuilt, exit 0): "
                               f"{dict(sorted(TRIED.items()))}")


# -- the world every case starts from ------------------------------------------------

_TEMPLATE: list[Path] = []


def _build_world(base: Path) -> None:
    repo = base / "repo"
    repo.mkdir(parents=True)
    git("init", "-q", cwd=repo)
    assert gm_run(["init"], cwd=repo).code == 0
    (repo / "good.bin").write_bytes(b"good bytes")
    (repo / "data").mkdir()
    (repo / "data" / "a.txt").write_bytes(b"a")
    for args in (["add", "good.bin", "data"], ["remote", "add", "origin", "../store", "--default"],
                 ["remote", "modify", "origin", "link", "copy"], ["push"]):
        r = gm_run(args, cwd=repo)
        assert r.code == 0, r
    git("add", "-A", cwd=repo)
    git("commit", "-q", "--no-verify", "-m", "base", cwd=repo)
    (base / "outside").mkdir()
    (base / "outside" / "secret.txt").write_bytes(b"not yours")


@pytest.fixture
def world(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory,
          monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """A repository with a tracked file and folder, committed and pushed to a
    folder remote (`../store`), and a canary folder outside the repository.
    Built once, copied for each test (the cwd is the copy's root)."""
    if not _TEMPLATE:
        base = tmp_path_factory.mktemp("badinput-world")
        _build_world(base)
        _TEMPLATE.append(base)
    dest = tmp_path / "w"
    subprocess.run(["cp", "-a", str(_TEMPLATE[0]), str(dest)], check=True)
    monkeypatch.chdir(dest / "repo")
    return {"repo": dest / "repo", "store": dest / "store", "canary": dest / "outside"}


def state(w: dict[str, Path]) -> dict[str, object]:
    snap = repo_state(w["repo"], w["store"])
    cache = snap["cache"]
    assert isinstance(cache, dict)
    # The record of what a remote holds is a hint, like the stat cache.
    snap["cache"] = {k: v for k, v in cache.items() if not k.startswith("remotes/")}
    snap["outside"] = tree_state(w["canary"])
    return snap


def expect_refusal(w: dict[str, Path], category: str, run: Callable[[], Result], *needles: str) -> str:
    before = state(w)
    r = run()
    TRIED[category] += 1
    line = assert_one_line_error(r, *needles)
    after = state(w)
    for key in before:
        assert after[key] == before[key], f"the {key} changed: {line}"
    assert not Path("/tmp/gitmodel-pwned").exists()
    return line


def in_repo(w: dict[str, Path], *args: str) -> Callable[[], Result]:
    return lambda: gm_run(list(args), cwd=w["repo"])


# -- hostile pointers ------------------------------------------------------------------

POINTERS = sorted(p.name for p in (CORPUS / "pointers").iterdir())
POINTER_COMMANDS = [("status",), ("status", "bad.bin"), ("checkout",), ("checkout", "bad.bin"), ("fsck", "bad.bin"),
                    ("push",), ("pull",), ("add", "bad.bin")]


@pytest.mark.parametrize("name", POINTERS)
def test_hostile_pointer(world: dict[str, Path], name: str) -> None:
    repo = world["repo"]
    shutil.copyfile(CORPUS / "pointers" / name, repo / "bad.bin.gm")
    (repo / "bad.bin").write_bytes(b"the user's own file")
    for args in POINTER_COMMANDS:
        line = expect_refusal(world, "pointer", in_repo(world, *args), "bad.bin.gm")
        assert len(line) < 400, line


def test_pointer_larger_than_any_pointer(world: dict[str, Path]) -> None:
    (world["repo"] / "bad.bin.gm").write_bytes(b"version gitmodel/1\n" + b"x " * 100_000)
    for args in POINTER_COMMANDS[:4]:
        expect_refusal(world, "pointer", in_repo(world, *args), "too large")


def test_pointer_that_is_a_symlink_out_of_the_repository(world: dict[str, Path]) -> None:
    """A committed symlink named like a pointer must not make gitmodel read
    (and quote in its error) a file outside the repository."""
    secret = world["canary"] / "secret.txt"
    secret.write_text("version gitmodel/1\naws_secret_access_key SUPERSECRET\n")
    os.symlink(secret, world["repo"] / "bad.bin.gm")
    for args in POINTER_COMMANDS[:5]:
        line = expect_refusal(world, "pointer", in_repo(world, *args), "bad.bin.gm")
        assert "SUPERSECRET" not in line


def test_pointer_that_is_a_directory(world: dict[str, Path]) -> None:
    (world["repo"] / "bad.bin.gm").mkdir()
    (world["repo"] / "bad.bin.gm" / "x").write_text("x")
    expect_refusal(world, "pointer", in_repo(world, "status", "bad.bin"))


def test_harmless_unknown_key_with_a_path_is_kept_and_ignored(gm, world: dict[str, Path]) -> None:
    """Unknown keys survive (a newer gitmodel's), even path-like ones, and
    nothing is ever done with them."""
    repo = world["repo"]
    text = (repo / "good.bin.gm").read_text() + "path ../../outside/secret.txt\n"
    (repo / "good.bin.gm").write_text(text)
    (repo / "good.bin").unlink()
    before = tree_state(world["canary"])
    assert gm("checkout").code == 0
    assert gm("status").code == 0
    assert (repo / "good.bin").read_bytes() == b"good bytes"
    assert tree_state(world["canary"]) == before


# -- hostile manifests -------------------------------------------------------------------

MANIFESTS = sorted(p.name for p in (CORPUS / "manifests").iterdir())


def plant_manifest(repo: Path, name: str) -> str:
    from gitmodel.repo import Repo

    cache = Repo.discover(str(repo)).cache
    inner = cache.add_bytes(b"x")
    data = (CORPUS / "manifests" / name).read_bytes().replace(b"{oid}", inner.encode())
    moid = cache.add_bytes(data)  # under its correct oid: only the content is hostile
    (repo / "hostile.gm").write_text(f"version gitmodel/1\nkind dir\noid {moid}\nsize 1\nfiles 1\n")
    return moid


@pytest.mark.parametrize("name", MANIFESTS)
def test_hostile_manifest(world: dict[str, Path], name: str) -> None:
    repo = world["repo"]
    plant_manifest(repo, name)
    for args in [("status",), ("status", "hostile"), ("checkout",), ("checkout", "hostile"), ("push",),
                 ("push", "hostile"), ("pull", "hostile")]:
        expect_refusal(world, "manifest", in_repo(world, *args), "hostile")
    assert not (repo.parent / "escape.txt").exists() and not Path("/tmp/gitmodel-escape.txt").exists()


@pytest.mark.parametrize("name", ["dotdot-entry.txt", "duplicate-entries.txt", "bad-header.txt"])
def test_fsck_reports_a_hostile_manifest(world: dict[str, Path], name: str) -> None:
    moid = plant_manifest(world["repo"], name)
    r = gm_run(["fsck", "hostile"], cwd=world["repo"])
    TRIED["manifest"] += 1
    assert r.code == 1 and "Traceback" not in r.err + r.out, r
    assert f"bad manifest: {moid} (hostile)" in r.err, r


# -- paths: outside the repository, symlink loops and escapes -------------------------------

def test_paths_outside_the_repository(world: dict[str, Path]) -> None:
    repo, canary = world["repo"], world["canary"]
    outside = canary / "secret.txt"
    rel_out = os.path.relpath(outside, repo)
    for args in [("add", str(outside)), ("add", rel_out), ("add", "../outside"), ("status", str(outside)),
                 ("checkout", rel_out), ("fsck", rel_out), ("remove", rel_out), ("add", "/"), ("add", ".git/config"),
                 ("add", ".git"), ("add", "data/../../outside/secret.txt")]:
        expect_refusal(world, "path", in_repo(world, *args))


def test_folder_named_like_dot_git(world: dict[str, Path]) -> None:
    """A `.GIT` folder would be written back as a repository git obeys: add
    refuses it, as manifests do (an exact `.git` is a nested repository and
    is skipped)."""
    repo = world["repo"]
    (repo / "d" / ".GIT").mkdir(parents=True)
    (repo / "d" / ".GIT" / "config").write_text("[core]\n\tfsmonitor = touch /tmp/gitmodel-pwned\n")
    (repo / "d" / "ok.txt").write_text("ok")
    expect_refusal(world, "path", in_repo(world, "add", "d"), ".GIT")


def test_get_refuses_a_path_that_climbs_out(world: dict[str, Path], tmp_path: Path) -> None:
    for path in ("../../etc/passwd", "/etc/passwd", ".."):
        expect_refusal(world, "path", lambda path=path: gm_run(["get", str(world["repo"]), path, "-o",
                                                                 str(tmp_path / "o")], cwd=world["canary"]))


def test_symlink_loops(world: dict[str, Path]) -> None:
    repo = world["repo"]
    os.symlink("loop", repo / "loop")
    expect_refusal(world, "symlink", in_repo(world, "add", "loop"), "loop")
    (repo / "d").mkdir()
    (repo / "d" / "f.txt").write_text("f")
    os.symlink("l2", repo / "d" / "l1")
    os.symlink("l1", repo / "d" / "l2")
    expect_refusal(world, "symlink", in_repo(world, "add", "d"), "d/l")


def test_symlink_escapes(world: dict[str, Path]) -> None:
    repo, canary = world["repo"], world["canary"]
    os.symlink(canary / "secret.txt", repo / "link.bin")
    expect_refusal(world, "symlink", in_repo(world, "add", "link.bin"), "outside the repository")
    (repo / "d").mkdir()
    (repo / "d" / "f.txt").write_text("f")
    os.symlink(canary / "secret.txt", repo / "d" / "out.txt")
    expect_refusal(world, "symlink", in_repo(world, "add", "d"), "outside the repository")
    os.symlink(canary, repo / "via")
    expect_refusal(world, "symlink", in_repo(world, "add", "via/secret.txt"), "outside the repository")
    os.symlink(repo / "data", repo / "d" / "folder-link")
    os.unlink(repo / "d" / "out.txt")
    expect_refusal(world, "symlink", in_repo(world, "add", "d"), "folder")


def test_tracked_folder_replaced_by_a_symlink_out(world: dict[str, Path]) -> None:
    """checkout must not write the folder's files into whatever the folder
    name now points at."""
    repo, canary = world["repo"], world["canary"]
    shutil.rmtree(repo / "data")
    os.symlink(canary, repo / "data")
    for args in [("checkout",), ("checkout", "--force", "data"), ("status", "data"), ("pull", "--force")]:
        expect_refusal(world, "symlink", in_repo(world, *args), "data")
    assert sorted(os.listdir(canary)) == ["secret.txt"]


def test_file_inside_tracked_folder_replaced_by_symlink_out(world: dict[str, Path]) -> None:
    repo, canary = world["repo"], world["canary"]
    os.unlink(repo / "data" / "a.txt")
    os.symlink(canary / "secret.txt", repo / "data" / "a.txt")
    for args in [("checkout", "--force"), ("status",), ("add", "data")]:
        expect_refusal(world, "symlink", in_repo(world, *args), "outside the repository")
    assert (canary / "secret.txt").read_bytes() == b"not yours"


# -- unreadable files -----------------------------------------------------------------------

def obeying_permissions(w: dict[str, Path], *args: str) -> Callable[[], Result]:
    """Root ignores permission bits: run without the capabilities that let
    it (a non-root run needs nothing special)."""
    preexec = without_permission_override if os.geteuid() == 0 else None
    return lambda: run_cli(list(args), w["repo"], preexec=preexec)


@pytest.fixture
def owned(world: dict[str, Path]) -> dict[str, Path]:
    if os.geteuid() == 0:
        try:
            subprocess.run(["true"], preexec_fn=without_permission_override, check=True)
        except (OSError, subprocess.SubprocessError) as e:
            pytest.skip(f"running as root and cannot drop CAP_DAC_OVERRIDE here: {e}")
    return world


def test_unreadable_file(owned: dict[str, Path]) -> None:
    repo = owned["repo"]
    (repo / "secret.bin").write_bytes(b"s")
    os.chmod(repo / "secret.bin", 0)
    expect_refusal(owned, "unreadable", obeying_permissions(owned, "add", "secret.bin"), "secret.bin")


def test_unreadable_file_inside_a_folder(owned: dict[str, Path]) -> None:
    repo = owned["repo"]
    (repo / "d").mkdir()
    for i in range(5):
        (repo / "d" / f"f{i}.txt").write_text(str(i))
    os.chmod(repo / "d" / "f3.txt", 0)
    expect_refusal(owned, "unreadable", obeying_permissions(owned, "add", "d"), "f3.txt")


def test_unreadable_subfolder(owned: dict[str, Path]) -> None:
    repo = owned["repo"]
    (repo / "d" / "sub").mkdir(parents=True)
    (repo / "d" / "sub" / "f.txt").write_text("f")
    os.chmod(repo / "d" / "sub", 0)
    expect_refusal(owned, "unreadable", obeying_permissions(owned, "add", "d"), "d/sub")


def test_tracked_file_made_unreadable(owned: dict[str, Path]) -> None:
    repo = owned["repo"]
    os.chmod(repo / "good.bin", 0)
    for args in [("status",), ("checkout",), ("add", "good.bin")]:
        expect_refusal(owned, "unreadable", obeying_permissions(owned, *args), "good.bin")


# -- a full disk ------------------------------------------------------------------------------

def _limit_file_size(limit: int) -> Callable[[], None]:
    def apply() -> None:  # in the child, before exec: every file it writes stops at `limit`
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def test_full_disk_simulated_with_a_file_size_limit(world: dict[str, Path]) -> None:
    """RLIMIT_FSIZE (portable, unprivileged): a write past the limit fails
    with EFBIG, as a full disk fails with ENOSPC."""
    repo = world["repo"]
    (repo / "big.bin").write_bytes(os.urandom(3 << 20))
    (repo / "many").mkdir()
    for i in range(20):  # a batch of small files, some of which fit under the limit
        (repo / "many" / f"f{i:02}.bin").write_bytes(os.urandom((i % 4 + 1) * (100 << 10)))
    for args, limit in [(("add", "big.bin"), 1 << 20), (("add", "many"), 250 << 10)]:
        expect_refusal(world, "full disk",
                       lambda args=args, limit=limit: run_cli(list(args), repo, preexec=_limit_file_size(limit)),
                       "limit")
    # Reading back into the workspace with the limit: checkout of a large file.
    assert gm_run(["add", "big.bin"], cwd=repo).code == 0
    git("add", "-A", cwd=repo)
    os.unlink(repo / "big.bin")
    expect_refusal(world, "full disk", lambda: run_cli(["checkout", "big.bin"], repo,
                                                       preexec=_limit_file_size(1 << 20)), "limit")


@pytest.fixture
def tiny_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A real 4 MiB filesystem (root only, where mounting is allowed)."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root; the RLIMIT_FSIZE test covers this unprivileged")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr!r}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_full_disk_for_real(gm, tiny_tmpfs: Path) -> None:
    root = tiny_tmpfs / "repo"
    root.mkdir()
    git("init", "-q", cwd=root)
    assert gm("init", cwd=root).code == 0
    (root / "ok.bin").write_bytes(b"fits")
    assert gm("add", "ok.bin", cwd=root).code == 0
    with open(root / "big.bin", "wb") as f:  # fill most of what is left: the cache copy cannot fit
        f.write(os.urandom(2 << 20))
    w = {"repo": root, "store": tiny_tmpfs / "none", "canary": tiny_tmpfs / "canary"}
    w["store"].mkdir()
    w["canary"].mkdir()
    expect_refusal(w, "full disk", lambda: gm_run(["add", "big.bin"], cwd=root), "no space left")
    assert gm("status", cwd=root).code == 0


# -- a read-only cache ----------------------------------------------------------------------

def cache_folders(repo: Path) -> list[Path]:
    base = cache_root(repo)
    shards = sorted((base / "objects" / "xxh128").iterdir())
    return [base / "tmp", base / "objects" / "xxh128", *shards]


def test_read_only_cache(world: dict[str, Path]) -> None:
    repo = world["repo"]
    (repo / "new.bin").write_bytes(b"new content")
    (repo / "newdir").mkdir()
    (repo / "newdir" / "x.txt").write_bytes(b"x")
    (repo / "good.bin").unlink()
    with read_only(*cache_folders(repo)):
        for args in [("add", "new.bin"), ("add", "newdir")]:
            expect_refusal(world, "read-only cache", in_repo(world, *args), "not writable")
        # Reading from it still works: checkout restores from the cache.
        r = gm_run(["checkout"], cwd=repo)
        assert r.code == 0, r
        assert (repo / "good.bin").read_bytes() == b"good bytes"
        assert gm_run(["status"], cwd=repo).code == 0


def test_read_only_cache_gc_and_fetch(world: dict[str, Path]) -> None:
    repo = world["repo"]
    (repo / "good.bin").write_bytes(b"v2")
    assert gm_run(["add", "good.bin"], cwd=repo).code == 0
    (repo / "good.bin").write_bytes(b"v3")  # v2: garbage once v3 is added
    assert gm_run(["add", "good.bin"], cwd=repo).code == 0
    git("add", "-A", cwd=repo)
    git("commit", "-q", "--no-verify", "-m", "v3", cwd=repo)
    objects(repo)[oid_of(b"good bytes")].unlink()  # needs a fetch to come back
    with read_only(*cache_folders(repo)):
        expect_refusal(world, "read-only cache", in_repo(world, "fetch", "--rev", "HEAD~1"), "not writable")
        expect_refusal(world, "read-only cache", in_repo(world, "gc", "--keep-days", "0"), "not writable")


# -- a corrupt stat cache, a corrupt config ------------------------------------------------------

@pytest.mark.parametrize("garbage", [b"this is not a database" * 100, b"SQLite format 3\x00" + os.urandom(4000), b""])
def test_corrupt_stat_cache_is_rebuilt_silently(gm, world: dict[str, Path], garbage: bytes) -> None:
    repo = world["repo"]
    db = cache_root(repo) / "state.db"
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(str(db) + suffix):
            os.unlink(str(db) + suffix)
    db.write_bytes(garbage)
    TRIED["stat cache"] += 1
    r = gm("status")
    assert r.code == 0 and r.err == "", r
    assert "unchanged" in r.out
    assert db.read_bytes()[:16] == b"SQLite format 3\x00", "the stat cache was not rebuilt"
    (repo / "good.bin").unlink()
    assert gm("checkout").code == 0 and (repo / "good.bin").read_bytes() == b"good bytes"


def test_stat_cache_that_is_a_folder(gm, world: dict[str, Path]) -> None:
    db = cache_root(world["repo"]) / "state.db"
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(str(db) + suffix):
            os.unlink(str(db) + suffix)
    db.mkdir()
    TRIED["stat cache"] += 1
    r = gm("status")
    assert "Traceback" not in r.err and r.code in (0, 1), r
    if r.code == 1:
        assert_one_line_error(r, "state.db")


CONFIGS = sorted(p.name for p in (CORPUS / "configs").iterdir())


CONFIG_COMMANDS = [("add", "new.bin"), ("checkout",), ("push",), ("pull",), ("fetch",)]


@pytest.mark.parametrize("local", [False, True], ids=["committed", "local"])
@pytest.mark.parametrize("name", CONFIGS)
def test_corrupt_config(world: dict[str, Path], name: str, local: bool) -> None:
    repo = world["repo"]
    target = repo / ".gitmodel" / ("config.local.toml" if local else "config.toml")
    shutil.copyfile(CORPUS / "configs" / name, target)
    (repo / "new.bin").write_bytes(b"n")
    (repo / "good.bin").unlink()
    for args in CONFIG_COMMANDS:  # every command that needs the config
        expect_refusal(world, "config", in_repo(world, *args), "config")
    for args in [("status",), ("fsck",), ("gc",)]:  # those that do not: work, or refuse the same way
        before = state(world)
        r = gm_run(list(args), cwd=repo)
        TRIED["config"] += 1
        assert "Traceback" not in r.err + r.out and r.code in (0, 1), r
        if r.code == 1 and args != ("fsck",):
            assert_one_line_error(r, "config")
        assert state(world) == before
