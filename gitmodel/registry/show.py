"""`gitmodel show`: everything recorded for one version, with its lineage
(which versions produced the data it was trained on)."""

from __future__ import annotations

from dataclasses import dataclass

from gitmodel.registry.grammar import Action
from gitmodel.registry.resolve import resolve_version
from gitmodel.registry.signers import keys
from gitmodel.registry.signing import TagCheck, verify_tag
from gitmodel.registry.snapshot import SNAPSHOT_MARKER, Item, Snapshot
from gitmodel.registry.state import EventInfo, VersionInfo, all_states, event_info, snapshot_of, version_info
from gitmodel.repo import Repo


@dataclass(frozen=True)
class LineageItem:
    """One data path of a version, and the versions whose artifact it is."""

    item: Item
    versions: list[str]  # `model@vX.Y.Z` of each, sorted

    def to_json(self) -> dict[str, object]:
        return {**self.item.as_dict(), "versions": list(self.versions)}


@dataclass(frozen=True)
class ShowInfo:
    """Everything recorded for one version (`show`), with its lineage."""

    info: VersionInfo
    message: str  # the user's part of the tag message
    recorded: bool  # False: read from the commit, not the tag
    stage_history: list[EventInfo]  # stage events on its commit, oldest first
    snapshot: Snapshot | None
    lineage: list[LineageItem]  # one per data path of the snapshot
    signature: TagCheck | None = None  # its version tag's signature, checked by git (None: no allowed signers)

    def to_json(self) -> dict[str, object]:
        out = self.info.to_json()
        out["message"] = self.message
        out["recorded"] = self.recorded
        out["stage_history"] = [e.to_json() for e in self.stage_history]
        out["deprecated_model"] = self.info.model_deprecated
        out["signature"] = self.signature.to_json() if self.signature else None
        snap = self.snapshot
        if snap is not None:
            out["snapshot"] = snap.as_dict()
            out["lineage"] = {
                "data": [d.to_json() for d in self.lineage],
                "params_file": snap.params_file, "params": snap.params,
                "metrics_file": snap.metrics_file,
            }
        return out


def show(repo: Repo, text: str) -> ShowInfo:
    """Everything recorded for one version, with its lineage."""
    state, version = resolve_version(repo, text)
    snap = snapshot_of(repo, state, version)
    lineage: list[LineageItem] = []
    if snap is not None:
        produced_by: dict[str, list[str]] = {}
        for other in all_states(repo).values():
            for ov in other.versions.values():
                osnap = ov.snapshot
                if osnap is None or ov is version or not ov.registered:
                    continue
                for item in snap.data:
                    if item.oid and item.oid == osnap.artifact.oid:
                        produced_by.setdefault(item.path, []).append(ov.ref())
        lineage = [LineageItem(i, sorted(produced_by.get(i.path, []))) for i in snap.data]
    allowed = keys(repo)
    signature = None
    if allowed is not None and version.registered and version.event.action == Action.REGISTER:
        signature = verify_tag(repo, version.event, allowed)
    return ShowInfo(
        version_info(repo, state, version, allowed),
        _user_message(version.event.message) if version.registered else "",
        version.snapshot is not None,
        [event_info(e, state, allowed) for e in state.events
         if e.action in (Action.ASSIGN, Action.UNASSIGN) and e.commit == version.commit],
        snap, lineage, signature)


def _user_message(message: str) -> str:
    """The tag message above the summary gitmodel wrote."""
    at = message.find("\n" + SNAPSHOT_MARKER + "\n")
    text = message if at < 0 else message[:at]
    blocks = text.strip().split("\n\n")
    return "\n\n".join(b for b in blocks if not b.startswith("artifact: ")).strip()
