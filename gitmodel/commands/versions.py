"""`gitmodel versions [NAME]`: newest first, with stages held now, key
metrics and the artifact's size and short oid."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ..oid import short
from ..progress import human_size
from ..registry import all_states, model_state, version_info
from ..repo import Repo


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Plain aligned columns (the last one unpadded), for people."""
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    lines = []
    for r in [headers, *rows]:
        cells = [str(c).ljust(w) for c, w in zip(r[:-1], widths)] + [str(r[-1])]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def short_date(iso: str) -> str:
    return iso[:16].replace("T", " ")


def fmt_value(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def run(name: str | None, *, as_json: bool = False, include_all: bool = False) -> int:
    repo = Repo.discover()
    states = {name: model_state(repo, name)} if name else all_states(repo)
    infos = [version_info(repo, st, v) for st in states.values() for v in st.newest_first(include_all)]
    if as_json:
        print(json.dumps(infos, indent=2))
        return 0
    if not infos and not any(st.events for st in states.values()):
        what = f"model {name!r} has" if name else "this repository has"
        print(f"{what} no versions yet; create one with `gitmodel tag {name or 'NAME'}`")
        return 0
    first = True
    for st in states.values():
        rows = []
        for info in infos:
            if info["model"] != st.name:
                continue
            art = info["artifact"] or {}
            version = info["version"] if info["registered"] else info["commit"][:10]
            if info["deregistered"]:
                version += " (deregistered)"
            rows.append([version, short_date(info["date"]), info["commit"][:7], info["author"],
                         ",".join(info["stages"]) or "-",
                         human_size(art["size"]) if art.get("size") is not None else "-",
                         short(art["oid"]) if art.get("oid") else "-",
                         " ".join(f"{k}={fmt_value(v)}" for k, v in info["key_metrics"].items()) or "-"])
        if not first:
            print()
        first = False
        flags = " (deprecated)" if st.deprecated else ""
        stages = ", ".join(f"{s}={v}" for s, v in st.stages.items())
        print(f"{st.name}{flags}" + (f"  [{stages}]" if stages else ""))
        if rows:
            print(table(["VERSION", "DATE", "COMMIT", "AUTHOR", "STAGES", "SIZE", "OID", "METRICS"], rows))
        else:
            print("  no active versions (`--all` shows deregistered ones)")
    return 0
