"""A remote in an S3-compatible object store: `s3://bucket/prefix`, with
`endpoint_url` for MinIO, Ceph, R2 and the like.

boto3 rather than fsspec/s3fs (measured, see docs/remotes.md): one
dependency instead of three, thread-safe clients that a plain thread pool
drives at the same request rate as the floor, and s3transfer's multipart
uploads from a file with bounded memory.  It is imported only when an S3
remote is used, so `gitmodel status` never pays for it.

Credentials come from boto3's standard chain (environment, shared config
and credentials files, `profile`, SSO, instance roles), or from
`access_key_id` / `secret_access_key` / `session_token` in the git-ignored
`.gitmodel/config.local.toml` (never the committed config), or from a URL
`s3://KEY:SECRET@bucket/prefix` kept there too.

An object becomes visible only complete: a single PUT is atomic, and a
multipart upload appears only when it is completed.
"""

from __future__ import annotations

import os
import random
import threading
from collections.abc import Callable, Collection, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from gitmodel.platform import faults
from gitmodel.errors import ObjectMissingError, RemoteError
from gitmodel.store import pack as packmod
from gitmodel.remote.base import META, OBJECTS, PACKS, Remote, Sink, TransientRemoteError, object_key, oid_from_key, pack_key

SMALL_BODY = 1 << 20  # sent from memory; larger bodies stream from the file
MULTIPART_THRESHOLD = 64 << 20
# 16 MiB parts: half the requests of boto3's 8 MiB default, and the server's
# per-request cost is what bounds a large upload (moto, 1 GiB, 10 interleaved
# runs: median 7.98 s against 8.29 s with 8 MiB; peak RSS 86 MB either way,
# since s3transfer streams each part from the file rather than holding it).
MULTIPART_CHUNK = 16 << 20
MULTIPART_CONCURRENCY = 10  # fewer measured slower (16 MiB x 8: 8.43 s; 32 MiB x 4: slower still)
READ_CHUNK = 1 << 20
POOL = 64  # connections; created on demand, so a large pool costs nothing idle
HEAD_BATCH_MAX = 64  # up to this many objects, per-object HEADs need no estimate of the remote

_PERMISSION = {"AccessDenied", "AllAccessDisabled", "AccountProblem", "403", "Forbidden"}
_REJECTED = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken",
             "TokenRefreshRequired", "AuthorizationHeaderMalformed"}
_TRANSIENT = {"SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "RequestTimeTooSkewed",
              "InternalError", "ServiceUnavailable", "500", "502", "503", "504"}


