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
import shlex
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

# A remote name is a TOML table key (`[remote.NAME]`) and a path component
# (`<cache>/remotes/NAME/`): no '.', which TOML reads as nesting
# (`[remote.team.models]` is remote 'team' holding a table), and git's remote
# names otherwise.  Checked where a name is set (`remote add`) and where one
# is read (`names`), so a committed config from anyone takes the same rule.
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
NAME_RULE = "letters, digits, '_' and '-', starting with a letter or digit, at most 64 characters; no '.'"
# RFC 3986: what may stand before `://`.
_SCHEME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*$")
# botocore's own rule for a region name (a region goes into the endpoint's host name).
_REGION_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
MAX_TIMEOUT = 3600.0
# Settings a remote takes (`gitmodel remote modify NAME KEY VALUE`).
SETTINGS = {
    "url": "where the objects live: a folder path, s3://bucket/prefix, or an fsspec URL",
    "endpoint_url": "S3-compatible endpoint (MinIO, Ceph, R2, ...)",
    "region": "S3 region",
    "profile": "AWS profile name from ~/.aws/config",
    "jobs": "parallel transfers (default: 16 for S3, 4 for a folder)",
    "link": "folder remotes: auto (default) | reflink | copy | hardlink (see docs/remotes.md)",
    "timeout": "seconds to wait for the endpoint to connect or answer (S3: default 10; other URLs: passed to "
               "the fsspec filesystem)",
}
# Settings gitmodel itself reads: never passed on to an fsspec filesystem as options.
OWN_SETTINGS = ("url", "jobs", "link")
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
    """Whether `url` carries a secret; an unparsable URL does not say, and
    open_backend refuses it (showing it as ***)."""
    if "://" in url:
        try:
            urlsplit(url)
        except ValueError:
            return False
    return redact(url) != url


def check_name(name: str) -> str:
    if not NAME_RE.match(name):
        raise ConfigError(f"{name[:64]!r} is not a valid remote name ({NAME_RULE})")
    return name


def table_names(config: Config) -> list[str]:
    """The keys of the `[remote.*]` tables as written, valid names or not."""
    section = config.get("remote", {})
    return sorted(k for k, v in section.items() if isinstance(v, dict)) if isinstance(section, dict) else []


def names(config: Config) -> list[str]:
    """The configured remotes; a table whose key is not a valid name (from
    a committed config that never went through `remote add`) is refused
    here, where every reader of the remotes passes."""
    found = table_names(config)
    for name in found:
        if not NAME_RE.match(name):
            where = _file_of(config, name)
            # The name is shown quoted (repr): a committed key may hold a newline or escapes.
            remove = (f", or remove it with `gitmodel remote remove {shlex.quote(name)}`"
                      if name.isprintable() and len(name) <= 64 else "")
            raise ConfigError(f"{where}: {name[:64]!r} is not a valid remote name ({NAME_RULE})",
                              hint=f"rename its table in {where}{remove}")
    return found


def _file_of(config: Config, name: str) -> str:
    """Which config file defines remote `name` (the committed one if both do)."""
    for path in (config.path, config.local_path):
        section = read_file(path).get("remote", {})
        if isinstance(section, dict) and name in section:
            return path
    return config.path


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


def check_endpoint(value: Any, where: str) -> str:
    """An S3 `endpoint_url` as boto3 will take it, or ConfigError saying why
    not (checked by `remote modify` and again by open_backend, for every
    command that reads a committed config)."""
    hint = "give the endpoint as http(s)://HOST[:PORT], for example http://127.0.0.1:9000"
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where} is empty" if value == "" else f"{where} = {value!r} is not a URL", hint=hint)
    shown = _shown(value)
    if not value.isascii() or not value.isprintable() or any(c.isspace() for c in value):
        raise ConfigError(f"{where} = {shown} holds spaces or characters a URL cannot", hint=hint)
    try:
        parts = urlsplit(value)
        port = parts.port  # a port outside 0..65535 raises here
    except ValueError as e:  # a port out of range or not a number, a bracket left open
        raise ConfigError(f"{where} = {shown} is not a valid URL ({e})", hint=hint) from None
    if parts.scheme.lower() not in ("http", "https"):
        raise ConfigError(f"{where} = {shown} is not an http:// or https:// URL", hint=hint)
    if not parts.hostname:
        raise ConfigError(f"{where} = {shown} names no host", hint=hint)
    if port == 0:
        raise ConfigError(f"{where} = {shown}: port 0 is not a port", hint=hint)
    return value


def check_region(value: Any, where: str) -> str:
    """A `region` as boto3 will take it, or ConfigError saying why not."""
    hint = "give an S3 region such as us-east-1, or unset it"
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{where} is empty" if value == "" else f"{where} = {value!r} is not a region name",
                          hint=hint)
    if not _REGION_RE.match(value):
        raise ConfigError(f"{where} = {_shown(value)} is not a region name (letters, digits and '-')", hint=hint)
    return value


