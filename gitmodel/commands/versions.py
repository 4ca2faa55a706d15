"""`gitmodel versions [NAME]`: newest first, with stages held now, key
metrics and the artifact's size and short oid."""

from __future__ import annotations

import json
from typing import Any

from gitmodel.commands.output import fmt_value, human_size, short, short_date, table
from gitmodel.registry.state import all_states, list_versions, model_state
from gitmodel.repo import Repo


def _row(info: dict[str, Any]) -> list[str]:
    art = info["artifact"] or {}
    version = info["version"] if info["registered"] else info["commit"][:10]
    if info["deregistered"]:
        version += " (deregistered)"
    return [version, short_date(info["date"]), info["commit"][:7], info["author"],
            ",".join(info["stages"]) or "-",
            human_size(art["size"]) if art.get("size") is not None else "-",
            short(art["oid"]) if art.get("oid") else "-",
            " ".join(f"{k}={fmt_value(v, 4)}" for k, v in info["key_metrics"].items()) or "-"]


def run(name: str | None, *, as_json: bool = False, include_all: bool = False) -> int:
    repo = Repo.discover()
    infos = list_versions(repo, name, include_all)
    if as_json:
        print(json.dumps(infos, indent=2))
        return 0
    if not infos:
        tagged = bool(model_state(repo, name).events) if name else bool(all_states(repo))
        if tagged:
            print("no active versions; `gitmodel versions --all` shows deregistered ones")
        else:
            what = f"model {name!r} has" if name else "this repository has"
            print(f"{what} no versions yet; create one with `gitmodel tag {name or 'NAME'}`")
        return 0
    by_model: dict[str, list[dict[str, Any]]] = {}
    for info in infos:
        by_model.setdefault(info["model"], []).append(info)
    for i, (model, rows) in enumerate(by_model.items()):
        if i:
            print()
        holders = sorted((s, r["version"] if r["registered"] else r["commit"][:10]) for r in rows for s in r["stages"])
        stages = ", ".join(f"{s}={v}" for s, v in holders)
        print(model + (" (deprecated)" if rows[0]["model_deprecated"] else "") + (f"  [{stages}]" if stages else ""))
        print(table(["VERSION", "DATE", "COMMIT", "AUTHOR", "STAGES", "SIZE", "OID", "METRICS"],
                    [_row(r) for r in rows]))
    return 0
