"""One conformance suite for every remote backend (restic-style): the same
tests against a folder (copy and hardlink modes), the real S3 server (moto,
on 127.0.0.1), and fsspec filesystems (memory://, and file:// for the cases
that need a second process to see the store)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitmodel.errors import CorruptObjectError, ObjectMissingError
from gitmodel.remote import s3 as s3mod
from gitmodel.remote.layout import Remote
from gitmodel.store import oid as oidmod
from gitmodel.store.cache import Cache
from gitmodel.transfer.fetch import fetch_wanted
from gitmodel.transfer.wanted import Wanted
from tests.support.remote import MemoryStore, Store

KINDS = ["local", "local-hardlink", "s3", "fsspec-memory", "fsspec-file"]
# Builds a remote from a JSON spec, here and in the child processes of the
# cases that kill or race two writers.
MAKE = r"""
def make(spec):
    from gitmodel.remote.layout import Remote
    if spec["kind"] == "local":
        from gitmodel.remote.local import LocalBackend
        return Remote(LocalBackend("t", spec["root"], spec["root"], link=spec["link"]))
    if spec["kind"] == "s3":
        from gitmodel.remote.s3 import S3Backend
        return Remote(S3Backend("t", f"s3://{spec['bucket']}/team", spec["bucket"], "team",
                                endpoint_url=spec["endpoint"]))
    from gitmodel.remote.fsspec import FsspecBackend
    return Remote(FsspecBackend("t", spec["url"], spec["url"], {}))
