"""Editing the remotes of a repository's config: add, modify, remove, list,
the default.  The CLI (`gitmodel remote ...`, gitmodel/commands/remote.py)
and the Python API (`gitmodel.remote_add`) both call these; each returns
what it did, with every URL and secret already redacted, and prints nothing.

Secrets (`access_key_id`, ..., a URL with credentials) are written only to
the git-ignored `.gitmodel/config.local.toml` (`local=True`); asking to
commit one is refused with the fix.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from gitmodel.config import CONFIG_DIR, LOCAL_FILE, read_file
from gitmodel.errors import ConfigError
from gitmodel.remote.known import KnownObjects
from gitmodel.remote.spec import (
    NAME_RE,
    SECRETS,
    SETTINGS,
    RemoteSpec,
    check_endpoint,
    check_jobs,
    check_name,
    check_region,
    check_timeout,
    default_name,
    has_credentials,
    names,
    open_backend,
    redact,
    table_names,
)
from gitmodel.repo import Repo

LOCAL_HINT = f"{CONFIG_DIR}/{LOCAL_FILE}"
COMMITTED_HINT = f"{CONFIG_DIR}/config.toml"


@dataclass(frozen=True)
class RemoteInfo:
    """One configured remote, safe to show (secrets as ***, URLs redacted)."""

    name: str
    url: str
    default: bool
    settings: dict[str, Any] = field(default_factory=dict)
    source: str = "committed"  # "committed", "local" (the git-ignored file), or "both"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RemoteChange:
    """What an edit did: `action` is "added", "modified", "unset", "removed" or "default"."""

    action: str
    name: str
    file: str  # the config file written, relative to the repository root
    key: str | None = None  # the setting changed (modify)
    value: str | None = None  # its new value as shown (redacted; *** for a secret)
    default: bool = False  # added as / made the default remote

    @property
    def local(self) -> bool:
        return self.file == LOCAL_HINT


def _table(doc: Any, *keys: str) -> Any:
    """doc[k1][k2]..., creating (super-)tables on the way (tomlkit)."""
    import tomlkit

    node = doc
    for i, k in enumerate(keys):
        if k not in node:
            node[k] = tomlkit.table(is_super_table=i < len(keys) - 1)
        node = node[k]
    return node


def _require(repo: Repo, name: str, hint: str = "") -> None:
    if name not in names(repo.config):
        raise ConfigError(f"unknown remote '{name}'", hint=f"see `gitmodel remote list`{hint}")


def _require_table(repo: Repo, name: str) -> None:
    """Like _require, but a table whose name breaks the rule is found too:
    removing it is how a config from elsewhere is mended."""
    if name not in table_names(repo.config):
        _require(repo, name)


def check_value(name: str, key: str, value: str, local: bool) -> Any:
    """`value` as it will be stored for setting `key`, or ConfigError saying why not."""
    if key not in SETTINGS and key not in SECRETS:
        known = ", ".join(sorted(SETTINGS) + sorted(SECRETS))
        raise ConfigError(f"{key!r} is not a remote setting (known: {known})")
    if key in SECRETS and not local:
        raise ConfigError(f"{key} is a secret: keep it out of git with `gitmodel remote modify {name} {key} VALUE "
                          f"--local` (it goes to {LOCAL_HINT}), or use AWS_* environment variables")
    if key == "url":
        if not value:
            raise ConfigError("the url is empty", hint="give a folder path or s3://bucket/prefix")
        open_backend(RemoteSpec(name, value))  # parses the URL; contacts nothing
        if has_credentials(value) and not local:
            raise ConfigError(f"{redact(value)} carries credentials: add --local so it stays in the git-ignored "
                              f"{LOCAL_HINT}, or drop them and use AWS_* environment variables or a profile")
    if key in ("endpoint_url", "region", "timeout"):
        # The same checks every command makes of a committed config (spec.open_backend).
        where = f"remote.{name}.{key}"
        if key == "endpoint_url":
            check_endpoint(value, where)
            if has_credentials(value) and not local:
                raise ConfigError(f"{redact(value)} carries credentials: add --local so it stays in the git-ignored "
                                  f"{LOCAL_HINT}")
            return value
        if key == "region":
            return check_region(value, where)
        seconds = check_timeout(value, where)
        return int(seconds) if seconds.is_integer() else seconds
    if key == "jobs":
        return check_jobs(value, "jobs")
    if key == "link":
        from gitmodel.remote.local import LINKS

        if value not in LINKS:
            raise ConfigError(f"link {value!r} is not one of {', '.join(LINKS)}")
    return value


def add(repo: Repo, name: str, url: str, *, default: bool = False, local: bool = False) -> RemoteChange:
    """Add remote `name` at `url` (to the git-ignored file when `local`)."""
    repo.require_init()
    check_name(name)
    if name in names(repo.config):
        raise ConfigError(f"remote '{name}' already exists ({redact(str(repo.config.get(f'remote.{name}.url', '')))})",
                          hint=f"change it with `gitmodel remote modify {name} url URL`")
    check_value(name, "url", url, local)
    with repo.lock:
        def change(doc: Any) -> None:
            _table(doc, "remote", name)["url"] = url
            if default:
                _table(doc, "core")["remote"] = name

        repo.config.update(change, local=local)
    return RemoteChange("added", name, LOCAL_HINT if local else COMMITTED_HINT, "url", redact(url), default)


def list_remotes(repo: Repo) -> list[RemoteInfo]:
    """Every configured remote, by name, from both config files."""
    repo.require_init()
    cfg = repo.config
    committed = read_file(cfg.path)
    local = read_file(cfg.local_path)
    default = default_name(cfg)
    rows: list[RemoteInfo] = []
    for name in names(cfg):
        settings = dict(cfg.get(f"remote.{name}", {}))
        shown = {k: ("***" if k in SECRETS else redact(str(v)) if k in ("url", "endpoint_url") else v)
                 for k, v in sorted(settings.items())}
        in_committed = name in committed.get("remote", {})
        in_local = name in local.get("remote", {})
        rows.append(RemoteInfo(name, str(shown.pop("url", "")), name == default, shown,
                               "both" if in_committed and in_local else "local" if in_local else "committed"))
    return rows


def remove(repo: Repo, name: str) -> RemoteChange:
    """Remove remote `name` from both files (and as the default), and forget
    this clone's record of what it holds."""
    repo.require_init()
    cfg = repo.config
    _require_table(repo, name)
    # Never a path outside remotes/: a bad name has no record to forget.
    record = KnownObjects(repo.cache.root, name, "") if NAME_RE.match(name) else None
    written = COMMITTED_HINT
    with repo.lock:
        for local, data in ((False, read_file(cfg.path)), (True, read_file(cfg.local_path))):
            in_remote = name in data.get("remote", {})
            is_default = data.get("core", {}).get("remote") == name
            if not in_remote and not is_default:
                continue

            def change(doc: Any) -> None:
                if "remote" in doc and name in doc["remote"]:
                    del doc["remote"][name]
                    if not doc["remote"]:
                        del doc["remote"]
                if "core" in doc and doc["core"].get("remote") == name:
                    del doc["core"]["remote"]

            cfg.update(change, local=local)
            written = LOCAL_HINT if local else written
        if record is not None:
            record.forget()  # what it knew of that remote means nothing for a new one
    return RemoteChange("removed", name, written)


