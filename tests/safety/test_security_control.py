"""Hostile repositories, issue 13 classes 2 and 4 and two items of class 9:
control files that are symlinks (`.gitignore`, `.gitattributes`, the
`.gitmodel/` folder, the config files in it), a folder where a control file
belongs or a file where `.gitmodel/` belongs, and symlinks that lead to the
repository's own control files (`.git/config`, `.gitmodel/config.local.toml`).

Each case builds the hostile repository with real git, clones it, runs
gitmodel on the clone and asserts exit 1 with one line naming the problem,
nothing written outside the work tree (a secret file and a folder beside the
clone are byte-for-byte as they were), `.git`'s hooks and config unchanged,
and the secret neither staged nor in the cache.  Safe targets still work.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.cli import GM, Result, assert_one_line_error, gm_proc
from tests.support.files import write
from tests.support.git import add_folder_remote, clone, commit_without_hooks, git, gm_add, make_repo
from tests.support.state import git_control_state, tree_state

SECRET = b'[remote.leak]\nurl = "s3://bucket"\nsecret_access_key = "SECRET-4f1d9a"\n'
SECRET_MARK = b"SECRET-4f1d9a"
SYMLINK = "is a symlink; gitmodel never reads or writes a control file through one"


@dataclass
class World:
    tmp: Path
    secret: Path  # a file outside every repository, as ~/.aws/credentials would be
    outside: Path  # a folder outside every repository (a canary: nothing may be written there)


@pytest.fixture
def world(tmp_path: Path) -> World:
    secret = tmp_path / "secret.toml"
    secret.write_bytes(SECRET)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "config.toml").write_bytes(SECRET)
    return World(tmp_path, secret, outside)


def hostile(w: World, build: Callable[[Path], None], *, gitmodel: bool = True) -> Path:
    """A repository `build` made hostile, committed and cloned: the clone."""
    src = make_repo(w.tmp / "src", init_gitmodel=gitmodel)
    write(src, "m.bin", b"a model")
    build(src)
    commit_without_hooks(src, "hostile")
    return clone(src, w.tmp / "clone")


def symlink(root: Path, rel: str, target: str | Path) -> None:
    """Replace `rel` with a symlink to `target` (committed by the next commit)."""
    path = root / rel
    if path.is_dir() and not path.is_symlink():
        git("rm", "-rq", "--cached", "--ignore-unmatch", rel, cwd=root)
        for p in sorted(path.rglob("*"), reverse=True):
            p.unlink() if p.is_file() else p.rmdir()
        path.rmdir()
    elif path.exists() or path.is_symlink():
        path.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)
    os.symlink(target, path)


def guarded(w: World, root: Path) -> dict[str, object]:
    """What no refused command may change: everything outside the work tree
    that is not gitmodel's cache (the secret, the canary folder, .git's
    hooks and config) and the index."""
    return {
        "outside": tree_state(w.outside, skip_git=False),
        "secret": w.secret.read_bytes(),
        "git's own files": git_control_state(root),
        "index": git("ls-files", "--stage", cwd=root),
    }


def no_secret_kept(root: Path) -> None:
    """The secret is in no staged blob and no cache object."""
    for line in git("ls-files", "--stage", cwd=root).splitlines():
        mode, oid = line.split()[:2]
        if mode != "120000":  # a symlink's blob is its target's name, not its content
            assert SECRET_MARK not in git("cat-file", "blob", oid, cwd=root).encode(), line
    cache = root / ".git" / "gitmodel"
    for p in cache.rglob("*") if cache.exists() else []:
        if p.is_file() and not p.name.startswith("state.db"):
            assert SECRET_MARK not in p.read_bytes(), p


def refused(w: World, root: Path, run: Callable[[], Result], *needles: str) -> str:
    before = guarded(w, root)
    r = run()
    line = assert_one_line_error(r, *needles)
    assert SECRET_MARK.decode() not in r.out + r.err
    assert guarded(w, root) == before
    no_secret_kept(root)
    return line


# -- class 2: control files that are symlinks ---------------------------------

def test_gitignore_symlink_is_never_read_into_the_index(gm: GM, world: World) -> None:
    """The reproduction: a committed `.gitignore -> secret` made `gitmodel add`
    read the secret and stage it as the new .gitignore."""
    root = hostile(world, lambda src: symlink(src, ".gitignore", world.secret))
    refused(world, root, lambda: gm("add", "m.bin", cwd=root), ".gitignore: " + SYMLINK, "plain file")
    assert (root / ".gitignore").is_symlink()
    assert not (root / "m.bin.gm").exists()  # refused before its first write


def test_gitignore_symlink_in_a_subfolder(gm: GM, world: World) -> None:
    def build(src: Path) -> None:
        write(src, "sub/m.bin", b"a model")
        symlink(src, "sub/.gitignore", world.secret)

    root = hostile(world, build)
    refused(world, root, lambda: gm("add", "sub/m.bin", cwd=root), "sub/.gitignore: " + SYMLINK)
    assert not (root / "sub" / "m.bin.gm").exists()


def test_gitignore_symlink_on_remove(gm: GM, world: World) -> None:
    """`remove` edits the .gitignore too: refused before the pointer goes."""
    def build(src: Path) -> None:
        gm_add(src, "m.bin")
        (src / "m.bin").unlink()  # the clone gets the pointer only
        symlink(src, ".gitignore", world.secret)

    root = hostile(world, build)
    refused(world, root, lambda: gm("remove", "m.bin", cwd=root), ".gitignore: " + SYMLINK)
    assert (root / "m.bin.gm").is_file()  # refused before the pointer went


def test_gitattributes_symlink(gm: GM, world: World) -> None:
    root = hostile(world, lambda src: symlink(src, ".gitattributes", world.secret))
    refused(world, root, lambda: gm("init", cwd=root), ".gitattributes: " + SYMLINK)


@pytest.mark.parametrize("target", ["outside", "inside"])
def test_gitmodel_folder_symlink(gm: GM, world: World, target: str) -> None:
    """`.gitmodel -> elsewhere`: init would write the config there, every
    command would read its remotes (and secrets) from there."""
    def build(src: Path) -> None:
        if target == "inside":  # a config of the repository's own, under another name
            write(src, "conf/config.toml", '[remote.leak]\nurl = "s3://bucket"\n')
        symlink(src, ".gitmodel", world.outside if target == "outside" else "conf")

    root = hostile(world, build)
    for args in (("init",), ("add", "m.bin"), ("remote", "list"), ("remote", "add", "s", "/x", "--local")):
        refused(world, root, lambda a=args: gm(*a, cwd=root), ".gitmodel: " + SYMLINK, "plain folder")
    assert sorted(p.name for p in world.outside.iterdir()) == ["config.toml"]


@pytest.mark.parametrize("name", ["config.toml", "config.local.toml"])
def test_config_file_symlink(gm: GM, world: World, name: str) -> None:
    """A config file linked to a secret: its remotes are never shown, it is
    never rewritten (the secret keeps its bytes) and nothing is added."""
    def build(src: Path) -> None:
        symlink(src, f".gitmodel/{name}", world.secret)
        git("add", "-f", f".gitmodel/{name}", cwd=src)  # config.local.toml is git-ignored

    root = hostile(world, build)
    local = ["--local"] if name == "config.local.toml" else []
    for args in (("remote", "list"), ("remote", "add", "s", str(world.tmp / "store"), *local), ("add", "m.bin"),
                 ("remote", "default", "leak", *local)):
        refused(world, root, lambda a=args: gm(*a, cwd=root), f".gitmodel/{name}: " + SYMLINK)
    assert (root / ".gitmodel" / name).is_symlink()


def test_gitmodel_gitignore_symlink(gm: GM, world: World) -> None:
    root = hostile(world, lambda src: symlink(src, ".gitmodel/.gitignore", world.secret))
    refused(world, root, lambda: gm("init", cwd=root), ".gitmodel/.gitignore: " + SYMLINK)


def test_dangling_config_symlink_is_not_replaced(gm: GM, world: World) -> None:
    """A symlink to nothing yet: writing through it would create the file
    outside the work tree; replacing it would hide the attack.  Refused."""
    planted = world.outside / "planted.toml"
    root = hostile(world, lambda src: symlink(src, ".gitmodel/config.toml", planted))
    refused(world, root, lambda: gm("init", cwd=root), ".gitmodel/config.toml: " + SYMLINK)
    refused(world, root, lambda: gm("remote", "add", "s", "/x", cwd=root), ".gitmodel/config.toml: " + SYMLINK)
    assert not planted.exists()


# -- class 9: a file where a folder belongs, a folder where a file belongs ----------------

def test_gitmodel_is_a_file(gm: GM, world: World) -> None:
    root = hostile(world, lambda src: write(src, ".gitmodel", "not a folder\n"), gitmodel=False)
    for args in (("init",), ("add", "m.bin"), ("status",)):
        refused(world, root, lambda a=args: gm(*a, cwd=root), ".gitmodel: is a file, not a folder")


def test_gitattributes_is_a_folder(gm: GM, world: World) -> None:
    root = hostile(world, lambda src: write(src, ".gitattributes/x", "x\n"), gitmodel=False)
    refused(world, root, lambda: gm("init", cwd=root), ".gitattributes: is a folder, not a file")
    assert not (root / ".gitmodel").exists()  # judged before init's first write


def test_gitignore_is_a_folder(gm: GM, world: World) -> None:
    root = hostile(world, lambda src: write(src, ".gitignore/x", "x\n"))
    refused(world, root, lambda: gm("add", "m.bin", cwd=root), ".gitignore: is a folder, not a file")
    assert not (root / "m.bin.gm").exists()


def test_gitignore_fifo_does_not_hang(world: World) -> None:
    """A FIFO cannot be committed, but a local one must not hang add (the
    lock held) waiting for a writer: refused at once."""
    root = make_repo(world.tmp / "r")
    write(root, "m.bin", b"a model")
    (root / ".gitignore").unlink(missing_ok=True)
    os.mkfifo(root / ".gitignore")
    refused(world, root, lambda: gm_proc("add", "m.bin", cwd=root, timeout=60), ".gitignore: is not a regular file")


# -- class 4: symlinks that lead to the repository's own control files -------------------

@pytest.mark.parametrize("target, why", [
    ("../.git/config", "git's own control files"),
    ("../.git/hooks", "git's own control files"),
    ("../.git", "git's own control files"),
    ("../.gitmodel/config.local.toml", "inside .gitmodel/"),
    ("../.gitmodel", "inside .gitmodel/"),
    ("../sub/.git/config", "inside .git, git's own control files"),  # a nested repository's config
])
def test_symlink_in_a_tracked_folder(gm: GM, world: World, target: str, why: str) -> None:
    def build(src: Path) -> None:
        write(src, "data/ok.bin", b"data")
        os.symlink(target, src / "data" / "link")

    root = hostile(world, build)
    git("rm", "-rq", "--cached", "data", cwd=root)  # as `gitmodel add data` asks for a folder git tracks
    write(root, ".gitmodel/config.local.toml", SECRET)  # the user's own secrets, as `remote add --local` keeps them
    git("init", "-q", str(root / "sub"))
    git("config", "user.token", SECRET_MARK.decode(), cwd=root / "sub")
    git("config", "user.token", SECRET_MARK.decode(), cwd=root)
    refused(world, root, lambda: gm("add", "data", cwd=root), "data/link: is a symlink to", why)
    assert not (root / "data.gm").exists()


@pytest.mark.parametrize("target", [".git/config", ".git", ".gitmodel/config.local.toml", "."])
def test_symlink_named_by_the_user(gm: GM, world: World, target: str) -> None:
    root = hostile(world, lambda src: os.symlink(target, src / "link"))
    git("rm", "-q", "--cached", "link", cwd=root)
    write(root, ".gitmodel/config.local.toml", SECRET)
    refused(world, root, lambda: gm("add", "link", cwd=root), "link")
    assert not (root / "link.gm").exists()


def test_separate_git_dir_inside_the_work_tree(gm: GM, world: World) -> None:
    """`--separate-git-dir` under another name than .git: judged by where the
    git dir really is, not by its name."""
    def build(src: Path) -> None:
        write(src, "data/ok.bin", b"data")
        os.symlink("../gd/config", src / "data" / "link")

    src = make_repo(world.tmp / "src")
    build(src)
    commit_without_hooks(src, "hostile")
    root = world.tmp / "clone"
    git("clone", "-q", "--separate-git-dir", str(root / "gd"), str(src), str(root))
    git("config", "user.token", SECRET_MARK.decode(), cwd=root)
    assert gm("init", cwd=root).code == 0
    before = (root / "gd" / "config").read_bytes()
    r = gm("add", "data", cwd=root)
    assert_one_line_error(r, "data/link: is a symlink to", "inside git's own control files")
    assert (root / "gd" / "config").read_bytes() == before
    assert not (root / "data.gm").exists()


def test_worktree_symlink_to_the_common_dir(gm: GM, world: World) -> None:
    """In a linked worktree the common git dir is outside the work tree:
    named as git's own files, not merely as outside."""
    root = hostile(world, lambda src: write(src, "data/ok.bin", b"data"))
    wt = world.tmp / "wt"
    git("worktree", "add", "-q", str(wt), cwd=root)
    write(wt, "data/ok.bin", b"data")
    os.symlink(root / ".git" / "config", wt / "data" / "link")
    assert gm("init", cwd=wt).code == 0
    r = gm("add", "data", cwd=wt)
    assert_one_line_error(r, "data/link: is a symlink to", "inside git's own control files")