"""
exec(MAKE)


@pytest.fixture(params=KINDS)
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def backend(kind: str, tmp_path: Path,
            request: pytest.FixtureRequest) -> Iterator[tuple[Remote, Store, dict[str, str]]]:
    """(remote, direct view of its store, a spec to rebuild it in another process)."""
    store = tmp_path / "store"
    if kind.startswith("local"):
        spec = {"kind": "local", "root": str(store), "link": "hardlink" if kind == "local-hardlink" else "copy"}
        view = Store("local", path=store)
    elif kind == "s3":
        bucket = request.getfixturevalue("s3_bucket")
        endpoint = request.getfixturevalue("s3_env")
        spec = {"kind": "s3", "bucket": bucket, "endpoint": endpoint}
        view = Store("s3", endpoint=endpoint, bucket=bucket)
    elif kind == "fsspec-file":
        spec = {"kind": "fsspec", "url": store.as_uri()}  # LocalFileSystem: temp name, then mv
        view = Store("local", path=store)
    else:
        root = f"/gm-test-{uuid.uuid4().hex[:12]}"  # memory:// is one store per process
        spec = {"kind": "fsspec", "url": f"memory://{root}"}
        view = MemoryStore(root)
    r: Remote = make(spec)  # type: ignore[name-defined]  # noqa: F821 - defined by exec(MAKE)
    try:
        yield r, view, spec
    finally:
        r.close()
        if kind == "fsspec-memory":
            view.drop()


def one_process_only(kind: str) -> None:
    if kind == "fsspec-memory":
        pytest.skip("memory:// lives inside one process; fsspec-file runs this case for fsspec")


@pytest.fixture
def src(tmp_path: Path) -> Cache:
    c = Cache(str(tmp_path / "src-cache"))
    c.ensure()
    return c


@pytest.fixture
def dst(tmp_path: Path) -> Cache:
    c = Cache(str(tmp_path / "dst-cache"))
    c.ensure()
    return c


def put(r: Remote, cache: Cache, data: bytes) -> str:
    oid = cache.add_bytes(data)
    r.put(oid, cache.path(oid), len(data))
    r.flush()
    return oid


def fetch(r: Remote, cache: Cache, oids: list[str], strict: bool = True):  # type: ignore[no-untyped-def]
    return fetch_wanted(cache, r, Wanted(files={o: (0, f"file-{i}") for i, o in enumerate(oids)}), 4, None, None,
                        strict=strict)


@pytest.mark.parametrize("size", [0, 1, 5000, (2 << 20) + 7])
def test_put_get_round_trip(backend, src: Cache, dst: Cache, size: int) -> None:  # type: ignore[no-untyped-def]
    r, view, _ = backend
    data = os.urandom(size)
    oid = put(r, src, data)
    assert view.read(oid) == data
    report = fetch(r, dst, [oid])
    assert report.downloaded == 1 and report.downloaded_bytes == size
    assert Path(dst.path(oid)).read_bytes() == data
    assert not os.listdir(dst.tmp)


def test_multipart_upload_round_trip(s3_bucket: str, s3_env: str, src: Cache, dst: Cache,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # Lower the threshold so an 11 MiB object takes the multipart path (5 MiB parts, S3's minimum).
    monkeypatch.setattr(s3mod, "MULTIPART_THRESHOLD", 5 << 20)
    monkeypatch.setattr(s3mod, "MULTIPART_CHUNK", 5 << 20)
    r = make({"kind": "s3", "bucket": s3_bucket, "endpoint": s3_env})  # type: ignore[name-defined]  # noqa: F821
    data = os.urandom((11 << 20) + 3)
    oid = put(r, src, data)
    fetch(r, dst, [oid])
    assert Path(dst.path(oid)).read_bytes() == data
    r.close()


def test_exists_many_and_list(backend, src: Cache, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    r, _, _ = backend
    present = {put(r, src, b"object %d" % i) for i in range(3)}
    absent = {oidmod.of_bytes(b"absent %d" % i) for i in range(1200)}
    everything = list(present | absent)
    assert r.exists_many(everything, 4) == present  # many: a listing of a small remote
    assert r.exists_many(list(present)[:1], 4) == set(list(present)[:1])  # one: a single query
    assert r.exists_many(list(absent)[:10], 4) == set()
    assert r.exists_many([], 4) == set()
    assert set(r.list_oids()) == present
    # The per-object path gives the same answer as the listing.
    monkeypatch.setattr(r.backend, "probe_limit", 100_000)
    assert r.exists_many(list(present) + list(absent)[:100], 8) == present


def test_wrong_hash_on_remote_is_refused(backend, src: Cache, dst: Cache) -> None:  # type: ignore[no-untyped-def]
    r, view, _ = backend
    oid = put(r, src, b"the real content")
    view.overwrite(oid, b"something else entirely")
    with pytest.raises(CorruptObjectError) as e:
        fetch(r, dst, [oid])
    assert oid in str(e.value) and "remote 't'" in str(e.value)
    assert not dst.has(oid)
    assert not os.listdir(dst.tmp)  # the rejected bytes are gone too


def test_truncated_object_is_refused(backend, src: Cache, dst: Cache) -> None:  # type: ignore[no-untyped-def]
    r, view, _ = backend
    data = os.urandom(20000)
    oid = put(r, src, data)
    view.overwrite(oid, data[:7000])
    with pytest.raises(CorruptObjectError, match=oid):
        fetch(r, dst, [oid])
    assert not dst.has(oid) and not os.listdir(dst.tmp)


def test_missing_object(backend, dst: Cache) -> None:  # type: ignore[no-untyped-def]
    r, _, _ = backend
    oid = oidmod.of_bytes(b"never uploaded")
    with pytest.raises(ObjectMissingError) as e:
        fetch(r, dst, [oid])
    assert "file-0" in str(e.value) and "remote 't'" in str(e.value)
    report = fetch(r, dst, [oid], strict=False)
    assert report.missing == [("file-0", oid)] and report.downloaded == 0
    assert not dst.has(oid)


def test_delete(backend, src: Cache) -> None:  # type: ignore[no-untyped-def]
    r, view, _ = backend
    oid = put(r, src, b"to be deleted")
    r.delete(oid)
    assert view.oids() == set()
    r.delete(oid)  # deleting what is not there is not an error


PUTTER = MAKE + r"""
import json, sys
spec, oid, path, size, rounds = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
r = make(spec)
for _ in range(rounds):
    r.put(oid, path, size)
    r.flush()
