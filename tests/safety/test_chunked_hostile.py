"""Hostile chunk lists and chunk objects, in the cache and on a remote.

A chunk list is untrusted input: it comes from remotes (and a cache can be
tampered with).  Every command that reads one (checkout, status, fetch,
pull, fsck, gc) must refuse what does not add up with exit 1 and an error,
never a traceback (exit 3), and never write a wrong file under a user's
name; gc, which reads a list only to keep what it names, must keep every
object a damaged list names.  Plus a derandomized hypothesis fuzz of the
list parser (`chunks.loads`) and of the chunk decoder (`chunks.decode`).
"""

from __future__ import annotations

import os
import random
import shutil
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitmodel.errors import GitmodelError
from gitmodel.store import chunks
from tests.maintenance.test_chunked_maintenance import lists, mirror, named
from tests.support.cli import Result, assert_one_line_error
from tests.support.files import write
from tests.support.git import commit_without_hooks, git
from tests.support.store import age, cache_root, oid_of, store_objects, temps

MiB = 1 << 20
FILE = 2 * MiB


@pytest.fixture(autouse=True)
def _small_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITMODEL_CHUNK_THRESHOLD", "1MiB")


def zstd(data: bytes) -> bytes:
    import zstandard

    return zstandard.ZstdCompressor(level=3).compress(data)


def with_line(good: bytes, fix: Callable[[list[str]], None]) -> bytes:
    lines = good.decode().split("\n")
    fix(lines)
    return "\n".join(lines).encode()


def first_chunk(lines: list[str]) -> list[str]:
    return lines[2].split(" ")


def set_first(lines: list[str], parts: list[str]) -> None:
    lines[2] = " ".join(parts)


def with_object(data: bytes) -> Callable[[bytes, str], tuple[bytes, bytes | None]]:
    """A list whose first chunk is stored as `data` (an encoded chunk
    object that the list now names, put beside it)."""
    def make(good: bytes, _oid: str) -> tuple[bytes, bytes | None]:
        def fix(lines: list[str]) -> None:
            parts = first_chunk(lines)
            parts[2] = oid_of(data)
            set_first(lines, parts[:3])
        return with_line(good, fix), data
    return make


def _wrong_oid(good: bytes, oid: str) -> tuple[bytes, bytes | None]:
    return good.replace(f"file {oid}".encode(), f"file {oid_of(b'another file')}".encode()), None


def _size(fn: Callable[[int], int]) -> Callable[[bytes, str], tuple[bytes, bytes | None]]:
    def make(good: bytes, _oid: str) -> tuple[bytes, bytes | None]:
        def fix(lines: list[str]) -> None:
            parts = first_chunk(lines)
            parts[0] = str(fn(int(parts[0])))
            set_first(lines, parts)
        return with_line(good, fix), None
    return make


def _count(good: bytes, _oid: str) -> tuple[bytes, bytes | None]:
    def fix(lines: list[str]) -> None:
        head = lines[1].split(" ")
        lines[1] = " ".join([*head[:3], "999999999"])
    return with_line(good, fix), None


def _chain(extra: Callable[[str], list[str]]) -> Callable[[bytes, str], tuple[bytes, bytes | None]]:
    def make(good: bytes, _oid: str) -> tuple[bytes, bytes | None]:
        def fix(lines: list[str]) -> None:
            parts = first_chunk(lines)
            stored = oid_of(b"an encoded chunk")
            parts[2] = ",".join([stored, *extra(stored)])
            set_first(lines, parts[:3])
        return with_line(good, fix), None
    return make


def _non_ascii(good: bytes, _oid: str) -> tuple[bytes, bytes | None]:
    def fix(lines: list[str]) -> None:
        set_first(lines, [*first_chunk(lines)[:3], "tensor\u00e9#0"])
    return with_line(good, fix), None


