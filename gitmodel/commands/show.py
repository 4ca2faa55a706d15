"""`gitmodel show REF`: everything recorded for one version, with lineage."""

from __future__ import annotations

import json
from typing import Any

from gitmodel.commands.output import fmt_value, human_size, plural, short_date
from gitmodel.registry.state import show
from gitmodel.repo import Repo


def _item(i: dict[str, Any]) -> str:
    if i["kind"] in ("file", "dir") and i.get("oid"):
        files = f"{plural(i['files'], 'file')}, " if i["kind"] == "dir" else ""
        return f"{i['path']}  ({files}{human_size(i.get('size') or 0)}, {i['oid']})"
    if i["kind"] == "git":
        return f"{i['path']}  (in git, {i['git'][:10]})"
    return f"{i['path']}  (missing at that commit)"


def run(ref: str, *, as_json: bool = False) -> int:
    info = show(Repo.discover(), ref)
    if as_json:
        print(json.dumps(info, indent=2))
        return 0
    title = f"{info['model']} {info['version']}" if info["registered"] else f"{info['model']} at {info['commit'][:10]}"
    flags = [f for f, on in (("deregistered", info["deregistered"]), ("model deprecated", info["deprecated_model"]))
             if on]
    print(title + (f"  ({', '.join(flags)})" if flags else ""))
    rows = [("tag", info["tag"] or "-"), ("commit", info["commit"]),
            ("date", short_date(info["date"])), ("author", f"{info['author']} <{info['author_email']}>"),
            ("stages", ", ".join(info["stages"]) or "-")]
    if info.get("message"):
        rows.append(("message", info["message"].replace("\n", "\n         ")))
    for k, v in rows:
        print(f"{k:<8} {v}")
    lineage = info.get("lineage")
    if info.get("artifact"):
        print(f"artifact {_item(info['artifact'])}")
    if not info["recorded"] and info.get("artifact"):
        print("         (not recorded in the tag: read from the commit with today's declaration)")
    if lineage:
        for d in lineage["data"]:
            came = f"  = {', '.join(d['versions'])}" if d["versions"] else ""
            print(f"data     {_item(d)}{came}")
        if lineage["params_file"]:
            print(f"params   {lineage['params_file']}")
            for k, v in lineage["params"].items():
                print(f"  {k} = {fmt_value(v, 4)}")
    if info["metrics"] or (lineage and lineage["metrics_file"]):
        print(f"metrics  {lineage['metrics_file'] if lineage else ''}")
        for k, v in info["metrics"].items():
            print(f"  {k} = {fmt_value(v, 4)}")
    if not info.get("artifact"):
        print(f"nothing recorded about the artifact; declare it with `gitmodel model add {info['model']} PATH`")
    if info["stage_history"]:
        print("stage history")
        for e in info["stage_history"]:
            print(f"  {short_date(e['date'])}  {e['event']:<8} {e['stage']}  ({e['tag']}, {e['author']})")
    return 0