class S3Remote(Remote):
    kind = "s3"
    default_jobs = 16  # the per-request latency, not bandwidth, bounds small objects

    def __init__(self, name: str, display: str, bucket: str, prefix: str, *, endpoint_url: str | None = None,
                 region: str | None = None, profile: str | None = None, access_key_id: str | None = None,
                 secret_access_key: str | None = None, session_token: str | None = None,
                 endpoint_display: str | None = None) -> None:
        super().__init__(name, display)
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.endpoint_url = endpoint_url
        self.endpoint_display = endpoint_display or endpoint_url or "AWS S3"
        self.region = region
        self.profile = profile
        self._keys = (access_key_id, secret_access_key, session_token)
        self._client: Any = None
        self._mu = threading.Lock()

    @property
    def identity(self) -> str:
        return f"s3:{self.endpoint_url or ''}:{self.bucket}/{self.prefix}"

    def key(self, oid: str) -> str:
        return self.prefix + object_key(oid)

    # -- connection -------------------------------------------------------------
    def client(self) -> Any:
        """The boto3 client, made (and the bucket checked) on first use."""
        if self._client is not None:
            return self._client
        with self._mu:
            if self._client is None:
                self._client = self._connect()
        return self._client

    def _connect(self) -> Any:
        import boto3  # type: ignore[import-untyped]
        import botocore.config  # type: ignore[import-untyped]
        import botocore.exceptions  # type: ignore[import-untyped]

        key_id, secret, token = self._keys
        try:
            session = boto3.session.Session(profile_name=self.profile or None, aws_access_key_id=key_id,
                                            aws_secret_access_key=secret, aws_session_token=token,
                                            region_name=self.region or None)
        except botocore.exceptions.ProfileNotFound:
            raise RemoteError(f"{self.where}: AWS profile {self.profile!r} is not in your AWS config; "
                              f"fix it with `gitmodel remote modify {self.name} profile NAME --local`") from None
        config = botocore.config.Config(
            max_pool_connections=POOL,
            retries={"max_attempts": 5, "mode": "standard"},  # backoff with jitter, bounded
            connect_timeout=10, read_timeout=120,
            user_agent_extra="gitmodel",
        )
        client = session.client("s3", endpoint_url=self.endpoint_url or None,
                                region_name=self.region or session.region_name or "us-east-1", config=config)
        try:
            client.head_bucket(Bucket=self.bucket)
        except Exception as e:
            raise self._translate(e, "checking the bucket", bucket_check=True) from None
        return client

    def _translate(self, e: Exception, doing: str, bucket_check: bool = False) -> Exception:
        """One line saying which failure it is and how to fix it."""
        import botocore.exceptions as bx

        if isinstance(e, RemoteError):
            return e
        if isinstance(e, (bx.NoCredentialsError, bx.PartialCredentialsError)):
            return RemoteError(
                f"{self.where}: no AWS credentials found; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
                f"or choose a profile with `gitmodel remote modify {self.name} profile NAME --local`, "
                f"or put access_key_id and secret_access_key in .gitmodel/config.local.toml")
        if isinstance(e, (bx.EndpointConnectionError, bx.ConnectTimeoutError, bx.ProxyConnectionError)):
            return RemoteError(
                f"{self.where}: cannot reach the endpoint {self.endpoint_display}; check the network and "
                f"endpoint_url (`gitmodel remote modify {self.name} endpoint_url URL`)")
        if isinstance(e, bx.ClientError):
            err = e.response.get("Error", {})
            code = str(err.get("Code", ""))
            status = int(e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
            if code == "NoSuchBucket" or (bucket_check and (code == "404" or status == 404)):
                return RemoteError(
                    f"{self.where}: the bucket '{self.bucket}' does not exist at {self.endpoint_display}; "
                    f"create it, or fix the URL with `gitmodel remote modify {self.name} url s3://BUCKET/PREFIX`")
            if code in _REJECTED:
                return RemoteError(
                    f"{self.where}: the credentials were rejected ({code}) while {doing}; check "
                    f"AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or the profile "
                    f"(`gitmodel remote modify {self.name} profile NAME --local`)")
            if code in _PERMISSION or status == 403:
                return RemoteError(
                    f"{self.where}: permission denied while {doing} (s3://{self.bucket}/{self.prefix}); "
                    f"grant these credentials s3:GetObject, s3:PutObject and s3:ListBucket there, "
                    f"or use other credentials (AWS_PROFILE, `gitmodel remote modify {self.name} profile NAME --local`)")
            if code in _TRANSIENT or status >= 500:
                return TransientRemoteError(f"{self.where}: the server failed while {doing} ({code or status}); "
                                            f"run the command again")
            return RemoteError(f"{self.where}: {code or status} while {doing}: {err.get('Message', '')}".rstrip(": "))
        if isinstance(e, (bx.ConnectionError, bx.HTTPClientError, bx.IncompleteReadError)):
            return TransientRemoteError(f"{self.where}: connection failed while {doing} ({type(e).__name__}); "
                                        f"run the command again")
        if isinstance(e, bx.BotoCoreError):
            return RemoteError(f"{self.where}: {e}")
        import urllib3.exceptions

        if isinstance(e, urllib3.exceptions.HTTPError):  # escapes botocore while a body streams
            return TransientRemoteError(f"{self.where}: connection failed while {doing} ({type(e).__name__}); "
                                        f"run the command again")
        return e

    # -- queries ------------------------------------------------------------------
    def exists_many(self, oids: Collection[str], jobs: int) -> set[str]:
        oids = list(oids)
        if not oids:
            return set()
        s3 = self.client()
        if len(oids) > HEAD_BATCH_MAX:
            # HEADs cost one request per object over `jobs` connections; a listing
            # costs one request per 1,000 objects the remote holds, whatever we ask.
            # One page of one shard estimates the remote's size.
            listed_shard = self._list_keys(f"{self.prefix}{OBJECTS}/xxh128/{random.randrange(256):02x}/", limit=1000)
            estimate = len(listed_shard) * 256
            list_requests = estimate // 1000 + 1
            if list_requests * 2 <= len(oids) / max(jobs, 1):
                have = set(self.list_oids())
                return {o for o in oids if o in have}

        def head(oid: str) -> str | None:
            try:
                s3.head_object(Bucket=self.bucket, Key=self.key(oid))
                return oid
            except Exception as e:
                if _is_not_found(e):
                    return None
                raise self._translate(e, f"checking object {oid}") from None

        if len(oids) == 1:
            return {o for o in map(head, oids) if o}
        with ThreadPoolExecutor(max(1, min(jobs, len(oids)))) as pool:
            return {o for o in pool.map(head, oids) if o}

    def _list_keys(self, prefix: str, limit: int | None = None) -> list[str]:
        s3 = self.client()
        keys: list[str] = []
        try:
            paginator = s3.get_paginator("list_objects_v2")
            config = {"MaxItems": limit} if limit else {}
            for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix, PaginationConfig=config):
                keys += [item["Key"] for item in page.get("Contents", ())]
        except Exception as e:
            raise self._translate(e, "listing objects") from None
        return keys

    def list_oids(self) -> Iterator[str]:
        for key in self._list_keys(f"{self.prefix}{OBJECTS}/"):
            oid = oid_from_key(key)
            if oid:
                yield oid

    # -- transfers ------------------------------------------------------------------
    def put(self, oid: str, path: str, size: int) -> None:
        self._upload(self.key(oid), path, size, f"uploading object {oid}")
        faults.point("remote:s3-put")

    def put_bytes(self, oid: str, data: bytes) -> None:
        try:
            self.client().put_object(Bucket=self.bucket, Key=self.key(oid), Body=data)
        except Exception as e:
            raise self._translate(e, f"uploading object {oid}") from None
        faults.point("remote:s3-put")

    def _upload(self, key: str, path: str, size: int, doing: str) -> None:
        """One file to one key: small from memory, medium as one streamed PUT,
        large as a multipart upload (visible only once completed)."""
        s3 = self.client()
        try:
            if size < SMALL_BODY:
                # bytes, not a file: botocore adds `Expect: 100-continue` (one more
                # round trip per object) to a file body; small bodies are cheap to hold.
                with open(path, "rb") as f:
                    data = f.read()
                s3.put_object(Bucket=self.bucket, Key=key, Body=data)
            elif size < MULTIPART_THRESHOLD:
                with open(path, "rb") as f:
                    s3.put_object(Bucket=self.bucket, Key=key, Body=f)
            else:
                from boto3.s3.transfer import TransferConfig  # type: ignore[import-untyped]

                config = TransferConfig(multipart_threshold=MULTIPART_THRESHOLD, multipart_chunksize=MULTIPART_CHUNK,
                                        max_concurrency=MULTIPART_CONCURRENCY, use_threads=True)
                # The crash tests kill a multipart upload halfway (GITMODEL_FAULT=remote:s3-part-sent).
                callback = (lambda n: faults.point("remote:s3-part-sent")) if os.environ.get("GITMODEL_FAULT") else None
                s3.upload_file(path, self.bucket, key, Config=config, Callback=callback)
        except Exception as e:
            raise self._translate(_unwrap(e), doing) from None

    def get(self, oid: str, sink: Sink) -> None:
        s3 = self.client()
        try:
            body = s3.get_object(Bucket=self.bucket, Key=self.key(oid))["Body"]
        except Exception as e:
            if _is_not_found(e):
                raise ObjectMissingError(f"object {oid} is not on {self.where}") from None
            raise self._translate(e, f"downloading object {oid}") from None
        self._stream(body, sink.write, f"downloading object {oid}")

    def _stream(self, body: Any, write: Callable[[bytes], object], doing: str) -> None:
        """A response body, chunk by chunk, into `write`; the connection's
        failures mapped to one-line errors, the body closed either way."""
        try:
            for chunk in body.iter_chunks(READ_CHUNK):
                write(chunk)
        except (OSError, RemoteError):
            raise
        except Exception as e:
            raise self._translate(_unwrap(e), doing) from None
        finally:
            body.close()

    def delete(self, oid: str) -> None:
        try:
            self.client().delete_object(Bucket=self.bucket, Key=self.key(oid))
        except Exception as e:
            raise self._translate(e, f"deleting object {oid}") from None

    def list_stats(self) -> Iterator[tuple[str, int, float]]:
        s3 = self.client()
        try:
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket,
                                                                     Prefix=f"{self.prefix}{OBJECTS}/"):
                for item in page.get("Contents", ()):
                    oid = oid_from_key(item["Key"])
                    if oid:
                        yield oid, int(item["Size"]), item["LastModified"].timestamp()
        except Exception as e:
            raise self._translate(e, "listing objects") from None

    # -- packs ----------------------------------------------------------------------
    def _pack_key(self, packid: str, ext: str) -> str:
        return self.prefix + pack_key(packid, ext)

    def _get_whole(self, key: str) -> bytes:
        """A small key's whole body (an index, a control file); the client's
        exceptions pass through for the caller to name."""
        body = self.client().get_object(Bucket=self.bucket, Key=key)["Body"]
        try:
            return bytes(body.read())
        finally:
            body.close()

    def list_packs(self) -> list[str]:
        return sorted(p for p, ext, _, _ in self.list_pack_stats() if ext == "idx")

    def read_pack_index(self, packid: str) -> bytes:
        try:
            return self._get_whole(self._pack_key(packid, "idx"))
        except Exception as e:
            if _is_not_found(e):
                raise ObjectMissingError(f"pack {packid} is not on {self.where}") from None
            raise self._translate(_unwrap(e), f"downloading the index of pack {packid}") from None

    def put_pack(self, packid: str, pack_path: str, idx_data: bytes) -> None:
        """The pack (multipart when large, like `put`), then its index: a pack
        without its index does not count, so a killed upload is redone."""
        self._upload(self._pack_key(packid, "pack"), pack_path, os.stat(pack_path).st_size,
                     f"uploading pack {packid}")
        faults.point("remote:pack-before-index")
        try:
            self.client().put_object(Bucket=self.bucket, Key=self._pack_key(packid, "idx"), Body=idx_data)
        except Exception as e:
            raise self._translate(e, f"uploading the index of pack {packid}") from None

    def get_range(self, packid: str, offset: int, size: int) -> bytes:
        if size <= 0:
            return b""
        try:
            body = self.client().get_object(Bucket=self.bucket, Key=self._pack_key(packid, "pack"),
                                            Range=f"bytes={offset}-{offset + size - 1}")["Body"]
        except Exception as e:
            if _is_not_found(e):
                raise ObjectMissingError(f"pack {packid} is not on {self.where}") from None
            if _is_bad_range(e):
                return b""  # the pack is shorter than its index says: the caller's hash check refuses it
            raise self._translate(e, f"downloading from pack {packid}") from None
        out = bytearray()
        self._stream(body, out.extend, f"downloading from pack {packid}")
        return bytes(out)

    def delete_pack(self, packid: str) -> None:
        for ext in ("idx", "pack"):  # the index first: the pack stops counting before it goes
            try:
                self.client().delete_object(Bucket=self.bucket, Key=self._pack_key(packid, ext))
            except Exception as e:
                raise self._translate(e, f"deleting pack {packid}") from None

    def list_pack_stats(self) -> Iterator[tuple[str, str, int, float]]:
        s3 = self.client()
        try:
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket,
                                                                     Prefix=f"{self.prefix}{PACKS}/"):
                for item in page.get("Contents", ()):
                    named = packmod.split_name(item["Key"].rpartition("/")[2])
                    if named is not None:
                        yield *named, int(item["Size"]), item["LastModified"].timestamp()
        except Exception as e:
            raise self._translate(e, "listing packs") from None

    def _meta_key(self, name: str) -> str:
        if not name or name.startswith("/") or ".." in name.split("/"):
            raise ValueError(f"bad meta name {name!r}")
        return f"{self.prefix}{META}/{name}"

    def read_meta(self, name: str) -> bytes | None:
        try:
            return self._get_whole(self._meta_key(name))
        except Exception as e:
            if _is_not_found(e):
                return None
            raise self._translate(e, f"reading {META}/{name}") from None

    def write_meta(self, name: str, data: bytes, exclusive: bool = False) -> bool:
        import botocore.exceptions as bx

        s3 = self.client()
        key = self._meta_key(name)
        if not exclusive:
            try:
                s3.put_object(Bucket=self.bucket, Key=key, Body=data)
                return True
            except Exception as e:
                raise self._translate(e, f"writing {META}/{name}") from None
        try:
            # A conditional write (If-None-Match: *) is atomic on AWS and most
            # S3-compatible stores; where it is not understood, check then write.
            s3.put_object(Bucket=self.bucket, Key=key, Body=data, IfNoneMatch="*")
            return True
        except bx.ClientError as e:
            code = str(e.response.get("Error", {}).get("Code", ""))
            if code in ("PreconditionFailed", "412", "ConditionalRequestConflict", "409"):
                return False
            if code not in ("NotImplemented", "501", "InvalidArgument", "400"):
                raise self._translate(e, f"writing {META}/{name}") from None
        except Exception as e:
            raise self._translate(e, f"writing {META}/{name}") from None
        if self.read_meta(name) is not None:
            return False
        self.write_meta(name, data)
        return True

    def delete_meta(self, name: str) -> None:
        try:
            self.client().delete_object(Bucket=self.bucket, Key=self._meta_key(name))
        except Exception as e:
            raise self._translate(e, f"deleting {META}/{name}") from None

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()


def _is_not_found(e: Exception) -> bool:
    import botocore.exceptions as bx

    if not isinstance(e, bx.ClientError):
        return False
    code = str(e.response.get("Error", {}).get("Code", ""))
    return code in ("404", "NoSuchKey", "NotFound")


def _is_bad_range(e: Exception) -> bool:
    import botocore.exceptions as bx

    return isinstance(e, bx.ClientError) and str(e.response.get("Error", {}).get("Code", "")) in ("InvalidRange", "416")


def _unwrap(e: Exception) -> Exception:
    """s3transfer wraps the client error of a failed multipart upload."""
    inner = e.__cause__ or e.__context__
    if type(e).__name__ == "S3UploadFailedError" and isinstance(inner, Exception):
        return inner
    return e
