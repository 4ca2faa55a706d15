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
from collections.abc import Collection, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .. import fsutil
from ..errors import ObjectMissingError, RemoteError
from .base import OBJECTS, Remote, Sink, object_key, oid_from_key

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
                from fsspec.core import url_to_fs
            except ImportError:
                raise RemoteError(f"{self.where}: {self.scheme}:// remotes need fsspec; "
                                  f"install it with `pip install fsspec {extra}`") from None
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
        fs = self.fs()
        final = self.path(oid)
        if self.scheme in _OBJECT_STORES:
            fs.put_file(path, final)
            return
        tmp = f"{os.path.dirname(final)}/{os.path.basename(fsutil.tmp_name('.'))}"
        fs.makedirs(os.path.dirname(final), exist_ok=True)
        fs.put_file(path, tmp)
        fs.mv(tmp, final)

    def get(self, oid: str, sink: Sink) -> None:
        fs = self.fs()
        try:
            f = fs.open(self.path(oid), "rb")
        except FileNotFoundError:
            raise ObjectMissingError(f"object {oid} is not on {self.where}") from None
        with f:
            while chunk := f.read(READ_CHUNK):
                sink.write(chunk)

    def delete(self, oid: str) -> None:
        try:
            self.fs().rm_file(self.path(oid))
        except FileNotFoundError:
            pass
