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

import datetime as dt
import os
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

from gitmodel.errors import ConfigError, GitmodelError, RemoteError
from gitmodel.platform import atomic
from gitmodel.remote.base import Backend, KeyMissingError, Sink, Stat, TransientRemoteError

T = TypeVar("T")

_OBJECT_STORES = {"gs", "gcs", "az", "abfs", "abfss", "adl", "s3a", "oss", "memory"}
_EXTRAS = {"gs": "gcsfs", "gcs": "gcsfs", "az": "adlfs", "abfs": "adlfs", "abfss": "adlfs",
           "sftp": "paramiko", "ssh": "paramiko", "http": "aiohttp", "https": "aiohttp"}
# What the implementations call a file's modification time, most specific
# first (local: mtime; s3fs: LastModified; gcsfs: updated; adlfs: last_modified;
# sftp: mtime; memory: created, as files there are never modified in place).
_TIME_FIELDS = ("mtime", "LastModified", "last_modified", "updated", "modified", "timeModified",
                "created", "timeCreated", "creation_time")
READ_CHUNK = 1 << 20


def check_protocol(scheme: str, where: str) -> None:
    """Refuse, with one line and the fix, a scheme no installed fsspec
    implementation serves: unknown to fsspec, or its package missing.
    Imports the implementation (as its first use would) but contacts nothing."""
    extra = _EXTRAS.get(scheme, "the fsspec implementation for it")
    try:
        from fsspec.registry import get_filesystem_class  # type: ignore[import-not-found, import-untyped, unused-ignore]
    except ImportError:
        raise ConfigError(f"{where}: {scheme}:// remotes need fsspec",
                          hint=f"install it with `pip install fsspec {extra}` "
                               f"(or the matching gitmodel extra, docs/remotes.md)") from None
    try:
        get_filesystem_class(scheme)
    except ValueError:
        raise ConfigError(f"{where}: {scheme}:// is not a kind of remote gitmodel or fsspec knows",
                          hint="use a folder path, s3://bucket/prefix, or an fsspec URL such as gs://bucket/prefix "
                               "(docs/remotes.md)") from None
    except ImportError as e:  # fsspec knows it; its package is not installed (e says which)
        why = " ".join(str(e).split())[:200]
        raise ConfigError(f"{where}: {scheme}:// remotes need a package that is not installed ({why})",
                          hint=f"install it with `pip install {extra}`") from None
    except Exception as e:  # noqa: BLE001 - a third-party import failing in its own way
        raise ConfigError(f"{where}: the fsspec implementation of {scheme}:// cannot be loaded "
                          f"({type(e).__name__}: {' '.join(str(e).split())[:200]})",
                          hint=f"reinstall it (`pip install --force-reinstall {extra}`)") from None


