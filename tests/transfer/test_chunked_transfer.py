"""push, fetch, pull and get of chunked files (store/chunks.py), end to end
with real repositories and a folder remote or the real S3 server: a
chunked file travels as the chunk objects the other side lacks (in packs)
and its chunk list after them; a second version moves only what changed;
a chunk list is published on a remote only after every chunk it names, and
in a cache only once its file rebuilds to its oid."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from gitmodel.remote.spec import Remote
from gitmodel.repo import Repo
from gitmodel.store import chunks
from gitmodel.store import oid as oidmod
from gitmodel.store import pointer as ptr
from gitmodel.transfer import fetch as fetching
from gitmodel.transfer import pull as pulling
from gitmodel.transfer import push as pushing
from gitmodel.transfer.wanted import opened
from tests.support.cli import assert_one_line_error, gm_proc, gm_run
from tests.support.git import clone, commit_without_hooks, git, make_repo
from tests.support.remote import Store, add_remote, push_json, remote_of_kind

MiB = 1 << 20
TENSORS = 8  # of 384 KiB each: a 3 MiB safetensors file
MODEL = "model.safetensors"
CSV = "table.csv"


@pytest.fixture(autouse=True)
def _small_chunk_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITMODEL_CHUNK_THRESHOLD", "1MiB")  # files of 2-4 MiB are chunked


def _model(path: Path, seed: int = 0, changed: int | None = None) -> bytes:
    """A real safetensors file of TENSORS float32 tensors; `changed`: that
    one tensor drawn anew (a fine-tuned head)."""
    rng = np.random.default_rng(seed)
    tensors = {f"layer.{i}.weight": rng.standard_normal((96, 1024)).astype(np.float32) for i in range(TENSORS)}
    if changed is not None:
        tensors[f"layer.{changed}.weight"] = np.random.default_rng(seed + 1000).standard_normal(
            (96, 1024)).astype(np.float32)
    save_file(tensors, str(path))
    return path.read_bytes()


def _csv(path: Path, rows: int = 60_000, extra: int = 0) -> bytes:
    """About 1.2 MiB of CSV (chunked at the 1 MiB threshold); `extra` rows appended (a dataset that grew)."""
    lines = ["id,score,label\n"] + [f"{i},{(i * 7919) % 100003},class-{i % 17}\n" for i in range(rows + extra)]
    path.write_text("".join(lines))
    return path.read_bytes()


@dataclass
class Setup:
    kind: str
    root: Path  # the first repository: remote configured, model and CSV added, committed
    store: Store
    files: dict[str, bytes]


@pytest.fixture(params=["local", "s3"])
def setup(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Setup:
    kind = str(request.param)
    root = make_repo(tmp_path / "origin-repo")
    monkeypatch.chdir(root)
    store = remote_of_kind(request, kind, root, tmp_path)
    files = {MODEL: _model(root / MODEL), CSV: _csv(root / CSV)}
    _add_commit(root, "v1", MODEL, CSV)
    return Setup(kind, root, store, files)


def _n(report: dict[str, object], key: str) -> int:
    value = report[key]
    assert isinstance(value, int), report
    return value


def _add_commit(root: Path, message: str, *paths: str) -> None:
    r = gm_run(["add", *paths], cwd=root)
    assert r.code == 0, r
    commit_without_hooks(root, message)


def _oid(root: Path, rel: str) -> str:
    return ptr.read(str(root / (rel + ptr.SUFFIX))).oid


def _chunked_in_cache(root: Path, rel: str) -> bool:
    return Repo.discover(str(root)).cache.is_chunked(_oid(root, rel))


@contextmanager
def _remote(root: Path) -> Iterator[Remote]:
    """The repository's default remote, through gitmodel's layout."""
    with opened(Repo.discover(str(root)), None) as (r, _):
        yield r


def _remote_lists(root: Path, *oids: str) -> set[str]:
    with _remote(root) as r:
        return r.lists_exist(oids, 2)


def _no_trace_of(root: Path, oid: str) -> None:
    """The cache names nothing for `oid`: no object, no chunk list, no temp file."""
    cache = Repo.discover(str(root)).cache
    assert not cache.has(oid)
    assert not os.path.exists(cache.chunks.path(oid))
    assert os.listdir(cache.tmp) == []


# -- round trips ------------------------------------------------------------------------------------
def test_chunked_files_round_trip_through_a_remote(setup: Setup, tmp_path: Path) -> None:
    root = setup.root
    assert _chunked_in_cache(root, MODEL) and _chunked_in_cache(root, CSV)
    report = push_json(cwd=root)
    model, table = _oid(root, MODEL), _oid(root, CSV)
    assert _remote_lists(root, model, table) == {model, table}
    # The chunks went as packs (a few requests), not one object each.
    assert setup.store.oids() == set()
    assert any(n.endswith(".pack") for n in setup.store.pack_files())
    # Counted as sent: at least the stored bytes of both (compressed; random floats barely).
    assert 0 < _n(report, "uploaded_bytes") <= len(setup.files[MODEL]) + len(setup.files[CSV]) + MiB

    other = clone(root, tmp_path / "teammate")
    r = gm_run(["pull"], cwd=other)
    assert r.code == 0, r
    for rel, data in setup.files.items():
        assert (other / rel).read_bytes() == data
        assert _chunked_in_cache(other, rel)  # stored as chunks there too: no whole copy


def test_second_version_moves_only_what_changed(setup: Setup, tmp_path: Path) -> None:
    root = setup.root
    push_json(cwd=root)
    teammate = clone(root, tmp_path / "teammate")
    assert gm_run(["pull"], cwd=teammate).code == 0

    v2 = _model(root / MODEL, changed=5)  # one tensor of eight fine-tuned
    table2 = _csv(root / CSV, extra=2000)  # rows appended
    _add_commit(root, "v2", MODEL, CSV)
    report = push_json(cwd=root)
    sent = _n(report, "uploaded_bytes")
    assert 0 < sent < (len(v2) + len(table2)) // 4, report  # not the files again

    git("pull", "-q", cwd=teammate)
    fetched, done = pulling.pull(Repo.discover(str(teammate)))
    got = fetched.downloaded_bytes
    assert 0 < got < (len(v2) + len(table2)) // 4, fetched
    assert fetched.cached > 0 and done.restored == 2, (fetched, done)  # v1's chunks, reused
    assert (teammate / MODEL).read_bytes() == v2
    assert (teammate / CSV).read_bytes() == table2


def test_push_twice_sends_nothing_the_second_time(setup: Setup) -> None:
    first = push_json(cwd=setup.root)
    assert _n(first, "uploaded") > 0
    second = push_json(cwd=setup.root)
    assert second["uploaded"] == 0 and second["uploaded_bytes"] == 0, second
    assert _n(second, "present") >= 2  # both chunked files, from the record
    # The record says so with lines of their own, never taken for objects of those oids.
    known = (setup.root / ".git" / "gitmodel" / "remotes" / "origin" / "known").read_text().split("\n")
    model = _oid(setup.root, MODEL)
    assert f"list {model}" in known and model not in known
    # Asking the remote itself (no record) finds everything there too.
    third = push_json("--check-remote", cwd=setup.root)
    assert third["uploaded"] == 0 and third["uploaded_bytes"] == 0, third


def test_check_remote_resends_chunks_a_remote_lost(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The remote's packs deleted by hand leave its chunk lists: only a push
    # that doubts the remote sends the chunks again.
    root = make_repo(tmp_path / "repo")
    monkeypatch.chdir(root)
    store = tmp_path / "store"
    add_remote(root, "local", store)
    data = _model(root / MODEL)
    _add_commit(root, "v1", MODEL)
    push_json(cwd=root)
    for name in os.listdir(store / "packs"):
        os.unlink(store / "packs" / name)
    assert push_json(cwd=root)["uploaded"] == 0  # the record and the list say it is there
    again = push_json("--check-remote", cwd=root)
    assert _n(again, "uploaded_bytes") > len(data) // 2, again
    other = clone(root, tmp_path / "other")
    assert gm_run(["pull"], cwd=other).code == 0
    assert (other / MODEL).read_bytes() == data


def test_a_chunk_missing_from_the_cache_holds_back_its_list(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_repo(tmp_path / "repo")
    monkeypatch.chdir(root)
    add_remote(root, "local", tmp_path / "store")
    _model(root / MODEL)
    _add_commit(root, "v1", MODEL)
    oid = _oid(root, MODEL)
    packs = root / ".git" / "gitmodel" / "packs"
    for name in os.listdir(packs):  # the chunks' packs lost (a damaged cache)
        os.unlink(packs / name)
    r = gm_run(["push"], cwd=root)
    assert r.code == 1 and "not in the local cache" in r.err and oid in r.err and "Traceback" not in r.err, r
    assert _remote_lists(root, oid) == set()


# -- interruptions -----------------------------------------------------------------------------
@pytest.mark.parametrize("point", ["push:pack-uploaded", "push:files-published", "push:lists-published"])
def test_interrupted_push_leaves_no_chunk_list_and_the_rerun_completes(point: str, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_repo(tmp_path / "repo")
    monkeypatch.chdir(root)
    add_remote(root, "local", tmp_path / "store")
    data = _model(root / MODEL)
    _add_commit(root, "v1", MODEL)
    oid = _oid(root, MODEL)
    killed = gm_proc("push", cwd=root, env={"GITMODEL_FAULT": point})
    assert killed.code == -9, killed
    # Before the lists' step, its chunks may be there but the file is not.
    assert _remote_lists(root, oid) == ({oid} if point == "push:lists-published" else set())

    rerun = push_json(cwd=root)
    assert rerun["missing"] == []
    assert _remote_lists(root, oid) == {oid}
    other = clone(root, tmp_path / "other")
    r = gm_run(["pull"], cwd=other)
    assert r.code == 0, r
    assert (other / MODEL).read_bytes() == data


def test_interrupted_fetch_names_nothing_and_the_rerun_completes(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_repo(tmp_path / "repo")
    monkeypatch.chdir(root)
    add_remote(root, "local", tmp_path / "store")
    data = _model(root / MODEL)
    _add_commit(root, "v1", MODEL)
    push_json(cwd=root)
    oid = _oid(root, MODEL)
    other = clone(root, tmp_path / "other")
    killed = gm_proc("pull", cwd=other, env={"GITMODEL_FAULT": "fetch:object-stored"})
    assert killed.code == -9, killed
    cache = Repo.discover(str(other)).cache
    assert not cache.has(oid) and not (other / MODEL).exists()  # chunks may have come; the file has not
    r = gm_run(["pull"], cwd=other)
    assert r.code == 0, r
    assert (other / MODEL).read_bytes() == data


# -- hostile remotes ---------------------------------------------------------------------------
def _tamper(lines: list[str], how: str) -> list[str]:
    """A chunk list edited: its size, a chunk's stored oid, or a chunk's raw oid."""
    if how == "size":
        head = lines[1].split()
        lines[1] = " ".join([head[0], head[1], str(int(head[2]) + 1), head[3]])
        first = lines[2].split(" ")
        lines[2] = " ".join([str(int(first[0]) + 1), *first[1:]])  # still adds up: only the pointer disagrees
    else:
        size, raw, chain, *key = lines[2].split(" ")
        other = oidmod.of_bytes(b"not a chunk of this file")
        if how == "stored":
            chain = other
        else:
            raw = other
        lines[2] = " ".join([size, raw, chain, *key])
    return lines


@pytest.mark.parametrize("how", ["size", "stored", "raw"])
def test_a_tampered_chunk_list_is_refused_and_nothing_is_named(how: str, setup: Setup, tmp_path: Path) -> None:
    root = setup.root
    push_json(cwd=root)
    oid = _oid(root, MODEL)
    with _remote(root) as r:
        data = r.get_list(oid, None)
        assert data is not None
        r.put_list(oid, "\n".join(_tamper(data.decode().split("\n"), how)).encode())
    other = clone(root, tmp_path / "other")
    r2 = gm_run(["pull"], cwd=other)
    if how == "stored":
        # A chunk the remote does not have: the file is missing there, as a
        # whole (the CLI's list of missing files), and the rest is pulled.
        assert r2.code == 1 and "Traceback" not in r2.err, r2
        assert "not on 'origin'" in r2.err.splitlines()[0] and f"{MODEL}  ({oid})" in r2.err, r2
        assert (other / CSV).read_bytes() == setup.files[CSV]
    else:
        assert_one_line_error(r2, oid)
    _no_trace_of(other, oid)
    assert not (other / MODEL).exists()
    # A push that doubts the remote puts the right list back.
    assert push_json(cwd=root)["uploaded"] == 0  # a plain push trusts the list it finds
    repaired = push_json("--check-remote", cwd=root)
    assert _n(repaired, "uploaded") == 1, repaired  # the list, nothing else
    r3 = gm_run(["pull"], cwd=other)
    assert r3.code == 0, r3
    assert (other / MODEL).read_bytes() == setup.files[MODEL]


def test_a_corrupt_chunk_on_the_remote_is_refused_and_nothing_is_named(setup: Setup, tmp_path: Path) -> None:
    root = setup.root
    push_json(cwd=root)
    oid = _oid(root, MODEL)
    packs = [n for n in setup.store.pack_files() if n.endswith(".pack")]
    big = max(packs, key=lambda n: len(setup.store.read_pack(n)))
    damaged = bytearray(setup.store.read_pack(big))
    damaged[len(damaged) // 2] ^= 0xFF
    setup.store.write_pack(big, bytes(damaged))
    teammate = clone(root, tmp_path / "teammate")
    (teammate / MODEL).write_bytes(b"the teammate's own file")  # untouched by a failed pull
    r = gm_run(["pull", "--force"], cwd=teammate)
    assert_one_line_error(r, "corrupt")
    cache = Repo.discover(str(teammate)).cache
    assert not cache.has(oid) and not cache.has(_oid(root, CSV))
    assert (teammate / MODEL).read_bytes() == b"the teammate's own file"


# -- get, the Python API, mixed repositories -------------------------------------------------------
def test_get_of_a_chunked_file_from_another_repository(setup: Setup, tmp_path: Path) -> None:
    root = setup.root
    push_json(cwd=root)
    # From the source's own cache (a local repository that has it)...
    out = tmp_path / "from-cache.safetensors"
    r = gm_run(["get", str(root), MODEL, "-o", str(out)], cwd=tmp_path)
    assert r.code == 0, r
    assert out.read_bytes() == setup.files[MODEL]
    assert out.stat().st_mode & 0o777 == 0o644
    # ...and from its remote (a clone whose cache is empty).
    bare_clone = clone(root, tmp_path / "empty-clone")
    out2 = tmp_path / "from-remote.csv"
    r = gm_run(["get", "--json", str(bare_clone), CSV, "-o", str(out2)], cwd=tmp_path)
    assert r.code == 0, r
    assert out2.read_bytes() == setup.files[CSV]
    assert json.loads(r.out)["downloaded"] > 0
    assert [n for n in os.listdir(tmp_path) if n.startswith(".gm-tmp-")] == []


def test_push_oids_and_fetch_oids_of_chunked_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The API's oid-level transfers (sizes unknown, manifests sniffed).
    root = make_repo(tmp_path / "repo")
    monkeypatch.chdir(root)
    add_remote(root, "local", tmp_path / "store")
    data = _model(root / MODEL)
    _add_commit(root, "v1", MODEL)
    oid = _oid(root, MODEL)
    sent = pushing.push_oids(Repo.discover(str(root)), [oid])
    assert sent.uploaded > 0 and sent.missing == []
    other = clone(root, tmp_path / "other")
    got = fetching.fetch_oids(Repo.discover(str(other)), [oid])
    assert got.downloaded > 0 and got.missing == []
    cache = Repo.discover(str(other)).cache
    assert cache.is_chunked(oid) and cache.read_bytes(oid) == data


def test_a_repository_mixing_whole_and_chunked_files_pushes_and_pulls_both(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_repo(tmp_path / "repo")
    monkeypatch.chdir(root)
    add_remote(root, "local", tmp_path / "store")
    monkeypatch.delenv("GITMODEL_CHUNK_THRESHOLD")  # the default (16 MiB): this one is stored whole
    whole = _csv(root / "whole.csv")
    _add_commit(root, "whole", "whole.csv")
    monkeypatch.setenv("GITMODEL_CHUNK_THRESHOLD", "1MiB")
    model = _model(root / MODEL)
    _add_commit(root, "chunked", MODEL)
    assert not _chunked_in_cache(root, "whole.csv") and _chunked_in_cache(root, MODEL)
    assert push_json(cwd=root)["missing"] == []
    other = clone(root, tmp_path / "other")
    r = gm_run(["pull"], cwd=other)
    assert r.code == 0, r
    assert (other / "whole.csv").read_bytes() == whole and (other / MODEL).read_bytes() == model
    assert not _chunked_in_cache(other, "whole.csv") and _chunked_in_cache(other, MODEL)
    assert chunks.FOLDER in os.listdir(tmp_path / "store")


def test_a_folder_holding_a_chunked_file_round_trips_and_gets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Its manifest goes only after the chunk list of the file inside it.
    root = make_repo(tmp_path / "repo")
    monkeypatch.chdir(root)
    add_remote(root, "local", tmp_path / "store")
    (root / "data").mkdir()
    table = _csv(root / "data" / CSV)
    (root / "data" / "README").write_text("a small file beside it\n")
    _add_commit(root, "data", "data")
    assert push_json(cwd=root)["missing"] == []
    assert (tmp_path / "store" / chunks.FOLDER).is_dir()  # the CSV inside went as chunks
    other = clone(root, tmp_path / "other")
    r = gm_run(["pull"], cwd=other)
    assert r.code == 0, r
    assert (other / "data" / CSV).read_bytes() == table
    assert (other / "data" / "README").read_text() == "a small file beside it\n"
    out = tmp_path / "got"
    r = gm_run(["get", str(clone(root, tmp_path / "empty")), "data", "-o", str(out)], cwd=tmp_path)
    assert r.code == 0, r
    assert (out / CSV).read_bytes() == table and (out / "README").exists()