def modify(repo: Repo, name: str, key: str, value: str | None, *, unset: bool = False,
           local: bool = False) -> RemoteChange:
    """Set (or with `unset`, remove) one setting of remote `name`."""
    repo.require_init()
    cfg = repo.config
    _require(repo, name, f", or add it with `gitmodel remote add {name} URL`")
    if unset:
        if key == "url" and not local:
            raise ConfigError("a remote needs its url", hint=f"remove the remote with `gitmodel remote remove {name}`")
        checked: Any = None
    else:
        if value is None:
            raise ConfigError(f"give a value: `gitmodel remote modify {name} {key} VALUE` (or --unset)")
        checked = check_value(name, key, value, local)
    with repo.lock:
        def change(doc: Any) -> None:
            table = _table(doc, "remote", name)
            if unset:
                if key in table:
                    del table[key]
            else:
                table[key] = checked

        cfg.update(change, local=local)
    shown = None if checked is None else "***" if key in SECRETS else redact(str(checked))
    return RemoteChange("unset" if unset else "modified", name, LOCAL_HINT if local else COMMITTED_HINT, key, shown)


def get_default(repo: Repo) -> str | None:
    repo.require_init()
    return default_name(repo.config)


def set_default(repo: Repo, name: str, *, local: bool = False) -> RemoteChange:
    """Make `name` the default remote."""
    repo.require_init()
    _require(repo, name)
    with repo.lock:
        repo.config.update(lambda doc: _table(doc, "core").__setitem__("remote", name), local=local)
    return RemoteChange("default", name, LOCAL_HINT if local else COMMITTED_HINT, default=True)
