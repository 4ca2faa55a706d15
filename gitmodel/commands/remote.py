"""gitmodel remote add | list | remove | modify | default: the library's
gitmodel.remote.config does the editing; this module shows what it did."""

from __future__ import annotations

import json

from gitmodel.config import CONFIG_DIR
from gitmodel.remote import config as remotes
from gitmodel.repo import Repo


def _repo() -> Repo:
    repo = Repo.discover()
    repo.require_init()
    return repo


def add(name: str, url: str, *, default: bool = False, local: bool = False) -> int:
    done = remotes.add(_repo(), name, url, default=default, local=local)
    print(f"added remote '{done.name}' ({done.value}) to {done.file}" + (" as the default" if done.default else ""))
    if not done.local:
        print(f"next: git add {CONFIG_DIR}/config.toml && git commit, then `gitmodel push`")
    return 0


def list_(*, as_json: bool = False) -> int:
    rows = remotes.list_remotes(_repo())
    if as_json:
        print(json.dumps([row.as_dict() for row in rows], indent=2))
        return 0
    if not rows:
        print("no remotes; add one with `gitmodel remote add NAME URL --default`")
        return 0
    for row in rows:
        extra = "".join(f"  {k}={v}" for k, v in row.settings.items())
        mark = "*" if row.default else " "
        print(f"{mark} {row.name}\t{row.url}{extra}" + ("  (local)" if row.source == "local" else ""))
    return 0


def remove(name: str) -> int:
    done = remotes.remove(_repo(), name)
    print(f"removed remote '{done.name}'")
    return 0


def modify(name: str, key: str, value: str | None, *, unset: bool = False, local: bool = False) -> int:
    done = remotes.modify(_repo(), name, key, value, unset=unset, local=local)
    print(f"remote '{done.name}': {done.key} " + ("unset" if unset else f"= {done.value}")
          + (f" (in {done.file})" if done.local else ""))
    return 0


def set_default(name: str | None, *, local: bool = False) -> int:
    repo = _repo()
    if name is None:
        current = remotes.get_default(repo)
        print(current if current else "no default remote; set one with `gitmodel remote default NAME`")
        return 0
    done = remotes.set_default(repo, name, local=local)
    print(f"default remote: {done.name}")
    return 0