r.close()
"""


def spawn_put(spec: dict[str, str], oid: str, path: str, size: int, rounds: int = 1,
              env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", PUTTER, json.dumps(spec), oid, path, str(size), str(rounds)],
                            env={**os.environ, **(env or {})}, stderr=subprocess.PIPE)


def test_concurrent_puts_of_one_object_from_two_processes(backend, kind: str, src: Cache, dst: Cache) -> None:  # type: ignore[no-untyped-def]
    one_process_only(kind)
    r, view, spec = backend
    data = os.urandom(300_000)
    oid = src.add_bytes(data)
    procs = [spawn_put(spec, oid, src.path(oid), len(data), rounds=10) for _ in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
    assert view.oids() == {oid}
    assert view.read(oid) == data
    assert view.temps() == []
    fetch(r, dst, [oid])
    assert Path(dst.path(oid)).read_bytes() == data


@pytest.mark.parametrize("kind_", ["local", "s3"])
def test_a_killed_upload_leaves_nothing_under_the_final_name(kind_: str, tmp_path: Path, src: Cache,
                                                             request: pytest.FixtureRequest) -> None:
    if kind_ == "local":
        store = tmp_path / "store"
        spec = {"kind": "local", "root": str(store), "link": "copy"}
        view = Store("local", path=store)
        point, data = "remote:local-temp-written", os.urandom(4000)
    else:
        bucket, endpoint = request.getfixturevalue("s3_bucket"), request.getfixturevalue("s3_env")
        spec = {"kind": "s3", "bucket": bucket, "endpoint": endpoint}
        view = Store("s3", endpoint=endpoint, bucket=bucket)
        point, data = "remote:s3-part-sent", os.urandom((11 << 20) + 1)
    oid = src.add_bytes(data)
    # The S3 child lowers its multipart threshold so 11 MiB is sent in parts and killed halfway.
    env = {"GITMODEL_FAULT": point}
    code = PUTTER.replace("for _ in range(rounds):",
                          "import gitmodel.remote.s3 as m; m.MULTIPART_THRESHOLD = m.MULTIPART_CHUNK = 5 << 20\n"
                          "for _ in range(rounds):")
    proc = subprocess.run([sys.executable, "-c", code, json.dumps(spec), oid, src.path(oid), str(len(data)), "1"],
                          env={**os.environ, **env}, capture_output=True, timeout=120)
    assert proc.returncode == -9, proc.stderr.decode()
    assert view.oids() == set()  # a reader never sees part of an object


def test_list_stats(backend, src: Cache) -> None:  # type: ignore[no-untyped-def]
    r, _, _ = backend
    oids = {put(r, src, b"x" * n): n for n in (1, 10, 100)}
    stats = {oid: (size, mtime) for oid, size, mtime in r.list_stats()}
    assert {o: s for o, (s, _) in stats.items()} == oids
    # Real modification times (gc's grace period depends on them), not 0 nor a made-up "now".
    now = time.time()
    assert all(now - 300 < m <= now + 5 for _, m in stats.values()), stats
    packs = {(p, ext): m for p, ext, _, m in r.list_pack_stats()}
    assert packs == {}


def test_foreign_keys_in_a_listing_are_ignored(backend, src: Cache) -> None:  # type: ignore[no-untyped-def]
    """A remote's listing is untrusted input: keys the layout does not
    recognise (a user's notes, another tool's files, a bad pack name) are
    skipped by every listing, never parsed into objects or packs."""
    r, _, _ = backend
    real = put(r, src, b"a real object")
    for key in ("objects/README.txt", "objects/xxh128/ab/not-an-oid", "objects/xxh128/abc/" + "0" * 30,
                "packs/pack-nothex.idx", "packs/notes.txt", "packs/sub/pack-" + "0" * 32 + ".idx"):
        assert r.backend.put_bytes(key, b"foreign", sync=True)
    assert set(r.list_oids()) == {real}
    assert [o for o, _, _ in r.list_stats()] == [real]
    assert r.list_packs() == [] and list(r.list_pack_stats()) == []
    assert r.exists_many([real], 4) == {real}


def test_meta_files_and_exclusive_writes(backend) -> None:  # type: ignore[no-untyped-def]
    r, view, _ = backend
    assert r.read_meta("locks/gc.json") is None
    assert r.write_meta("locks/gc.json", b"first", exclusive=True) is True
    assert r.write_meta("locks/gc.json", b"second", exclusive=True) is False
    assert r.read_meta("locks/gc.json") == b"first"
    assert r.write_meta("locks/gc.json", b"third") is True
    assert r.read_meta("locks/gc.json") == b"third"
    r.delete_meta("locks/gc.json")
    r.delete_meta("locks/gc.json")
    assert r.read_meta("locks/gc.json") is None
    assert view.oids() == set()  # meta files are not objects
    with pytest.raises(ValueError):
        r.read_meta("../escape")


# -- packs ------------------------------------------------------------------------

def make_pack(cache: Cache, count: int = 20) -> tuple[str, str, bytes, dict[str, bytes]]:
    """A pack in `cache`: (id, .pack path, index bytes, {oid: bytes})."""
    from gitmodel.store import pack

    objs = {oidmod.of_bytes(d): d for d in (os.urandom(700) + bytes([i]) for i in range(count))}
    w = pack.PackWriter(cache.packs)
    for o, d in objs.items():
        w.write(o, d)
    packid = w.finish()
    assert packid is not None
    idx = Path(cache.packs, pack.name_of(packid, "idx")).read_bytes()
    return packid, os.path.join(cache.packs, pack.name_of(packid, "pack")), idx, objs


def test_pack_round_trip(backend, src: Cache) -> None:  # type: ignore[no-untyped-def]
    from gitmodel.store import pack

    r, view, _ = backend
    assert r.list_packs() == []
    packid, path, idx, objs = make_pack(src)
    r.put_pack(packid, path, idx)
    r.put_pack(packid, path, idx)  # again (another clone's push): harmless
    assert r.list_packs() == [packid]
    assert r.read_pack_index(packid) == idx
    assert view.pack_files() == [f"pack-{packid}.idx", f"pack-{packid}.pack"]
    assert view.oids() == set()  # packed objects are not loose objects
    for o, off, size in pack.decode_index(idx, "t"):
        assert r.get_range(packid, off, size) == objs[o]
    whole = Path(path).read_bytes()
    assert r.get_range(packid, 0, len(whole)) == whole
    assert r.get_range(packid, len(whole) - 5, 50) == whole[-5:]  # cut short at the end, not an error
    stats = {(p, ext): size for p, ext, size, mtime in r.list_pack_stats() if mtime > 0}
    assert stats == {(packid, "pack"): len(whole), (packid, "idx"): len(idx)}
    r.delete_pack(packid)
    r.delete_pack(packid)
    assert r.list_packs() == [] and list(r.list_pack_stats()) == []
    with pytest.raises(ObjectMissingError):
        r.read_pack_index(packid)
    with pytest.raises(ObjectMissingError):
        r.get_range(packid, 0, 10)


def test_put_bytes_round_trip(backend, dst: Cache) -> None:  # type: ignore[no-untyped-def]
    r, view, _ = backend
    data = os.urandom(3000)
    oid = oidmod.of_bytes(data)
    r.put_bytes(oid, data)
    r.flush()
    assert view.read(oid) == data
    fetch(r, dst, [oid])
    assert Path(dst.path(oid)).read_bytes() == data


PACK_PUTTER = MAKE + r"""
import json, sys
spec, packid, path, idx, rounds = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
r = make(spec)
data = open(idx, "rb").read()
for _ in range(rounds):
    r.put_pack(packid, path, data)
