"""Any other URL scheme (gs://, az://, abfs://, sftp://, http(s):// read-only,
...) through fsspec, when the user installs it with the matching extra:

    pip install fsspec gcsfs      # gs://
    pip install fsspec adlfs      # az://, abfs://
    pip install fsspec paramiko   # sftp://  (ssh)

Remote settings other than url/jobs/link are passed to the filesystem as
options (for example `project` for gcsfs).  Object stores publish a file
only when its upload completes; on a filesystem-like backend (sftp) the
object is written to a temp name and moved into place.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Collection, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from gitmodel.platform import atomic
from gitmodel.store import pack as packmod
from gitmodel.errors import ObjectMissingError, RemoteError
from gitmodel.remote.base import META, OBJECTS, PACKS, Remote, Sink, object_key, oid_from_key, pack_key

_OBJECT_STORES = {"gs", "gcs", "az", "abfs", "abfss", "adl", "s3a", "oss", "memory"}
_EXTRAS = {"gs": "gcsfs", "gcs": "gcsfs", "az": "adlfs", "abfs": "adlfs", "abfss": "adlfs",
           "sftp": "paramiko", "ssh": "paramiko", "http": "aiohttp", "https": "aiohttp"}
READ_CHUNK = 1 << 20


class FsspecRemote(Remote):
    kind = "fsspec"
    default_jobs = 8

    def __init__(self, name: str, display: str, url: str, options: dict[str, Any]) -> None:
        super().__init__(name, display)
        self.url = url
        self.scheme = url.split("://", 1)[0].lower()
        self.options = options
        self._fs: Any = None
        self.root = ""

    @property
    def identity(self) -> str:
        return f"fsspec:{self.display}"

    def fs(self) -> Any:
        if self._fs is None:
            extra = _EXTRAS.get(self.scheme, "the fsspec implementation for it")
            try:
                from fsspec.core import url_to_fs  # type: ignore[import-not-found, unused-ignore]
            except ImportError:
                raise RemoteError(f"{self.where}: {self.scheme}:// remotes need fsspec; "
                                  f"install it with `pip install fsspec {extra}` (or the matching gitmodel extra, docs/remotes.md)") from None
            try:
                self._fs, self.root = url_to_fs(self.url, **self.options)
            except (ImportError, ValueError) as e:
                raise RemoteError(f"{self.where}: cannot open {self.scheme}:// ({e}); "
                                  f"install `pip install fsspec {extra}`") from None
            self.root = self.root.rstrip("/")
        return self._fs

    def path(self, oid: str) -> str:
        self.fs()
        return f"{self.root}/{object_key(oid)}"

    def exists_many(self, oids: Collection[str], jobs: int) -> set[str]:
        fs = self.fs()
        oids = list(oids)

        def one(o: str) -> str | None:
            return o if fs.exists(self.path(o)) else None

        with ThreadPoolExecutor(max(1, min(jobs, len(oids) or 1))) as pool:
            return {o for o in pool.map(one, oids) if o}

    def list_oids(self) -> Iterator[str]:
        fs = self.fs()
        try:
            found = fs.find(f"{self.root}/{OBJECTS}")
        except FileNotFoundError:
            return
        for key in found:
            oid = oid_from_key(str(key))
            if oid:
                yield oid

    def put(self, oid: str, path: str, size: int) -> None:
        self._publish(self.path(oid), lambda dest: self.fs().put_file(path, dest))

    def put_bytes(self, oid: str, data: bytes) -> None:
        self._publish(self.path(oid), lambda dest: self.fs().pipe_file(dest, data))

    def _publish(self, final: str, write: Callable[[str], None]) -> None:
        """Object stores publish an upload whole; elsewhere write a temp name and move it."""
        fs = self.fs()
        if self.scheme in _OBJECT_STORES:
            write(final)
            return
        tmp = f"{os.path.dirname(final)}/{os.path.basename(atomic.tmp_name('.'))}"
        fs.makedirs(os.path.dirname(final), exist_ok=True)
        write(tmp)
        fs.mv(tmp, final)

    # -- packs (same keys as every backend: packs/pack-<id>.pack|idx) --------------
    def _pack(self, packid: str, ext: str) -> str:
        self.fs()
        return f"{self.root}/{pack_key(packid, ext)}"

    def list_packs(self) -> list[str]:
        return sorted(p for p, ext, _, _ in self.list_pack_stats() if ext == "idx")

    def read_pack_index(self, packid: str) -> bytes:
        try:
            return bytes(self.fs().cat_file(self._pack(packid, "idx")))
        except FileNotFoundError:
            raise ObjectMissingError(f"pack {packid} is not on {self.where}") from None

    def put_pack(self, packid: str, pack_path: str, idx_data: bytes) -> None:
        self._publish(self._pack(packid, "pack"), lambda dest: self.fs().put_file(pack_path, dest))
        self._publish(self._pack(packid, "idx"), lambda dest: self.fs().pipe_file(dest, idx_data))

    def get_range(self, packid: str, offset: int, size: int) -> bytes:
        if size <= 0:
            return b""
        try:
            return bytes(self.fs().cat_file(self._pack(packid, "pack"), start=offset, end=offset + size))
        except FileNotFoundError:
            raise ObjectMissingError(f"pack {packid} is not on {self.where}") from None

    def delete_pack(self, packid: str) -> None:
        for ext in ("idx", "pack"):  # the index first
            try:
                self.fs().rm_file(self._pack(packid, ext))
            except FileNotFoundError:
                pass

    def _stats_under(self, folder: str) -> Iterator[tuple[str, int, float]]:
        """(key, size, mtime) of every file under `folder`, whatever the
        backend calls its modification time."""
        fs = self.fs()  # sets self.root
        try:
            found = fs.find(f"{self.root}/{folder}", detail=True)
        except FileNotFoundError:
            return
        for key, info in found.items():
            mtime = info.get("mtime") or info.get("LastModified") or info.get("updated") or 0
            stamp = mtime.timestamp() if hasattr(mtime, "timestamp") else float(mtime or 0)
            yield str(key), int(info.get("size") or 0), stamp

    def list_pack_stats(self) -> Iterator[tuple[str, str, int, float]]:
        for key, size, stamp in self._stats_under(PACKS):
            named = packmod.split_name(key.rpartition("/")[2])
            if named is not None:
                yield *named, size, stamp

    def get(self, oid: str, sink: Sink) -> None:
        fs = self.fs()
        try:
            f = fs.open(self.path(oid), "rb")
        except FileNotFoundError:
            raise ObjectMissingError(f"object {oid} is not on {self.where}") from None
        with f:
            while chunk := f.read(READ_CHUNK):
                sink.write(chunk)

    def list_stats(self) -> Iterator[tuple[str, int, float]]:
        for key, size, stamp in self._stats_under(OBJECTS):
            oid = oid_from_key(key)
            if oid:
                yield oid, size, stamp

    def _meta(self, name: str) -> str:
        if not name or name.startswith("/") or ".." in name.split("/"):
            raise ValueError(f"bad meta name {name!r}")
        self.fs()
        return f"{self.root}/{META}/{name}"

    def read_meta(self, name: str) -> bytes | None:
        try:
            return bytes(self.fs().cat_file(self._meta(name)))
        except FileNotFoundError:
            return None

    def write_meta(self, name: str, data: bytes, exclusive: bool = False) -> bool:
        fs = self.fs()
        path = self._meta(name)
        if exclusive and fs.exists(path):  # check-then-write: callers read it back to be sure
            return False
        fs.makedirs(os.path.dirname(path), exist_ok=True)
        fs.pipe_file(path, data)
        return True

    def delete_meta(self, name: str) -> None:
        try:
            self.fs().rm_file(self._meta(name))
        except FileNotFoundError:
            pass

    def delete(self, oid: str) -> None:
        try:
            self.fs().rm_file(self.path(oid))
        except FileNotFoundError:
            pass
