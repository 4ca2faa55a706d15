"""Hostile content (issue 13, class 5): repositories whose bytes are well
formed enough to be fetched but hold what no parser should trust.  Tag dates
past year 9999 or beyond what libgit2 parses, metrics and config nested past
any recursion limit or expanding through YAML aliases, numbers of 5000
digits, pack-index records near 2^64, manifests far larger than their
pointer's file count, and pointers whose size disagrees with their object.

Each case builds the hostile repository with real git (and a folder remote),
clones it, runs the commands that read it on the clone, and asserts one line
naming the problem and exit 1 (a metrics file that cannot be read is a
warning, exit 0, as for any unreadable metrics file), never exit 3; nothing
written outside the work tree and `.git`'s hooks and config unchanged.
"""

from __future__ import annotations

import json
import os
import struct
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import xxhash

from tests.support.cli import Result, assert_one_line_error, gm_run, write_figures
from tests.support.files import write
from tests.support.git import clone, commit_without_hooks, git, make_repo
from tests.support.state import tree_state
from tests.support.store import cache_root, oid_of

TRIED: Counter[str] = Counter()  # case -> commands run on the clone


@pytest.fixture(scope="module", autouse=True)
def _print_figures(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if TRIED:
        write_figures(request, f"hostile content: {len(TRIED)} kinds, {sum(TRIED.values())} commands on clones, "
                               f"each one line and exit 1 (or a warning), 0 writes outside the work tree: "
                               f"{dict(sorted(TRIED.items()))}")


class World:
    """An origin repository with a folder remote (`../store`, committed in
    its config), a canary folder outside every repository, and the clone the
    commands run in."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.origin = make_repo(base / "origin")
        self.store = base / "store"
        self.canary = base / "outside"
        self.canary.mkdir()
        (self.canary / "secret.txt").write_text("not yours")
        self.gm("remote", "add", "origin", "../store", "--default", cwd=self.origin)
        self.gm("remote", "modify", "origin", "link", "copy", cwd=self.origin)
        self.clone_root: Path | None = None

    def gm(self, *args: str, cwd: Path) -> Result:
        r = gm_run(list(args), cwd=cwd)
        assert r.code == 0, r
        return r

    def clone(self) -> Path:
        self.clone_root = clone(self.origin, self.base / "clone")
        # gitmodel's own setup of a clone (hooks, the textconv driver) first:
        # what is compared after each command is what a hostile input could add.
        self.gm("install-hooks", cwd=self.clone_root)
        self._control = self._control_state()
        self._outside = self._outside_state()
        return self.clone_root

    def _control_state(self) -> dict[str, object]:
        assert self.clone_root is not None
        dotgit = self.clone_root / ".git"
        return {"hooks": tree_state(dotgit / "hooks"), "config": (dotgit / "config").read_bytes()}

    def _outside_state(self) -> dict[str, object]:
        return {"canary": tree_state(self.canary), "base": sorted(os.listdir(self.base))}

    def run(self, case: str, *args: str) -> Result:
        """A command on the clone: never exit 3, nothing written outside the
        work tree, no hook or git config written."""
        assert self.clone_root is not None
        r = gm_run(list(args), cwd=self.clone_root)
        TRIED[case] += 1
        assert r.code in (0, 1), r
        assert "Traceback" not in r.err + r.out and "This is a bug" not in r.err, r
        assert self._outside_state() == self._outside, f"{args}: something was written outside the work tree"
        assert self._control_state() == self._control, f"{args}: .git's hooks or config changed"
        return r

    def refused(self, case: str, *args: str, needles: tuple[str, ...]) -> str:
        return assert_one_line_error(self.run(case, *args), *needles)


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


def annotated_tag(root: Path, name: str, tagger_time: str, message: str = "Registering\n") -> str:
    """An annotated tag object written byte for byte, as a stranger can:
    git and libgit2 accept tagger times that no calendar holds."""
    commit = git("rev-parse", "HEAD", cwd=root).strip()
    raw = f"object {commit}\ntype commit\ntag {name}\ntagger Eve <eve@example.com> {tagger_time} +0000\n\n{message}"
    sha = git("hash-object", "-t", "tag", "-w", "--stdin", "--literally", cwd=root, input=raw).strip()
    git("update-ref", f"refs/tags/{name}", sha, cwd=root)
    return sha


def model_repo(w: World) -> None:
    write(w.origin, "model.bin", b"weights")
    w.gm("add", "model.bin", cwd=w.origin)
    w.gm("model", "add", "clf", "model.bin", cwd=w.origin)
    w.gm("push", cwd=w.origin)
    commit_without_hooks(w.origin, "model")
    w.gm("tag", "clf", "v1.0.0", cwd=w.origin)  # a sound version beside the hostile one


# -- tag dates -------------------------------------------------------------------------------

@pytest.mark.parametrize("tagger_time", ["99999999999999", "253402300800", str(2**63 - 1), str(2**64 - 1)],
                         ids=["year-3e6", "year-10000", "2^63-1", "2^64-1-unparsable"])
def test_tag_with_a_date_no_calendar_holds(world: World, tagger_time: str) -> None:
    model_repo(world)
    annotated_tag(world.origin, "clf@v2.0.0", tagger_time)
    world.clone()
    for args in [("versions",), ("versions", "clf"), ("versions", "--json"), ("show", "clf"), ("history",),
                 ("history", "clf"), ("log",)]:
        r = world.run("tag date", *args)
        line = assert_one_line_error(r, "clf@v2.0.0", "is ignored")
        assert "tagger date" in line or "cannot read its tag object" in line, line
        if args[0] in ("versions", "history"):
            assert "v1.0.0" in r.out, r  # the sound version is still listed


def test_gc_keeps_what_an_unparsable_tag_names() -> None:
    """A tag object libgit2 cannot parse is still read raw for gc: the oids
    its snapshot names stay live."""
    import pygit2

    from gitmodel.registry.state import tag_messages

    base = Path(os.environ["HOME"]).parent
    root = make_repo(base / "unparsable")
    commit_without_hooks(root, "c")
    annotated_tag(root, "clf@v9.0.0", str(2**64 - 1), "keep xxh128:" + "ab" * 16 + "\n")
    assert any("xxh128:" + "ab" * 16 in m for m in tag_messages(pygit2.Repository(str(root))))


# -- nesting, aliases and long numbers in committed files ------------------------------------

DEEP_JSON = '{"a": ' * 100_000 + "1" + "}" * 100_000
YAML_BOMB = "a0: &a0 {x: 1, y: 2}\n" + "".join(f"a{i}: &a{i} {{x: *a{i - 1}, y: *a{i - 1}}}\n" for i in range(1, 40))


@pytest.mark.parametrize(("metrics", "params"), [
    (DEEP_JSON, "lr: 0.1\n"),
    ('{"acc": ' + "9" * 5000 + "}", YAML_BOMB),
    ('{"acc": 0.5}', "a: &x [*x]\n"),
], ids=["deep-json", "yaml-bomb-and-long-number", "yaml-cycle"])
def test_metrics_and_params_that_no_parser_can_hold(world: World, metrics: str, params: str) -> None:
    write(world.origin, "model.bin", b"weights")
    world.gm("add", "model.bin", cwd=world.origin)
    world.gm("model", "add", "clf", "model.bin", "--metrics", "metrics.json", "--params", "params.yaml",
             cwd=world.origin)
    world.gm("push", cwd=world.origin)
    write(world.origin, "metrics.json", metrics)
    write(world.origin, "params.yaml", params)
    commit_without_hooks(world.origin, "model")
    clone_root = world.clone()
    for args in [("metrics", "show"), ("params", "show"), ("metrics", "diff", "HEAD"), ("params", "diff", "HEAD")]:
        r = world.run("metrics nesting", *args)
        assert r.code == 0 and r.err.count("\n") <= 2, r  # unreadable files are warnings, each one line
    r = world.run("metrics nesting", "tag", "clf", "v1.0.0")
    assert r.code == 0, r  # the version records no values from them, and says so
    assert "version records no values" in r.err + r.out, r
    r = world.run("metrics nesting", "show", "clf@v1.0.0")
    assert r.code == 0, r
    assert git("tag", "-l", cwd=clone_root).split() == ["clf@v1.0.0"]


@pytest.mark.parametrize("text", [
    "[core]\nlink = " + "[" * 100_000 + "]" * 100_000 + "\n",
    "[core]\nlink = " + "{a = " * 3000 + "1" + "}" * 3000 + "\n",
    "[core]\nlink = " + "9" * 5000 + "\n",
], ids=["deep-array", "deep-table", "long-number"])
def test_config_that_no_parser_can_hold(world: World, text: str) -> None:
    commit_without_hooks(world.origin, "base")
    write(world.origin, ".gitmodel/config.toml", text)
    commit_without_hooks(world.origin, "hostile config")
    world.clone()
    for args in [("pull",), ("checkout",), ("push",), ("fetch",), ("remote", "list")]:
        world.refused("config", *args, needles=("config.toml", "not valid TOML"))


def test_snapshot_nested_past_the_parser_is_no_snapshot(world: World) -> None:
    """A tag message is foreign input: a snapshot nested 100,000 deep is
    damage (the version records nothing), not a crash."""
    model_repo(world)
    annotated_tag(world.origin, "clf@v3.0.0", "1700000000",
                  "Registering\n\ngitmodel-snapshot:\n" + '{"format": "gitmodel-snapshot/1", "model": '
                  + "[" * 100_000 + "]" * 100_000 + "}\n")
    commit = git("rev-parse", "HEAD", cwd=world.origin).strip()
    huge = {"format": "gitmodel-snapshot/1", "model": "clf", "version": "v4.0.0", "commit": commit,
            "artifact": {"path": "model.bin", "kind": "file", "oid": oid_of(b"weights"), "size": 10**400}}
    annotated_tag(world.origin, "clf@v4.0.0", "1700000001", f"Registering\n\ngitmodel-snapshot:\n{json.dumps(huge)}\n")
    world.clone()
    for args in [("versions",), ("show", "clf@v3.0.0"), ("show", "clf@v4.0.0"), ("versions", "--json"), ("history",)]:
        r = world.run("snapshot nesting", *args)
        assert r.code == 0, r
        assert "1" * 100 not in r.out, r  # a 401-digit size is no size: not shown, not summed


# -- pack indexes that name bytes near 2^64 -------------------------------------------------------

def forge_index(folder: Path, size: int) -> None:
    """Rewrite the one pack index in `folder` so its first record claims
    `size` bytes, with a correct digest and the pack id that matches it (what
    anyone who can write the folder can do)."""
    (idx,) = folder.glob("pack-*.idx")
    data = idx.read_bytes()
    body = bytearray(data[15:-16])
    digest, off, _ = struct.unpack_from("<16sQQ", body, 0)
    struct.pack_into("<16sQQ", body, 0, digest, off, size)
    packid = xxhash.xxh3_128_hexdigest(bytes(body))
    head = b"gitmodel-idx 1\n" + bytes(body)
    old_pack = idx.with_suffix(".pack")
    os.chmod(folder, 0o755)
    idx.unlink()
    os.rename(old_pack, folder / f"pack-{packid}.pack")
    (folder / f"pack-{packid}.idx").write_bytes(head + xxhash.xxh3_128_digest(head))


def packed_repo(w: World) -> None:
    for i in range(20):  # 16 or more small files go into one pack
        write(w.origin, f"data/f{i:02}.txt", f"file {i}")
    w.gm("add", "data", cwd=w.origin)
    w.gm("push", cwd=w.origin)
    commit_without_hooks(w.origin, "data")


@pytest.mark.parametrize("size", [2**64 - 1, 2**63, 2**40], ids=["2^64-1", "2^63", "2^40"])
def test_remote_pack_index_near_2_64(world: World, size: int) -> None:
    packed_repo(world)
    forge_index(world.store / "packs", size)
    world.clone()
    for args in [("pull",), ("fetch",), ("fsck", "-r", "origin")]:
        r = world.run("pack index", *args)
        assert r.code == 1, r
        assert "damaged" in r.err + r.out, r
    assert world.clone_root is not None and not (world.clone_root / "data").exists()


@pytest.mark.parametrize("size", [2**64 - 1, 2**40], ids=["2^64-1", "2^40"])
def test_cache_pack_index_near_2_64(world: World, size: int) -> None:
    packed_repo(world)
    clone_root = world.clone()
    world.run("pack index", "pull")
    forge_index(cache_root(clone_root) / "packs", size)
    for args in [("status",), ("checkout", "--force")]:
        world.refused("pack index", *args, needles=("damaged", "gitmodel fsck"))
    r = world.run("pack index", "fsck")
    assert r.code == 1 and "bad pack" in r.out + r.err, r


# -- pointers: numbers, and sizes that disagree with their object ------------------------------------

def test_fifo_named_like_a_pointer_never_blocks(tmp_path: Path) -> None:
    """Opening a FIFO for reading waits for a writer: a pointer is opened
    without blocking and refused for not being a regular file."""
    from gitmodel.errors import PointerError
    from gitmodel.store import pointer

    fifo = tmp_path / "x.bin.gm"
    os.mkfifo(fifo)
    with pytest.raises(PointerError, match="not a regular file"):
        pointer.read(str(fifo), "x.bin.gm")
    TRIED["fifo pointer"] += 1


def test_pointer_size_of_5000_digits(world: World) -> None:
    commit_without_hooks(world.origin, "base")
    write(world.origin, "big.bin.gm", f"version gitmodel/1\nkind file\noid {oid_of(b'x')}\nsize {'9' * 5000}\n")
    commit_without_hooks(world.origin, "hostile pointer")
    world.clone()
    for args in [("status",), ("checkout",), ("pull",), ("push",), ("status", "big.bin")]:
        world.refused("pointer number", *args, needles=("big.bin.gm", "implausibly large"))
    r = world.run("pointer number", "fsck")
    assert r.code == 1 and "bad pointer:  (big.bin.gm): big.bin.gm: size 9999" in r.err, r


def test_pointer_whose_size_disagrees_with_its_object(world: World) -> None:
    write(world.origin, "model.bin", b"the real weights")
    write(world.origin, "good.bin", b"fine")
    world.gm("add", "model.bin", "good.bin", cwd=world.origin)
    world.gm("push", cwd=world.origin)
    pointer = world.origin / "model.bin.gm"
    pointer.write_text(pointer.read_text().replace("size 16", "size 5"))
    commit_without_hooks(world.origin, "pointer says 5 bytes")
    clone_root = world.clone()
    world.refused("size mismatch", "pull", needles=("model.bin.gm", "says 5 bytes", "holds 16"))
    assert not (clone_root / "model.bin").exists()  # never written quietly
    assert (clone_root / "good.bin").read_bytes() == b"fine"  # the others are
    for args in [("checkout",), ("checkout", "model.bin"), ("status",), ("status", "model.bin")]:
        world.refused("size mismatch", *args, needles=("model.bin.gm", "says 5 bytes"))
    assert not (clone_root / "model.bin").exists()
    r = world.run("size mismatch", "fsck")
    assert r.code == 1 and "bad pointer: " in r.out + r.err and "model.bin.gm" in r.out + r.err, r


def test_folder_pointer_whose_size_or_count_disagrees(world: World) -> None:
    for i in range(3):
        write(world.origin, f"data/f{i}.txt", f"file {i}")
    world.gm("add", "data", cwd=world.origin)
    world.gm("push", cwd=world.origin)
    pointer = world.origin / "data.gm"
    text = pointer.read_text()
    pointer.write_text(text.replace("size 18", "size 999"))
    commit_without_hooks(world.origin, "folder pointer says 999 bytes")
    clone_root = world.clone()
    world.refused("size mismatch", "pull", needles=("data.gm", "says 999 bytes"))
    assert not (clone_root / "data").exists()
    for args in [("status",), ("checkout",)]:
        world.refused("size mismatch", *args, needles=("data.gm", "says 999 bytes"))
    r = world.run("size mismatch", "fsck")
    assert r.code == 1 and "bad pointer: " in r.err and "data.gm" in r.err and "says 3 files, 999 bytes" in r.err, r


def test_manifest_far_larger_than_its_pointer_says(world: World) -> None:
    """`files 1` naming a manifest of 5000 entries: refused from the
    manifest's size, before it is read or parsed."""
    write(world.origin, "seed.bin", b"x")
    world.gm("add", "seed.bin", cwd=world.origin)
    from gitmodel.repo import Repo

    cache = Repo.discover(str(world.origin)).cache
    entries = "".join(f"{oid_of(b'x')}\t1\t644\tf{i:05}\n" for i in range(5000))
    moid = cache.add_bytes(f"gitmodel-manifest 1\n{entries}".encode())
    write(world.origin, "data.gm", f"version gitmodel/1\nkind dir\noid {moid}\nsize 1\nfiles 1\n")
    world.gm("push", cwd=world.origin)
    commit_without_hooks(world.origin, "a pointer that undercounts")
    clone_root = world.clone()
    world.refused("manifest count", "pull", needles=("data.gm", "says 1 files"))
    for args in [("status",), ("checkout",), ("status", "data")]:
        world.refused("manifest count", *args, needles=("data.gm", "says 1 files"))
    assert not (clone_root / "data").exists()
    # Every reader that has the pointer holds the manifest to it (Cache.read_manifest):
    # a deploy-side `get` of the folder too.
    out = world.base / "got"
    world.refused("manifest count", "get", str(world.origin), "data", "-o", str(out),
                  needles=("data.gm", "says 1 files"))
    assert not out.exists()
