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
import threading
from collections.abc import Callable, Iterator
from typing import Any

from gitmodel.errors import RemoteError
from gitmodel.platform import faults
from gitmodel.remote.base import Backend, KeyMissingError, Sink, Stat, TransientRemoteError

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
# An endpoint that does not answer must cost seconds, not the minutes that
# botocore's read timeout times its retries times ours would add up to: the
# bucket check (the first request of every command) waits this long, twice
# at most, and an endpoint that fails it is not retried.
CONNECT_TIMEOUT = 10.0
CHECK_ATTEMPTS = 2
READ_TIMEOUT = 120  # a transfer under way: a busy server may think for a while

_PERMISSION = {"AccessDenied", "AllAccessDisabled", "AccountProblem", "403", "Forbidden"}
_REJECTED = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken", "InvalidToken",
             "TokenRefreshRequired", "AuthorizationHeaderMalformed"}
_TRANSIENT = {"SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "RequestTimeTooSkewed",
              "InternalError", "ServiceUnavailable", "500", "502", "503", "504"}


class S3Backend(Backend):
    kind = "s3"
    default_jobs = 16  # the per-request latency, not bandwidth, bounds small objects
    # Up to 64 keys, HEADs need no estimate of the store; a listing request
    # returns 1,000 keys and costs about two HEADs, and HEADs overlap `jobs` at a time.
    probe_limit = 64
    keys_per_probe = 500.0
    probes_overlap = True

    def __init__(self, name: str, display: str, bucket: str, prefix: str, *, endpoint_url: str | None = None,
                 region: str | None = None, profile: str | None = None, access_key_id: str | None = None,
                 secret_access_key: str | None = None, session_token: str | None = None,
                 endpoint_display: str | None = None, timeout: float | None = None) -> None:
        super().__init__(name, display)
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.endpoint_url = endpoint_url
        self.endpoint_display = endpoint_display or endpoint_url or "AWS S3"
        self.region = region
        self.profile = profile
        self._keys = (access_key_id, secret_access_key, session_token)
        self.timeout = timeout or CONNECT_TIMEOUT
        self._client: Any = None
        self._mu = threading.Lock()

    @property
    def identity(self) -> str:
        return f"s3:{self.endpoint_url or ''}:{self.bucket}/{self.prefix}"

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
            raise RemoteError(f"{self.where}: AWS profile {self.profile!r} is not in your AWS config",
                              hint=f"fix it with `gitmodel remote modify {self.name} profile NAME --local`") from None
        config = botocore.config.Config(
            max_pool_connections=POOL,
            retries={"max_attempts": 5, "mode": "standard"},  # backoff with jitter, bounded
            connect_timeout=self.timeout, read_timeout=max(READ_TIMEOUT, self.timeout),
            user_agent_extra="gitmodel",
        )
        # The check runs on a client of its own whose read timeout and retries
        # are short (CONNECT_TIMEOUT says why); the transfers' client keeps the long ones.
        check = config.merge(botocore.config.Config(read_timeout=self.timeout,
                                                    retries={"max_attempts": CHECK_ATTEMPTS, "mode": "standard"}))
        region = self.region or session.region_name or "us-east-1"
        try:
            client = session.client("s3", endpoint_url=self.endpoint_url or None, region_name=region, config=config)
            checker = session.client("s3", endpoint_url=self.endpoint_url or None, region_name=region, config=check)
        except ValueError as e:  # botocore's word on an endpoint or region that got past check_endpoint
            raise RemoteError(f"{self.where}: {e}",
                              hint=f"fix it with `gitmodel remote modify {self.name} endpoint_url URL` "
                                   f"(or `... region NAME`)") from None
        try:
            checker.head_bucket(Bucket=self.bucket)
        except Exception as e:
            client.close()
            raise self._translate(e, "checking the bucket", bucket_check=True) from None
        finally:
            checker.close()
        return client

    def _translate(self, e: Exception, doing: str, bucket_check: bool = False) -> Exception:
        """One line saying which failure it is and how to fix it."""
        import botocore.exceptions as bx

        if isinstance(e, RemoteError):
            return e
        if isinstance(e, (bx.NoCredentialsError, bx.PartialCredentialsError)):
            return RemoteError(
                f"{self.where}: no AWS credentials found",
                hint=f"set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
                     f"or choose a profile with `gitmodel remote modify {self.name} profile NAME --local`, "
                     f"or put access_key_id and secret_access_key in .gitmodel/config.local.toml")
        if isinstance(e, (bx.EndpointConnectionError, bx.ConnectTimeoutError, bx.ProxyConnectionError)):
            return RemoteError(
                f"{self.where}: cannot reach the endpoint {self.endpoint_display}",
                hint=f"check the network and endpoint_url (`gitmodel remote modify {self.name} endpoint_url URL`)")
        if bucket_check and isinstance(e, bx.ReadTimeoutError):
            # Not transient: an endpoint that accepts and never answers would
            # otherwise be retried for each object.
            return RemoteError(
                f"{self.where}: the endpoint {self.endpoint_display} did not answer within {self.timeout:g} s",
                hint=f"check endpoint_url, or wait longer with `gitmodel remote modify {self.name} timeout SECONDS`")
        if isinstance(e, bx.ClientError):
            err = e.response.get("Error", {})
            code = str(err.get("Code", ""))
            status = int(e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
            if code == "NoSuchBucket" or (bucket_check and (code == "404" or status == 404)):
                return RemoteError(
                    f"{self.where}: the bucket '{self.bucket}' does not exist at {self.endpoint_display}",
                    hint=f"create it, or fix the URL with `gitmodel remote modify {self.name} url s3://BUCKET/PREFIX`")
            if code in _REJECTED:
                return RemoteError(
                    f"{self.where}: the credentials were rejected ({code}) while {doing}",
                    hint=f"check "
                         f"AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or the profile "
                         f"(`gitmodel remote modify {self.name} profile NAME --local`)")
            if code in _PERMISSION or status == 403:
                return RemoteError(
                    f"{self.where}: permission denied while {doing} (s3://{self.bucket}/{self.prefix})",
                    hint=f"grant these credentials s3:GetObject, s3:PutObject and s3:ListBucket there, "
                         f"or use other credentials "
                         f"(AWS_PROFILE, `gitmodel remote modify {self.name} profile NAME --local`)")
            if code in _TRANSIENT or status >= 500:
                return TransientRemoteError(f"{self.where}: the server failed while {doing} ({code or status})",
                                            hint="run the command again")
            return RemoteError(f"{self.where}: {code or status} while {doing}: {err.get('Message', '')}".rstrip(": "))
        if isinstance(e, (bx.ConnectionError, bx.HTTPClientError, bx.IncompleteReadError)):
            return TransientRemoteError(f"{self.where}: connection failed while {doing} ({type(e).__name__})",
                                        hint="run the command again")
        if isinstance(e, bx.BotoCoreError):
            return RemoteError(f"{self.where}: {e}")
        import urllib3.exceptions

        if isinstance(e, urllib3.exceptions.HTTPError):  # escapes botocore while a body streams
            return TransientRemoteError(f"{self.where}: connection failed while {doing} ({type(e).__name__})",
                                        hint="run the command again")
        return e

    # -- the key store ------------------------------------------------------------
    def put_file(self, key: str, path: str, size: int, *, sync: bool = False) -> None:
        # A PUT (or a completed multipart upload) is visible and durable when it returns: `sync` is free.
        self._upload(self.prefix + key, path, size, f"uploading {key}")
        faults.point("remote:s3-put")

    def put_bytes(self, key: str, data: bytes, *, sync: bool = False, exclusive: bool = False) -> bool:
        import botocore.exceptions as bx

        s3 = self.client()
        full = self.prefix + key
        if not exclusive:
            try:
                s3.put_object(Bucket=self.bucket, Key=full, Body=data)
            except Exception as e:
                raise self._translate(e, f"uploading {key}") from None
            faults.point("remote:s3-put")
            return True
        try:
            # A conditional write (If-None-Match: *) is atomic on AWS and most
            # S3-compatible stores; where it is not understood, check then write.
            s3.put_object(Bucket=self.bucket, Key=full, Body=data, IfNoneMatch="*")
            return True
        except bx.ClientError as e:
            code = str(e.response.get("Error", {}).get("Code", ""))
            if code in ("PreconditionFailed", "412", "ConditionalRequestConflict", "409"):
                return False
            if code not in ("NotImplemented", "501", "InvalidArgument", "400"):
                raise self._translate(e, f"writing {key}") from None
        except Exception as e:
            raise self._translate(e, f"writing {key}") from None
        if self.stat(key) is not None:
            return False
        return self.put_bytes(key, data)

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

    def get(self, key: str, sink: Sink) -> None:
        try:
            body = self.client().get_object(Bucket=self.bucket, Key=self.prefix + key)["Body"]
        except Exception as e:
            if _is_not_found(e):
                raise KeyMissingError(f"{key} is not on {self.where}") from None
            raise self._translate(e, f"downloading {key}") from None
        self._stream(body, sink.write, f"downloading {key}")

    def get_range(self, key: str, offset: int, size: int) -> bytes:
        if size <= 0:
            return b""
        try:
            body = self.client().get_object(Bucket=self.bucket, Key=self.prefix + key,
                                            Range=f"bytes={offset}-{offset + size - 1}")["Body"]
        except Exception as e:
            if _is_not_found(e):
                raise KeyMissingError(f"{key} is not on {self.where}") from None
            if _is_bad_range(e):
                return b""  # the value is shorter than asked: cut short, as the contract says
            raise self._translate(e, f"downloading from {key}") from None
        out = bytearray()
        self._stream(body, out.extend, f"downloading from {key}")
        return bytes(out)

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

    def stat(self, key: str) -> Stat | None:
        try:
            head = self.client().head_object(Bucket=self.bucket, Key=self.prefix + key)
        except Exception as e:
            if _is_not_found(e):
                return None
            raise self._translate(e, f"checking {key}") from None
        modified = head.get("LastModified")
        return Stat(key, int(head.get("ContentLength") or 0),
                    modified.timestamp() if hasattr(modified, "timestamp") else None)

    def list(self, prefix: str, limit: int | None = None) -> Iterator[Stat]:
        s3 = self.client()
        config = {"MaxItems": limit} if limit else {}
        full, cut = self.prefix + prefix, len(self.prefix)
        try:
            pages = s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=full,
                                                                 PaginationConfig=config)
            for page in pages:
                for item in page.get("Contents", ()):
                    key = str(item.get("Key", ""))
                    if not key.startswith(full):
                        continue  # a listing is untrusted: never a key outside what was asked
                    modified = item.get("LastModified")
                    yield Stat(key[cut:], int(item.get("Size") or 0),
                               modified.timestamp() if hasattr(modified, "timestamp") else None)
        except Exception as e:
            raise self._translate(e, f"listing {prefix}") from None

    def delete(self, key: str) -> None:
        try:
            self.client().delete_object(Bucket=self.bucket, Key=self.prefix + key)
        except Exception as e:
            raise self._translate(e, f"deleting {key}") from None

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
