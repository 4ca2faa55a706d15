"""gitmodel remote add | list | remove | modify | default."""

from __future__ import annotations

import json
from typing import Any

from gitmodel.config import CONFIG_DIR, LOCAL_FILE, read_file
from gitmodel.errors import ConfigError
from gitmodel.remote.spec import SECRETS, SETTINGS, RemoteSpec, check_jobs, check_name, default_name, has_credentials, names, open_remote, redact
from gitmodel.repo import Repo
from gitmodel.remote.known import KnownObjects

LOCAL_HINT = f"{CONFIG_DIR}/{LOCAL_FILE}"


def _repo() -> Repo:
    repo = Repo.discover()
    repo.require_init()
    return repo


def _table(doc: Any, *keys: str) -> Any:
    """doc[k1][k2]..., creating (super-)tables on the way (tomlkit)."""
    import tomlkit

    node = doc
    for i, k in enumerate(keys):
        if k not in node:
            node[k] = tomlkit.table(is_super_table=i < len(keys) - 1)
        node = node[k]
    return node


def _check_value(name: str, key: str, value: str, local: bool) -> Any:
    if key not in SETTINGS and key not in SECRETS:
        known = ", ".join(sorted(SETTINGS) + sorted(SECRETS))
        raise ConfigError(f"{key!r} is not a remote setting (known: {known})")
    if key in SECRETS and not local:
        raise ConfigError(f"{key} is a secret: keep it out of git with `gitmodel remote modify {name} {key} VALUE "
                          f"--local` (it goes to {LOCAL_HINT}), or use AWS_* environment variables")
    if key == "url":
        if not value:
            raise ConfigError("the url is empty; give a folder path or s3://bucket/prefix")
        if has_credentials(value) and not local:
            raise ConfigError(f"{redact(value)} carries credentials: add --local so it stays in the git-ignored "
                              f"{LOCAL_HINT}, or drop them and use AWS_* environment variables or a profile")
        open_remote(RemoteSpec(name, value))  # parses the URL; contacts nothing
    if key == "jobs":
        return check_jobs(value, "jobs")
    if key == "link":
        from gitmodel.remote.local import LINKS

        if value not in LINKS:
            raise ConfigError(f"link {value!r} is not one of {', '.join(LINKS)}")
    return value


def add(name: str, url: str, *, default: bool = False, local: bool = False) -> int:
    repo = _repo()
    check_name(name)
    if name in names(repo.config):
        raise ConfigError(f"remote '{name}' already exists ({redact(str(repo.config.get(f'remote.{name}.url', '')))}); "
                          f"change it with `gitmodel remote modify {name} url URL`")
    _check_value(name, "url", url, local)
    with repo.lock:
        def change(doc: Any) -> None:
            _table(doc, "remote", name)["url"] = url
            if default:
                _table(doc, "core")["remote"] = name

        repo.config.update(change, local=local)
    where = LOCAL_HINT if local else f"{CONFIG_DIR}/config.toml"
    print(f"added remote '{name}' ({redact(url)}) to {where}" + (" as the default" if default else ""))
    if not local:
        print(f"next: git add {CONFIG_DIR}/config.toml && git commit, then `gitmodel push`")
    return 0


def list_(*, as_json: bool = False) -> int:
    repo = _repo()
    cfg = repo.config
    committed = read_file(cfg.path)
    local = read_file(cfg.local_path)
    default = default_name(cfg)
    rows: list[dict[str, Any]] = []
    for name in names(cfg):
        settings = dict(cfg.get(f"remote.{name}", {}))
        shown = {k: ("***" if k in SECRETS else redact(str(v)) if k in ("url", "endpoint_url") else v)
                 for k, v in sorted(settings.items())}
        in_committed = name in committed.get("remote", {})
        in_local = name in local.get("remote", {})
        rows.append({"name": name, "url": shown.pop("url", ""), "default": name == default,
                     "settings": shown, "source": "both" if in_committed and in_local
                     else "local" if in_local else "committed"})
    if as_json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no remotes; add one with `gitmodel remote add NAME URL --default`")
        return 0
    for row in rows:
        extra = "".join(f"  {k}={v}" for k, v in row["settings"].items())
        mark = "*" if row["default"] else " "
        print(f"{mark} {row['name']}\t{row['url']}{extra}" + ("  (local)" if row["source"] == "local" else ""))
    return 0


def remove(name: str) -> int:
    repo = _repo()
    cfg = repo.config
    if name not in names(cfg):
        raise ConfigError(f"unknown remote '{name}'; see `gitmodel remote list`")
    record = KnownObjects(repo.cache.root, name, "")
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
        record.forget()  # what it knew of that remote means nothing for a new one
    print(f"removed remote '{name}'")
    return 0


def modify(name: str, key: str, value: str | None, *, unset: bool = False, local: bool = False) -> int:
    repo = _repo()
    cfg = repo.config
    if name not in names(cfg):
        raise ConfigError(f"unknown remote '{name}'; see `gitmodel remote list`, or add it with "
                          f"`gitmodel remote add {name} URL`")
    if unset:
        if key == "url" and not local:
            raise ConfigError(f"a remote needs its url; remove the remote with `gitmodel remote remove {name}`")
        checked: Any = None
    else:
        if value is None:
            raise ConfigError(f"give a value: `gitmodel remote modify {name} {key} VALUE` (or --unset)")
        checked = _check_value(name, key, value, local)
    with repo.lock:
        def change(doc: Any) -> None:
            table = _table(doc, "remote", name)
            if unset:
                if key in table:
                    del table[key]
            else:
                table[key] = checked

        cfg.update(change, local=local)
    shown = "***" if key in SECRETS else redact(str(checked)) if checked is not None else None
    print(f"remote '{name}': {key} " + ("unset" if unset else f"= {shown}")
          + (f" (in {LOCAL_HINT})" if local else ""))
    return 0


def set_default(name: str | None, *, local: bool = False) -> int:
    repo = _repo()
    cfg = repo.config
    if name is None:
        current = default_name(cfg)
        print(current if current else "no default remote; set one with `gitmodel remote default NAME`")
        return 0
    if name not in names(cfg):
        raise ConfigError(f"unknown remote '{name}'; see `gitmodel remote list`")
    with repo.lock:
        cfg.update(lambda doc: _table(doc, "core").__setitem__("remote", name), local=local)
    print(f"default remote: {name}")
    return 0
