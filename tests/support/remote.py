"""Remotes as the tests see them (no tests here): a repository with data
pushed to a folder or S3 remote, and `Store`, which reads and damages a
remote's objects directly (bypassing gitmodel)."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

from gitmodel.remote.layout import object_key
from gitmodel.store import oid as oidmod
from tests.support.cli import gm_run
from tests.support.files import write_files
from tests.support.git import git
from tests.support.store import bad_objects, cache_root, loose_oids


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (for servers, and for refused connections)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def populate(root: Path, seed: int = 0) -> dict[str, bytes]:
    """A small model file and a small dataset folder (with a duplicate and a
    nested file) in a repository; returns {relative path: content}."""
    files = {
        "model.bin": os.urandom(3000) + bytes([seed]),
        "data/a.txt": b"alpha %d\n" % seed,
        "data/b.txt": b"beta\n",
        "data/dup.txt": b"beta\n",
        "data/sub/c.bin": os.urandom(500),
    }
    write_files(root, files)
    return files


def add_commit(root: Path, message: str = "data", paths: tuple[str, ...] = ("model.bin", "data")) -> None:
    r = gm_run(["add", *paths], cwd=root)
    assert r.code == 0, r
    git("add", "-A", cwd=root)
    git("commit", "-qm", message, cwd=root)


def push_json(*args: str, cwd: Path) -> dict[str, object]:
    """`gitmodel push --json ARGS` in `cwd`; it must succeed; its report."""
    r = gm_run(["push", "--json", *args], cwd=cwd)
    assert r.code == 0, r
    return dict(json.loads(r.out))


def pushed_model(repo: Path, store: Path, data: bytes) -> str:
    """model.bin = `data`, added, pushed to a folder remote `origin` that
    copies (no hard links: tests damage the remote's copy), committed;
    returns its oid."""
    (repo / "model.bin").write_bytes(data)
    for args in (["remote", "add", "origin", str(store), "--default"], ["remote", "modify", "origin", "link", "copy"],
                 ["add", "model.bin"], ["push"]):
        r = gm_run(args, cwd=repo)
        assert r.code == 0, r
    git("commit", "-qm", "model", cwd=repo)
    return oidmod.of_bytes(data)


def v1_tagged_then_v2(root: Path, store: Path) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """Content v1 committed with a folder remote and tagged `v1`, then
    content v2 committed on top; returns both contents."""
    v1 = populate(root, seed=1)
    add_commit(root, "v1")
    add_remote(root, "local", store)
    git("add", "-A", cwd=root)
    git("commit", "-qm", "remote", cwd=root)
    git("tag", "-a", "v1", "-m", "v1", cwd=root)
    v2 = populate(root, seed=2)
    add_commit(root, "v2")
    return v1, v2


def add_remote(root: Path, kind: str, store: Path, endpoint: str | None = None, bucket: str | None = None,
               name: str = "origin", default: bool = True) -> str:
    """Configure a local-folder or S3 remote; returns its URL."""
    url = str(store) if kind == "local" else f"s3://{bucket}/team"
    r = gm_run(["remote", "add", name, url, *(["--default"] if default else [])], cwd=root)
    assert r.code == 0, r
    if kind == "s3":
        r = gm_run(["remote", "modify", name, "endpoint_url", str(endpoint)], cwd=root)
        assert r.code == 0, r
    return url


def remote_of_kind(request: pytest.FixtureRequest, kind: str, root: Path, tmp_path: Path) -> Store:
    """Set `root` up with a folder remote ("local", at tmp_path/store) or an
    S3 remote on the moto server ("s3"), as its default; returns its Store."""
    if kind == "local":
        add_remote(root, "local", tmp_path / "store")
        return Store("local", path=tmp_path / "store")
    bucket, endpoint = request.getfixturevalue("s3_bucket"), request.getfixturevalue("s3_env")
    add_remote(root, "s3", tmp_path / "unused", endpoint=endpoint, bucket=bucket)
    return Store("s3", endpoint=endpoint, bucket=bucket)


class Store:
    """Reads and damages a remote's objects directly (bypassing gitmodel)."""

    def __init__(self, kind: str, path: Path | None = None, endpoint: str | None = None,
                 bucket: str | None = None, prefix: str = "team/") -> None:
        self.kind, self.path, self.endpoint, self.bucket, self.prefix = kind, path, endpoint, bucket, prefix

    def drop(self) -> None:
        """Remove the whole store (only the in-process one needs it)."""

    def _s3(self):  # type: ignore[no-untyped-def]
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1")

    def oids(self) -> set[str]:
        if self.kind == "local":
            assert self.path is not None
            return loose_oids(self.path)
        out = set()
        for page in self._s3().get_paginator("list_objects_v2").paginate(Bucket=self.bucket,
                                                                         Prefix=self.prefix + "objects/"):
            for item in page.get("Contents", ()):
                parts = item["Key"].split("/")
                out.add(f"{parts[-3]}:{parts[-2]}{parts[-1]}")
        return out

    def temps(self) -> list[str]:
        if self.kind != "local":
            return []
        assert self.path is not None
        return [str(p) for p in (self.path / "objects").rglob(".gm-tmp-*")] if self.path.is_dir() else []

    def read(self, oid: str) -> bytes:
        if self.kind == "local":
            assert self.path is not None
            return (self.path / object_key(oid)).read_bytes()
        body = self._s3().get_object(Bucket=self.bucket, Key=self.prefix + object_key(oid))["Body"].read()
        return bytes(body)

    def overwrite(self, oid: str, data: bytes) -> None:
        if self.kind == "local":
            assert self.path is not None
            p = self.path / object_key(oid)
            p.unlink(missing_ok=True)  # a new inode: never write through one the cache may share
            p.write_bytes(data)
        else:
            self._s3().put_object(Bucket=self.bucket, Key=self.prefix + object_key(oid), Body=data)

    def remove(self, oid: str) -> None:
        if self.kind == "local":
            assert self.path is not None
            (self.path / object_key(oid)).unlink()
        else:
            self._s3().delete_object(Bucket=self.bucket, Key=self.prefix + object_key(oid))

    # -- packs (packs/pack-<id>.pack|idx) ------------------------------------------
    def pack_files(self) -> list[str]:
        """File names under packs/ (temps excluded), sorted."""
        if self.kind == "local":
            assert self.path is not None
            folder = self.path / "packs"
            return sorted(p.name for p in folder.iterdir() if not p.name.startswith(".gm-tmp-")) \
                if folder.is_dir() else []
        out = []
        for page in self._s3().get_paginator("list_objects_v2").paginate(Bucket=self.bucket,
                                                                         Prefix=self.prefix + "packs/"):
            out += [item["Key"].rsplit("/", 1)[1] for item in page.get("Contents", ())]
        return sorted(out)

    def read_pack(self, name: str) -> bytes:
        if self.kind == "local":
            assert self.path is not None
            return (self.path / "packs" / name).read_bytes()
        return bytes(self._s3().get_object(Bucket=self.bucket, Key=f"{self.prefix}packs/{name}")["Body"].read())

    def write_pack(self, name: str, data: bytes) -> None:
        """Replace a pack file (a new inode: the cache may share the old one)."""
        if self.kind == "local":
            assert self.path is not None
            p = self.path / "packs" / name
            p.unlink(missing_ok=True)
            p.write_bytes(data)
        else:
            self._s3().put_object(Bucket=self.bucket, Key=f"{self.prefix}packs/{name}", Body=data)

    def pack_entries(self, packid: str) -> list[tuple[str, int, int]]:
        from gitmodel.store import pack

        return list(pack.decode_index(self.read_pack(f"pack-{packid}.idx"), packid))

    def all_intact(self) -> bool:
        """Every object on the remote hashes to its name."""
        return all(oidmod.of_bytes(self.read(o)) == o for o in self.oids())


class MemoryStore(Store):
    """The same view of a store in fsspec's in-process memory:// filesystem."""

    def __init__(self, root: str) -> None:
        import fsspec

        super().__init__("memory")
        self.root = root.rstrip("/")
        self.fs = fsspec.filesystem("memory")

    def _find(self, under: str) -> list[str]:
        try:
            found = self.fs.find(f"{self.root}/{under}")
        except FileNotFoundError:
            return []
        return [str(p).rpartition("/")[2] if under == "packs" else str(p) for p in found]

    def oids(self) -> set[str]:
        out = set()
        for p in self._find("objects"):
            parts = p.split("/")
            if not parts[-1].startswith(".gm-tmp-"):
                out.add(f"{parts[-3]}:{parts[-2]}{parts[-1]}")
        return out

    def temps(self) -> list[str]:
        return [p for p in self._find("objects") if p.rpartition("/")[2].startswith(".gm-tmp-")]

    def read(self, oid: str) -> bytes:
        return bytes(self.fs.cat_file(f"{self.root}/{object_key(oid)}"))

    def overwrite(self, oid: str, data: bytes) -> None:
        self.fs.pipe_file(f"{self.root}/{object_key(oid)}", data)

    def remove(self, oid: str) -> None:
        self.fs.rm_file(f"{self.root}/{object_key(oid)}")

    def pack_files(self) -> list[str]:
        return sorted(n for n in self._find("packs") if not n.startswith(".gm-tmp-"))

    def read_pack(self, name: str) -> bytes:
        return bytes(self.fs.cat_file(f"{self.root}/packs/{name}"))

    def write_pack(self, name: str, data: bytes) -> None:
        self.fs.pipe_file(f"{self.root}/packs/{name}", data)

    def drop(self) -> None:
        try:
            self.fs.rm(self.root, recursive=True)
        except FileNotFoundError:
            pass


def cache_intact(root: Path) -> bool:
    """Every object in the repository's cache, loose and packed, hashes to its name."""
    return not bad_objects(cache_root(root))


def cache_tmp(root: Path) -> list[str]:
    """Names in the cache's tmp/ folder (where downloads land before they are verified)."""
    return [p.name for p in (cache_root(root) / "tmp").iterdir()]
