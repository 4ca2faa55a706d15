"""Remotes: where objects are shared.  This module turns configuration into
a backend (`open_remote`) and keeps credentials out of messages (`redact`).

    [core]
    remote = "origin"            # the default remote

    [remote.origin]
    url = "s3://bucket/prefix"   # or a folder path, or another fsspec URL
    endpoint_url = "http://127.0.0.1:9000"
    region = "us-east-1"
    profile = "team"             # an AWS profile
    jobs = 16                    # parallel transfers

Secrets (`access_key_id`, `secret_access_key`, `session_token`, or a URL
carrying credentials) are honoured only from the git-ignored
`.gitmodel/config.local.toml`; the committed file is refused if it holds one.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

from gitmodel.config import LOCAL_FILE, Config, read_file
from gitmodel.errors import ConfigError, RemoteError
from gitmodel.remote.base import Backend, Sink, TransientRemoteError
from gitmodel.remote.layout import Remote, object_key, oid_from_key

if TYPE_CHECKING:
    from gitmodel.repo import Repo

__all__ = ["Backend", "Remote", "RemoteSpec", "Sink", "TransientRemoteError", "object_key", "oid_from_key", "redact",
           "open_remote", "open_backend", "from_repo", "spec_from_config", "names", "default_name",
           "SETTINGS", "SECRETS"]

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
# Settings a remote takes (`gitmodel remote modify NAME KEY VALUE`).
SETTINGS = {
    "url": "where the objects live: a folder path, s3://bucket/prefix, or an fsspec URL",
    "endpoint_url": "S3-compatible endpoint (MinIO, Ceph, R2, ...)",
    "region": "S3 region",
    "profile": "AWS profile name from ~/.aws/config",
    "jobs": "parallel transfers (default: 16 for S3, 4 for a folder)",
    "link": "folder remotes: auto (default) | reflink | copy | hardlink (see docs/remotes.md)",
}
SECRETS = {"access_key_id", "secret_access_key", "session_token"}
_SECRET_QUERY = re.compile(r"(sig|signature|token|secret|password|passwd|key|credential|sas)", re.I)


def redact(url: str) -> str:
    """The URL with any credentials replaced by `***` (user:password@ and
    signature-like query values), safe for every message and log."""
    if "://" not in url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return "***"
    netloc = parts.netloc
    secret_netloc = "@" in netloc
    if secret_netloc:
        netloc = "***@" + netloc.rpartition("@")[2]
    query = parts.query
    pairs = parse_qsl(query, keep_blank_values=True) if query else []
    secret_query = any(_SECRET_QUERY.search(k) for k, _ in pairs)
    if not secret_netloc and not secret_query:
        return url  # untouched, not re-spelled by urlunsplit
    if secret_query:
        query = urlencode([(k, "***" if _SECRET_QUERY.search(k) else v) for k, v in pairs], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def has_credentials(url: str) -> bool:
    return redact(url) != url


def check_name(name: str) -> str:
    if not NAME_RE.match(name):
        raise ConfigError(f"{name[:64]!r} is not a valid remote name (letters, digits, '.', '_', '-'; "
                          f"at most 64 characters)")
    return name


def names(config: Config) -> list[str]:
    section = config.get("remote", {})
    return sorted(k for k, v in section.items() if isinstance(v, dict)) if isinstance(section, dict) else []


def default_name(config: Config) -> str | None:
    value = config.get("core.remote")
    return str(value) if value else None


@dataclass
class RemoteSpec:
    name: str
    url: str
    settings: dict[str, Any] = field(default_factory=dict)
    base: str = "."  # the folder a relative local path is resolved against

    @property
    def display(self) -> str:
        return redact(self.url)

    def jobs(self) -> int | None:
        value = self.settings.get("jobs")
        return None if value is None else check_jobs(value, f"remote.{self.name}.jobs")


def check_jobs(value: Any, where: str) -> int:
    try:
        n = int(value)
    except (TypeError, ValueError):
        n = 0
    if isinstance(value, bool) or n < 1 or n > 256:
        raise ConfigError(f"{where} = {value!r} is not a whole number from 1 to 256")
    return n


def spec_from_config(config: Config, name: str | None, base: str, *, committed: dict[str, Any] | None = None
                     ) -> RemoteSpec:
    """The remote `name` (or the default one) from a repository's config.

    `committed` is the committed file's own content, checked for secrets
    (default: read from the config's path)."""
    known = names(config)
    if name is None:
        name = default_name(config)
        if name is None:
            if len(known) == 1:
                name = known[0]
            elif not known:
                raise RemoteError("no remote is configured",
                                  hint="add one with `gitmodel remote add NAME URL --default`")
            else:
                raise RemoteError(f"no default remote among {', '.join(known)}",
                                  hint="pass -r NAME, or set one with `gitmodel remote default NAME`")
    if name not in known:
        listed = f" (configured: {', '.join(known)})" if known else " (none is configured)"
        raise RemoteError(f"unknown remote '{name}'{listed}",
                          hint=f"see `gitmodel remote list`, or add it with `gitmodel remote add {name} URL`")
    settings = dict(config.get(f"remote.{name}", {}))
    committed = read_file(config.path) if committed is None else committed
    _refuse_committed_secrets(committed, name, config.path)
    url = settings.get("url")
    if not isinstance(url, str) or not url:
        raise ConfigError(f"remote '{name}' has no url", hint=f"set it with `gitmodel remote modify {name} url URL`")
    return RemoteSpec(name, url, settings, base)


def _refuse_committed_secrets(committed: dict[str, Any], name: str, path: str) -> None:
    section = committed.get("remote", {}).get(name, {}) if isinstance(committed.get("remote"), dict) else {}
    if not isinstance(section, dict):
        return
    leaked = sorted(k for k in section if k in SECRETS)
    url = section.get("url")
    if isinstance(url, str) and has_credentials(url):
        leaked.append("url (it carries credentials)")
    if leaked:
        raise ConfigError(f"{path}: remote '{name}' holds secrets in the committed config ({', '.join(leaked)})",
                          hint=f"move them to .gitmodel/{LOCAL_FILE} "
                               f"(`gitmodel remote modify {name} KEY VALUE --local`) "
                               f"and remove them from the committed file and its history")


def open_remote(spec: RemoteSpec, workspace_link: str = "reflink") -> Remote:
    """The remote for a spec: the layout over its backend (nothing is
    contacted until first use).  `workspace_link` is the repository's
    core.link (folder remotes only hardlink to cache objects that the
    workspace never links to)."""
    return Remote(open_backend(spec, workspace_link))


def open_backend(spec: RemoteSpec, workspace_link: str = "reflink") -> Backend:
    """The key store a spec's URL names: a folder, S3, or any fsspec filesystem."""
    url, s = spec.url, spec.settings
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme in ("", "file"):
        from gitmodel.remote.local import LocalBackend

        path = unquote(urlsplit(url).path) if scheme == "file" else os.path.expanduser(url)
        return LocalBackend(spec.name, spec.display, os.path.join(spec.base, path), link=str(s.get("link", "auto")),
                           workspace_links=workspace_link in ("hardlink", "symlink"),
                           workspace_symlinks=workspace_link == "symlink")
    if scheme == "s3":
        from gitmodel.remote.s3 import S3Backend

        parts = urlsplit(url)
        userinfo, _, bucket = parts.netloc.rpartition("@")
        if not bucket:
            raise ConfigError(f"remote '{spec.name}': {spec.display} names no bucket (expected s3://bucket/prefix)")
        key_id, _, secret = userinfo.partition(":")
        endpoint = _opt(s.get("endpoint_url"))
        return S3Backend(spec.name, spec.display, bucket, parts.path,
                        endpoint_url=endpoint, endpoint_display=redact(endpoint) if endpoint else None,
                        region=_opt(s.get("region")), profile=_opt(s.get("profile")),
                        access_key_id=_opt(s.get("access_key_id")) or (unquote(key_id) or None),
                        secret_access_key=_opt(s.get("secret_access_key")) or (unquote(secret) or None),
                        session_token=_opt(s.get("session_token")))
    from gitmodel.remote.fsspec import FsspecBackend

    return FsspecBackend(spec.name, spec.display, url, {k: v for k, v in s.items()
                                                        if k not in ("url", "jobs", "link")})


def _opt(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def from_repo(repo: Repo, name: str | None = None) -> Remote:
    """The backend of `repo`'s remote `name` (default remote when None)."""
    return open_remote(spec_from_config(repo.config, name, repo.root), repo.config.link)
