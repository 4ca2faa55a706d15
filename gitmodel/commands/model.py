"""`gitmodel model add|list`: model declarations in the committed config."""

from __future__ import annotations

import json

from gitmodel.commands.output import table
from gitmodel.registry.declarations import all_models, declare, make
from gitmodel.repo import Repo


def add(name: str, path: str, *, data: list[str], params: str | None, metrics: str | None,
        replace: bool = False, stage: bool = True) -> int:
    repo = Repo.discover()
    model = make(repo, name, path, data, params, metrics)
    if not declare(repo, model, replace=replace, stage=stage):
        print(f"model {name} is declared already with these settings; nothing to do")
        return 0
    extras = [f"data {', '.join(model.data)}"] if model.data else []
    extras += [f"{k} {v}" for k, v in (("params", model.params), ("metrics", model.metrics)) if v]
    print(f"declared model {name}: {model.path}" + (f" ({'; '.join(extras)})" if extras else ""))
    print(f"next: git commit, then `gitmodel tag {name}` to create its first version")
    return 0


def list_(*, as_json: bool = False) -> int:
    found = all_models(Repo.discover())
    if as_json:
        print(json.dumps([m.as_dict() for m in found.values()], indent=2))
        return 0
    if not found:
        print("no models declared; declare one with `gitmodel model add NAME PATH`")
        return 0
    rows = [[m.name, m.path, ", ".join(m.data) or "-", m.params or "-", m.metrics or "-"] for m in found.values()]
    print(table(["NAME", "PATH", "DATA", "PARAMS", "METRICS"], rows))
    return 0