class FsspecBackend(Backend):
    kind = "fsspec"
    default_jobs = 8

    def __init__(self, name: str, display: str, url: str, options: dict[str, Any]) -> None:
        super().__init__(name, display)
        self.url = url
        self.scheme = url.split("://", 1)[0].lower()
        self.options = options
        self._fs: Any = None
        self.root = ""
        check_protocol(self.scheme, self.where)

    @property
    def identity(self) -> str:
        return f"fsspec:{self.display}"

    def fs(self) -> Any:
        if self._fs is None:
            extra = _EXTRAS.get(self.scheme, "the fsspec implementation for it")
            try:
                from fsspec.core import url_to_fs  # type: ignore[import-not-found, import-untyped, unused-ignore]
            except ImportError:
                raise RemoteError(f"{self.where}: {self.scheme}:// remotes need fsspec",
                                  hint=f"install it with `pip install fsspec {extra}` "
                                       f"(or the matching gitmodel extra, docs/remotes.md)") from None
            try:
                self._fs, root = url_to_fs(self.url, **self.options)
            except ImportError as e:
                raise RemoteError(f"{self.where}: cannot open {self.scheme}:// ({' '.join(str(e).split())[:200]})",
                                  hint=f"install `pip install {_EXTRAS[self.scheme]}`" if self.scheme in _EXTRAS
                                  else "install the package it names") from None
            except TypeError as e:  # an option the filesystem does not take
                raise ConfigError(f"{self.where}: {self.scheme}:// does not take these settings ({e})",
                                  hint=f"remove them with `gitmodel remote modify {self.name} KEY --unset`") from None
            except Exception as e:  # noqa: BLE001 - a filesystem that connects when made (ftp, sftp) or rejects the URL
                raise self._failed(e, "connecting", connecting=True) from None
            self.root = str(root).rstrip("/")
        return self._fs

    def _failed(self, e: BaseException, doing: str, connecting: bool = False) -> GitmodelError:
        """What the filesystem raised, as one line naming the remote.  Each
        implementation has its own exceptions (aiohttp's, paramiko's, the
        cloud SDKs'): none of them is a gitmodel bug.  A dropped connection
        in the middle of a transfer may pass (retried); one that cannot be
        made, or a timeout while making it, is said at once."""
        why = " ".join(str(e).split())[:300] or type(e).__name__
        unreachable = isinstance(e, ConnectionRefusedError) or type(e).__name__ == "gaierror"
        if unreachable or (connecting and isinstance(e, (ConnectionError, TimeoutError))):
            return RemoteError(f"{self.where}: cannot reach it while {doing} ({why})",
                               hint="check the network and the URL "
                                    f"(`gitmodel remote modify {self.name} url URL`)")
        if isinstance(e, (ConnectionError, TimeoutError)):
            return TransientRemoteError(f"{self.where}: the connection failed while {doing} ({why})",
                                        hint="run the command again")
        if isinstance(e, ValueError):
            return ConfigError(f"{self.where}: the URL is not one {self.scheme}:// can open ({why})",
                               hint=f"fix it with `gitmodel remote modify {self.name} url URL`")
        return RemoteError(f"{self.where}: {type(e).__name__} while {doing}: {why}")

    def _call(self, doing: str, fn: Callable[[], T]) -> T:
        """fn(), its failures said in one line.  An absent key
        (FileNotFoundError), gitmodel's own errors, and an OSError naming a
        file (the local disk, or a folder-like store: the CLI names those)
        pass through."""
        try:
            return fn()
        except (FileNotFoundError, GitmodelError):
            raise
        except OSError as e:
            if e.filename is not None and not isinstance(e, (ConnectionError, TimeoutError)):
                raise
            raise self._failed(e, doing) from None
        except Exception as e:  # noqa: BLE001 - see _failed
            raise self._failed(e, doing) from None

    def path(self, key: str) -> str:
        self.fs()  # sets self.root
        return f"{self.root}/{key}"

    def _publish(self, final: str, write: Callable[[str], None]) -> None:
        """Object stores publish an upload whole; elsewhere write a temp name and move it."""
        fs = self.fs()
        if self.scheme in _OBJECT_STORES:
            write(final)
            return
        folder = final.rpartition("/")[0]
        tmp = f"{folder}/{os.path.basename(atomic.tmp_name('.'))}"
        fs.makedirs(folder, exist_ok=True)
        write(tmp)
        fs.mv(tmp, final)

    def put_file(self, key: str, path: str, size: int, *, sync: bool = False) -> None:
        final = self.path(key)
        self._call(f"uploading {key}", lambda: self._publish(final, lambda dest: self.fs().put_file(path, dest)))

    def put_bytes(self, key: str, data: bytes, *, sync: bool = False, exclusive: bool = False) -> bool:
        final = self.path(key)
        # check-then-write: callers read it back to be sure
        if exclusive and self._call(f"checking {key}", lambda: self.fs().exists(final)):
            return False
        self._call(f"uploading {key}", lambda: self._publish(final, lambda dest: self.fs().pipe_file(dest, data)))
        return True

    def get(self, key: str, sink: Sink) -> None:
        doing = f"downloading {key}"
        path = self.path(key)
        try:
            f = self._call(doing, lambda: self.fs().open(path, "rb"))
        except FileNotFoundError:
            raise KeyMissingError(f"{key} is not on {self.where}") from None
        with f:
            # Only the reads are the remote's: a failing sink is the cache's disk.
            while chunk := self._call(doing, lambda: f.read(READ_CHUNK)):
                sink.write(chunk)

    def get_range(self, key: str, offset: int, size: int) -> bytes:
        if size <= 0:
            return b""
        path = self.path(key)
        try:
            return bytes(self._call(f"downloading from {key}",
                                    lambda: self.fs().cat_file(path, start=offset, end=offset + size)))
        except FileNotFoundError:
            raise KeyMissingError(f"{key} is not on {self.where}") from None

    def stat(self, key: str) -> Stat | None:
        path = self.path(key)
        try:
            info = self._call(f"checking {key}", lambda: self.fs().info(path))
        except FileNotFoundError:
            return None
        if info.get("type") == "directory":
            return None
        return Stat(key, int(info.get("size") or 0), self._mtime(self.path(key), info))

    def list(self, prefix: str, limit: int | None = None) -> Iterator[Stat]:
        fs = self.fs()
        folder, _, start = prefix.rpartition("/")
        base = f"{self.root}/{folder}" if folder else self.root
        try:
            found = self._call(f"listing {prefix or 'the remote'}", lambda: fs.find(base, detail=True))
        except FileNotFoundError:
            return
        count = 0
        for path, info in sorted(found.items()):
            key = _relative(str(path), self.root)
            if key is None or not key.startswith(prefix) or key.rpartition("/")[2].startswith(atomic.TMP_PREFIX):
                continue
            if info.get("type") == "directory":
                continue
            yield Stat(key, int(info.get("size") or 0), self._mtime(str(path), info))
            count += 1
            if limit is not None and count >= limit:
                return

    def _mtime(self, path: str, info: dict[str, Any]) -> float | None:
        """The file's modification time from whatever field the implementation
        fills, else its `modified()`; None when it cannot tell (never 0,
        which would make every file look older than gc's grace period)."""
        for name in _TIME_FIELDS:
            stamp = _as_timestamp(info.get(name))
            if stamp is not None:
                return stamp
        try:
            return _as_timestamp(self.fs().modified(path))
        except (NotImplementedError, OSError, ValueError, AttributeError):
            return None

    def delete(self, key: str) -> None:
        path = self.path(key)
        try:
            self._call(f"deleting {key}", lambda: self.fs().rm_file(path))
        except FileNotFoundError:
            pass


def _relative(path: str, root: str) -> str | None:
    """`path` below `root`, or None (implementations differ in a leading `/`)."""
    p, r = path.strip("/"), root.strip("/")
    if not r:
        return p
    return p[len(r) + 1:] if p.startswith(r + "/") else None


def _as_timestamp(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)  # what the object stores mean by a naive time
        return float(value.timestamp())
    if isinstance(value, (int, float)):
        return float(value) if value > 0 else None
    if isinstance(value, str):
        try:
            return _as_timestamp(dt.datetime.fromisoformat(value.replace("Z", "+00:00")))
        except ValueError:
            try:
                return _as_timestamp(float(value))
            except ValueError:
                return None
    return None
