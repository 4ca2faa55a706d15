"""`gitmodel show REF`: everything recorded for one version, with lineage."""

from __future__ import annotations

import json

from gitmodel.commands.output import fmt_value, short_date
from gitmodel.registry.show import ShowInfo, show
from gitmodel.registry.signers import ALLOWED_SIGNERS
from gitmodel.registry.snapshot import Item
from gitmodel.repo import Repo


def _item(i: Item) -> str:
    content = i.content()
    if content is not None:
        return f"{i.path}  ({content})"
    if i.kind == "git":
        return f"{i.path}  (in git, {(i.git or '')[:10]})"
    return f"{i.path}  (missing at that commit)"


def _signed(shown: ShowInfo) -> str:
    """Who signed the version tag: checked by git when there are allowed signers."""
    check = shown.signature
    if check is not None:
        return f"{check.principal} ({check.fingerprint}), verified" if check.ok else f"NOT VERIFIED: {check.problem}"
    claim = shown.info.signed_by
    return f"{claim.label()} (no {ALLOWED_SIGNERS} to check it against)" if claim else "-"


def run(ref: str, *, as_json: bool = False) -> int:
    shown = show(Repo.discover(), ref)
    if as_json:
        print(json.dumps(shown.to_json(), indent=2))
        return 0
    info = shown.info
    title = f"{info.model} {info.version}" if info.registered else f"{info.model} at {info.commit[:10]}"
    flags = [f for f, on in (("deregistered", info.deregistered), ("model deprecated", info.model_deprecated))
             if on]
    print(title + (f"  ({', '.join(flags)})" if flags else ""))
    rows = [("tag", info.tag or "-"), ("commit", info.commit),
            ("date", short_date(info.date)), ("author", f"{info.author} <{info.author_email}>"),
            ("stages", ", ".join(info.stages) or "-"), ("signed", _signed(shown))]
    if shown.message:
        rows.append(("message", shown.message.replace("\n", "\n         ")))
    for k, text in rows:
        print(f"{k:<8} {text}")
    snap = shown.snapshot
    if info.artifact:
        print(f"artifact {_item(info.artifact)}")
    if not shown.recorded and info.artifact:
        print("         (not recorded in the tag: read from the commit with today's declaration)")
    if snap is not None:
        for d in shown.lineage:
            came = f"  = {', '.join(d.versions)}" if d.versions else ""
            print(f"data     {_item(d.item)}{came}")
        if snap.params_file:
            print(f"params   {snap.params_file}")
            for k, v in snap.params.items():
                print(f"  {k} = {fmt_value(v, 4)}")
    if info.metrics or (snap is not None and snap.metrics_file):
        print(f"metrics  {snap.metrics_file if snap is not None else ''}")
        for k, v in info.metrics.items():
            print(f"  {k} = {fmt_value(v, 4)}")
    if not info.artifact:
        print(f"nothing recorded about the artifact; declare it with `gitmodel model add {info.model} PATH`")
    if shown.stage_history:
        print("stage history")
        for e in shown.stage_history:
            by = f", signed: {e.signed_by.label()}" if e.signed_by else ""
            print(f"  {short_date(e.date)}  {e.event.value:<8} {e.stage}  ({e.tag}, {e.author}{by})")
    return 0