r.close()
"""


def spawn_put_pack(spec: dict[str, str], packid: str, path: str, rounds: int = 1,
                   env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    idx = path[:-len(".pack")] + ".idx"
    return subprocess.Popen([sys.executable, "-c", PACK_PUTTER, json.dumps(spec), packid, path, idx, str(rounds)],
                            env={**os.environ, **(env or {})}, stderr=subprocess.PIPE)


def test_concurrent_put_pack_from_two_processes(backend, kind: str, src: Cache) -> None:  # type: ignore[no-untyped-def]
    one_process_only(kind)
    r, view, spec = backend
    packid, path, idx, _ = make_pack(src)
    procs = [spawn_put_pack(spec, packid, path, rounds=5) for _ in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
    assert r.list_packs() == [packid]
    assert view.read_pack(f"pack-{packid}.pack") == Path(path).read_bytes()
    assert view.read_pack(f"pack-{packid}.idx") == idx


def test_a_killed_pack_upload_does_not_count(backend, kind: str, src: Cache) -> None:  # type: ignore[no-untyped-def]
    one_process_only(kind)
    r, view, spec = backend
    packid, path, idx, _ = make_pack(src)
    p = spawn_put_pack(spec, packid, path, env={"GITMODEL_FAULT": "remote:pack-before-index"})
    p.communicate(timeout=120)
    assert p.returncode == -9
    assert view.pack_files() == [f"pack-{packid}.pack"]
    assert r.list_packs() == []  # no index: the objects are not on the remote
    r.put_pack(packid, path, idx)  # the rerun completes it
    assert r.list_packs() == [packid]


# -- gc's grace period depends on the backend's modification times ------------------

def test_a_fresh_object_on_an_fsspec_remote_survives_gc(repo: Path) -> None:
    """memory:// reports `created`, not `mtime`: read as 0 it made every
    object look older than the grace period, so `gc -r` would have deleted a
    colleague's object pushed a second ago (and not yet pushed to git)."""
    from fsspec import register_implementation
    from fsspec.implementations.memory import MemoryFileSystem

    from tests.support.cli import gm_run
    from tests.support.git import git

    class InProcess(MemoryFileSystem):  # type: ignore[misc]
        """memory:// under a name of its own: gitmodel refuses memory:// as a
        remote (it keeps nothing once a command ends), but these commands run
        in this one process.  It shares memory://'s store, which the view reads."""

        protocol = "gmtest-inprocess"

        @classmethod
        def _strip_protocol(cls, path: str) -> str:
            return str(super()._strip_protocol(path.removeprefix("gmtest-inprocess://")))

    register_implementation("gmtest-inprocess", InProcess, clobber=True)
    root = f"/gm-gc-{uuid.uuid4().hex[:12]}"
    view = MemoryStore(root)
    try:
        assert gm_run(["remote", "add", "storage", f"gmtest-inprocess://{root}", "--default"]).code == 0
        (repo / "a.bin").write_bytes(b"a draft, pushed, never committed")
        assert gm_run(["add", "a.bin"]).code == 0 and gm_run(["push"]).code == 0
        draft = oidmod.of_bytes(b"a draft, pushed, never committed")
        (repo / "a.bin").write_bytes(b"the committed one")
        assert gm_run(["add", "a.bin"]).code == 0 and gm_run(["push"]).code == 0
        git("add", "-A", cwd=repo)
        git("commit", "-qm", "c", cwd=repo)
        assert draft in view.oids()
        r = gm_run(["gc", "-r", "storage"])
        assert r.code == 0, r
        assert draft in view.oids(), "younger than the grace period: kept"
        # The grace period is what kept it: with none, the same run deletes it
        # (a backend without real times would keep it forever instead).
        r = gm_run(["gc", "-r", "storage", "--keep-days", "0"])
        assert r.code == 0, r
        assert view.oids() == {oidmod.of_bytes(b"the committed one")}
    finally:
        view.drop()
