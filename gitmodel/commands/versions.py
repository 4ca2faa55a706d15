"""`gitmodel versions [NAME]`: newest first, with stages held now, key
metrics and the artifact's size and short oid."""

from __future__ import annotations

import json

from gitmodel.commands.output import fmt_value, human_size, short, short_date, table
from gitmodel.registry.state import VersionInfo, all_states, list_versions, model_state
from gitmodel.repo import Repo


def _name(info: VersionInfo) -> str:
    return info.version if info.registered else info.commit[:10]


def _row(info: VersionInfo) -> list[str]:
    art = info.artifact
    version = _name(info)
    if info.deregistered:
        version += " (deregistered)"
    return [version, short_date(info.date), info.commit[:7], info.author,
            ",".join(info.stages) or "-",
            human_size(art.size) if art is not None and art.size is not None else "-",
            short(art.oid) if art is not None and art.oid else "-",
            " ".join(f"{k}={fmt_value(v, 4)}" for k, v in info.key_metrics.items()) or "-",
            info.signed_by.label() if info.signed_by else "-"]


def run(name: str | None, *, as_json: bool = False, include_all: bool = False) -> int:
    repo = Repo.discover()
    infos = list_versions(repo, name, include_all)
    if as_json:
        print(json.dumps([i.to_json() for i in infos], indent=2))
        return 0
    if not infos:
        tagged = bool(model_state(repo, name).events) if name else bool(all_states(repo))
        if tagged:
            print("no active versions; `gitmodel versions --all` shows deregistered ones")
        else:
            what = f"model {name!r} has" if name else "this repository has"
            print(f"{what} no versions yet; create one with `gitmodel tag {name or 'NAME'}`")
        return 0
    by_model: dict[str, list[VersionInfo]] = {}
    for info in infos:
        by_model.setdefault(info.model, []).append(info)
    for i, (model, rows) in enumerate(by_model.items()):
        if i:
            print()
        holders = sorted((s, _name(r)) for r in rows for s in r.stages)
        stages = ", ".join(f"{s}={v}" for s, v in holders)
        print(model + (" (deprecated)" if rows[0].model_deprecated else "") + (f"  [{stages}]" if stages else ""))
        print(table(["VERSION", "DATE", "COMMIT", "AUTHOR", "STAGES", "SIZE", "OID", "METRICS", "SIGNED"],
                    [_row(r) for r in rows]))
    return 0