def check_timeout(value: Any, where: str) -> float:
    """A `timeout` in seconds, or ConfigError saying why not."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = 0.0
    if isinstance(value, bool) or not 0 < seconds <= MAX_TIMEOUT:
        raise ConfigError(f"{where} = {_shown(value)} is not a number of seconds from 0 to {MAX_TIMEOUT:.0f}")
    return seconds


def _shown(value: Any) -> str:
    """A config value for a message: quoted, cut short, credentials hidden."""
    text = redact(value) if isinstance(value, str) else str(value)
    return repr(text if len(text) <= 100 else text[:100] + "...")


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
    check_name(name)  # typed with -r, or core.remote from a committed config: quoted, on one line
    if name not in known:
        listed = f" (configured: {', '.join(known)})" if known else " (none is configured)"
        raise RemoteError(f"unknown remote '{name}'{listed}",
                          hint=f"see `gitmodel remote list`, or add it with `gitmodel remote add {name} URL`")
    settings = dict(config.get(f"remote.{name}", {}))
    committed = read_file(config.path) if committed is None else committed
    _refuse_committed_secrets(committed, name, config.path)
    url = settings.get("url")
    if not isinstance(url, str) or not url:
        nested = sorted(k for k, v in settings.items() if isinstance(v, dict) and "url" in v)
        if nested:  # `[remote.team.models]`: TOML made a dotted name remote 'team' holding a table
            raise ConfigError(f"{_file_of(config, name)}: [remote.{name}.{nested[0]}] is read as remote '{name}' "
                              f"holding a table '{nested[0]}': remote names cannot contain '.'",
                              hint=f"rename the table to [remote.NAME] with {NAME_RULE}")
        raise ConfigError(f"remote '{name}' has no url", hint=f"set it with `gitmodel remote modify {name} url URL`")
    return RemoteSpec(name, url, settings, base)


def _refuse_committed_secrets(committed: dict[str, Any], name: str, path: str) -> None:
    section = committed.get("remote", {}).get(name, {}) if isinstance(committed.get("remote"), dict) else {}
    if not isinstance(section, dict):
        return
    leaked = sorted(k for k in section if k in SECRETS)
    for key in ("url", "endpoint_url"):
        url = section.get(key)
        if isinstance(url, str) and has_credentials(url):
            leaked.append(f"{key} (it carries credentials)")
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
    """The key store a spec's URL names: a folder, S3, or any fsspec filesystem.

    Every remote, set by `remote add` or read from a committed config, is
    opened here: a URL or setting that can never work is refused with one
    line before anything is contacted."""
    url, s = spec.url, spec.settings
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if "://" in url and not _SCHEME_RE.match(scheme):
        raise ConfigError(f"remote '{spec.name}': {spec.display!r} is neither a folder path nor a URL "
                          f"(nothing may stand before :// but a scheme such as s3)",
                          hint=f"fix it with `gitmodel remote modify {spec.name} url URL`")
    scheme = scheme.lower()
    if scheme:
        try:
            urlsplit(url)
        except ValueError as e:  # "Invalid IPv6 URL", a port that is not a number...
            raise ConfigError(f"remote '{spec.name}': the url is not a valid URL ({e})",
                              hint=f"fix it with `gitmodel remote modify {spec.name} url URL`") from None
    if scheme in ("", "file"):
        from gitmodel.remote.local import LocalBackend

        path = unquote(urlsplit(url).path) if scheme == "file" else os.path.expanduser(url)
        return LocalBackend(spec.name, spec.display, os.path.join(spec.base, path), link=str(s.get("link", "auto")),
                           workspace_links=workspace_link in ("hardlink", "symlink"),
                           workspace_symlinks=workspace_link == "symlink")
    if scheme == "memory":
        # fsspec's memory:// lives inside one process: a push "succeeds" and
        # the objects are gone when the command ends.
        raise ConfigError(f"remote '{spec.name}': memory:// keeps nothing after the command ends, so it cannot be "
                          f"a remote", hint="use a folder path or s3://bucket/prefix")
    if scheme == "s3":
        from gitmodel.remote.s3 import S3Backend

        parts = urlsplit(url)
        userinfo, _, bucket = parts.netloc.rpartition("@")
        if not bucket:
            raise ConfigError(f"remote '{spec.name}': {spec.display} names no bucket (expected s3://bucket/prefix)")
        key_id, _, secret = userinfo.partition(":")
        where = f"remote.{spec.name}"
        endpoint = check_endpoint(s["endpoint_url"], f"{where}.endpoint_url") if "endpoint_url" in s else None
        region = check_region(s["region"], f"{where}.region") if "region" in s else None
        timeout = check_timeout(s["timeout"], f"{where}.timeout") if "timeout" in s else None
        return S3Backend(spec.name, spec.display, bucket, parts.path,
                        endpoint_url=endpoint, endpoint_display=redact(endpoint) if endpoint else None,
                        region=region, profile=_opt(s.get("profile")),
                        access_key_id=_opt(s.get("access_key_id")) or (unquote(key_id) or None),
                        secret_access_key=_opt(s.get("secret_access_key")) or (unquote(secret) or None),
                        session_token=_opt(s.get("session_token")), timeout=timeout)
    from gitmodel.remote.fsspec import FsspecBackend

    return FsspecBackend(spec.name, spec.display, url, {k: v for k, v in s.items() if k not in OWN_SETTINGS})


def _opt(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def from_repo(repo: Repo, name: str | None = None) -> Remote:
    """The backend of `repo`'s remote `name` (default remote when None)."""
    return open_remote(spec_from_config(repo.config, name, repo.root), repo.config.link)