def _huge(good: bytes, _oid: str) -> tuple[bytes, bytes | None]:
    return good + (b"x" * 999 + b"\n") * (100 * MiB // 1000), None  # a 100 MB list for a 2 MiB file


def _swapped(good: bytes, _oid: str) -> tuple[bytes, bytes | None]:
    def fix(lines: list[str]) -> None:
        lines[2], lines[3] = lines[3], lines[2]  # the sizes still add up: only the rebuild can tell
    return with_line(good, fix), None


BOMB = chunks.MAGIC + b"z\x01" + zstd(b"\0" * (64 * MiB))
HOSTILE: dict[str, Callable[[bytes, str], tuple[bytes, bytes | None]]] = {
    "wrong file oid": _wrong_oid,
    "sizes that do not add up": _size(lambda n: n + 1),
    "huge count": _count,
    "chunk size 0": _size(lambda _n: 0),
    "chain past MAX_CHAIN": _chain(lambda _s: [oid_of(bytes([i])) for i in range(chunks.MAX_CHAIN)]),
    "duplicate chain entries": _chain(lambda s: [oid_of(b"base"), oid_of(b"base")]),
    "non-ASCII": _non_ascii,
    "100 MB list": _huge,
    "rebuilds another file": _swapped,
    "zstd bomb": with_object(BOMB),
    "not zstd": with_object(chunks.MAGIC + b"z\x01" + random.Random(5).randbytes(5000)),
    "not an encoded chunk": with_object(random.Random(6).randbytes(5000)),
}
IDS = list(HOSTILE)


@pytest.fixture
def world(gm, repo: Path, tmp_path: Path) -> dict[str, object]:
    """A committed 2 MiB chunked file, and a folder remote holding it."""
    store = tmp_path / "store"
    assert gm("remote", "add", "storage", str(store), "--default").code == 0
    assert gm("push").code == 0
    data = random.Random(1).randbytes(FILE)
    write(repo, "model.bin", data)
    assert gm("add", "model.bin").code == 0
    git("add", "-A", cwd=repo)
    commit_without_hooks(repo, "v1")
    oid = oid_of(data)
    mirror(repo, store)
    return {"repo": repo, "store": store, "oid": oid, "data": data, "good": lists(cache_root(repo))[oid].read_bytes()}


def plant(store: Path, oid: str, hostile: bytes, obj: bytes | None) -> None:
    """Replace the store's chunk list of `oid`; add the object it names."""
    path = lists(store)[oid]
    os.chmod(path, 0o644)
    path.write_bytes(hostile)
    if obj is not None:
        o = oid_of(obj)
        loose = store / "objects" / "xxh128" / o[7:9] / o[9:]
        loose.parent.mkdir(parents=True, exist_ok=True)
        loose.write_bytes(obj)
        os.chmod(loose, 0o444)


def refused(r: Result, one_line: bool = True) -> None:
    assert r.code == 1, r
    assert "Traceback" not in r.err + r.out, r
    if one_line:
        assert_one_line_error(r)


def assert_not_placed(root: Path) -> None:
    """Nothing under the user's name, no temp file beside it."""
    assert not (root / "model.bin").exists(), "a file that does not rebuild was written under its name"
    assert not temps(root / ".") or all(".git" in p.parts for p in temps(root))


@pytest.mark.parametrize("case", IDS)
def test_hostile_list_in_the_cache(gm, world: dict[str, object], case: str) -> None:
    repo, oid, good = world["repo"], world["oid"], world["good"]
    assert isinstance(repo, Path) and isinstance(oid, str) and isinstance(good, bytes)
    cache = cache_root(repo)
    kept = named(lists(cache)[oid])
    hostile, obj = HOSTILE[case](good, oid)
    assert hostile != good
    plant(cache, oid, hostile, obj)
    (repo / "model.bin").unlink()

    refused(gm("checkout", "model.bin"))
    assert_not_placed(repo)
    assert gm("status").code in (0, 1)  # status reads no list content: never 3
    r = gm("fsck")
    refused(r, one_line=False)
    assert f"{oid} (model.bin)" in r.err, r
    assert oid not in lists(cache), "fsck left the hostile list in place"
    _restore(cache, oid, hostile)  # for gc, which must keep what it names
    age(list(store_objects(cache).values()) + list(lists(cache).values()), 30)  # type: ignore[arg-type]
    r = gm("gc", "--keep-days", "0")
    assert r.code in (0, 1) and "Traceback" not in r.err, r
    assert kept <= set(store_objects(cache)), "gc deleted a chunk a damaged list names"
    assert_not_placed(repo)


def _restore(cache: Path, oid: str, data: bytes) -> None:
    path = cache / "chunked" / "xxh128" / oid[7:9] / oid[9:]
    path.write_bytes(data)


@pytest.mark.parametrize("case", IDS)
def test_hostile_list_on_a_remote(gm, world: dict[str, object], case: str) -> None:
    repo, store, oid, good = world["repo"], world["store"], world["oid"], world["good"]
    assert isinstance(repo, Path) and isinstance(store, Path) and isinstance(oid, str) and isinstance(good, bytes)
    kept = named(lists(store)[oid])
    hostile, obj = HOSTILE[case](good, oid)
    plant(store, oid, hostile, obj)
    cache = cache_root(repo)
    for sub in ("chunked", "packs"):  # a clone's cache: the file is the remote's to give
        shutil.rmtree(cache / sub)
    (repo / "model.bin").unlink()

    refused(gm("fetch"))
    assert oid not in lists(cache), "a hostile list was installed"
    refused(gm("pull"))
    assert_not_placed(repo)
    assert gm("status").code in (0, 1)
    r = gm("fsck", "-r", "storage")
    refused(r, one_line=False)
    assert f"{oid} (model.bin)" in r.err, r
    age(list(store_objects(store).values()) + list(lists(store).values()), 30)  # type: ignore[arg-type]
    r = gm("gc", "-r", "storage", "--keep-days", "0")
    assert r.code in (0, 1) and "Traceback" not in r.err, r
    assert kept <= set(store_objects(store)), "remote gc deleted a chunk a damaged list names"
    assert oid in lists(store)


# -- fuzz ------------------------------------------------------------------------------------

EXPLORE = int(os.environ.get("GITMODEL_FUZZ_EXAMPLES") or 0)
FUZZ = settings(max_examples=EXPLORE or 150, derandomize=not EXPLORE, deadline=timedelta(seconds=3), database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
OID = oid_of(b"the file")
A, B, C = (oid_of(bytes([i])) for i in range(3))
VALID = f"{chunks.HEADER}\nfile {OID} 30 2\n10 {A} {A}\n20 {B} {C},{A} w/b#0\n"
NASTY = ["", " ", "0", "-1", "1e3", "9" * 10, "9" * 20, str(chunks.MAX_CHUNK + 1), A, f"{A},{A}",
         f"{A},{B},{C},{A},{B}", "\u00e9", "\0", "\r", "\u2028", "x" * 2000, OID]


@st.composite
def mutated_lists(draw: st.DrawFn) -> bytes:
    """The valid list with one field of one line replaced, or a line dropped, doubled or added."""
    lines = VALID.split("\n")
    i = draw(st.integers(0, len(lines) - 1))
    how = draw(st.sampled_from(["field", "drop", "twice", "raw"]))
    value = draw(st.one_of(st.sampled_from(NASTY), st.text(max_size=30)))
    if how == "field":
        parts = lines[i].split(" ")
        parts[draw(st.integers(0, len(parts) - 1))] = value
        lines[i] = " ".join(parts)
    elif how == "drop":
        del lines[i]
    elif how == "twice":
        lines.insert(i, lines[i])
    else:
        lines.insert(i, value)
    return "\n".join(lines).encode("utf-8", "surrogatepass")


def parses(parse: Callable[[], object]) -> object:
    try:
        return parse()
    except GitmodelError as e:
        assert "\n" not in str(e) and str(e).strip(), repr(str(e))
        return e


def test_the_valid_list_parses() -> None:
    cl = chunks.loads(VALID.encode(), OID, "x")
    assert cl.size == 30 and cl.chunks[1].chain == (C, A) and cl.chunks[1].key == "w/b#0"
    assert chunks.dumps(cl) == VALID.encode()


@FUZZ
@given(st.one_of(st.binary(max_size=400), mutated_lists()))
def test_chunks_loads(data: bytes) -> None:
    got = parses(lambda: chunks.loads(data, OID, "x", None))
    if isinstance(got, chunks.ChunkList):
        assert got.oid == OID and sum(c.size for c in got.chunks) == got.size
        assert all(0 < c.size <= chunks.MAX_CHUNK and len(c.chain) <= chunks.MAX_CHAIN for c in got.chunks)
        assert chunks.loads(chunks.dumps(got), OID, "again") == got


@st.composite
def encoded(draw: st.DrawFn) -> tuple[bytes, int, bytes | None]:
    """A real encoding (maybe cut or with a byte flipped), or noise after the magic."""
    raw = draw(st.binary(min_size=1, max_size=300))
    elem = draw(st.sampled_from([1, 2, 4, 8]))
    base = draw(st.one_of(st.none(), st.binary(min_size=len(raw), max_size=len(raw))))
    data = bytearray(chunks.encode(raw, elem, base))
    how = draw(st.sampled_from(["as is", "flip", "cut", "noise", "other size", "other base"]))
    size = len(raw)
    if how == "flip":
        i = draw(st.integers(0, len(data) - 1))
        data[i] ^= draw(st.integers(1, 255))
    elif how == "cut":
        del data[draw(st.integers(0, len(data) - 1)):]
    elif how == "noise":
        data[6:] = draw(st.binary(max_size=200))
    elif how == "other size":
        size = draw(st.integers(1, 1000))
    else:
        base = None if base is not None else raw
    return bytes(data), size, base


@FUZZ
@given(st.one_of(encoded(), st.tuples(st.binary(max_size=200), st.integers(1, 1000), st.none())))
def test_chunks_decode(case: tuple[bytes, int, bytes | None]) -> None:
    data, size, base = case
    got = parses(lambda: chunks.decode(data, size, base, "x"))
    if isinstance(got, bytes):
        assert len(got) == size