@pytest.mark.parametrize("args", [("pull",), ("checkout",), ("checkout", "--force", "models"), ("status",),
                                  ("add", "models")])
def test_tracked_folder_replaced_by_a_symlink_to_git(gm: GM, world: World, args: tuple[str, ...]) -> None:
    """A tracked folder whose name is committed as a symlink to `.git`: pull
    would write the folder's files (`hooks`, `config`) into .git itself."""
    store = world.tmp / "store"

    def build(src: Path) -> None:
        add_folder_remote(gm, src, store)
        write(src, "models/config", b"[core]\n\thooksPath = /tmp\n")
        gm_add(src, "models")
        commit_without_hooks(src, "models")
        assert gm("push", cwd=src).code == 0
        symlink(src, "models", ".git")
        git("add", "-f", "models", cwd=src)  # git-ignored (gitmodel tracks it): forced in

    root = hostile(world, build)
    # Refused where the pointer is listed (Repo.check_rel) or, for `add`, where the folder is walked.
    refused(world, root, lambda: gm(*args, cwd=root), "models", "to ", "git's own control files")
    assert (root / "models").is_symlink()


def test_safe_symlinks_are_still_followed(gm: GM, world: World) -> None:
    """A symlink to another file of the work tree is data, in a folder or named."""
    def build(src: Path) -> None:
        write(src, "data/ok.bin", b"data")
        write(src, "real.bin", b"real")
        os.symlink("ok.bin", src / "data" / "alias")
        os.symlink("real.bin", src / "named")

    root = hostile(world, build)
    git("rm", "-rq", "--cached", "data", "named", cwd=root)
    r = gm("add", "data", "named", cwd=root)
    assert r.code == 0, r
    assert "2 files" in r.out
    assert (root / "named.gm").is_file()


# -- class 4: config.local.toml keeps its secrets to its owner --------------------------

def test_local_config_is_written_0600(gm: GM, world: World) -> None:
    root = make_repo(world.tmp / "r")
    r = gm("remote", "add", "s", str(world.tmp / "store"), "--local", cwd=root)
    assert r.code == 0, r
    local = root / ".gitmodel" / "config.local.toml"
    assert stat.S_IMODE(local.stat().st_mode) == 0o600
    local.chmod(0o644)  # made by hand, or by an older gitmodel
    r = gm("remote", "modify", "s", "jobs", "4", "--local", cwd=root)
    assert r.code == 0, r
    assert stat.S_IMODE(local.stat().st_mode) == 0o600
    assert 'jobs = 4' in local.read_text()
    assert stat.S_IMODE((root / ".gitmodel" / "config.toml").stat().st_mode) == 0o644  # committed: not secret
