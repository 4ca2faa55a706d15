"""The snapshot of what one commit holds for a model, and its block in a tag message.

A *snapshot* is what a version records in its tag message: the artifact's
oid and size, the data oids, the params and the metrics, all read from the
tagged commit's tree (never from the workspace), so a version describes
exactly what the commit holds.  `gitmodel.registry.tagging` writes the
block (after a `gitmodel-snapshot:` line), `parse_snapshot` reads it back.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gitmodel.errors import GitmodelError, PointerError
from gitmodel.humanize import human_size, plural
from gitmodel.registry.declarations import Model
from gitmodel.repo import Repo
from gitmodel.store import oid as oidmod
from gitmodel.store import paths
from gitmodel.store import pointer as ptr

if TYPE_CHECKING:
    import pygit2

SNAPSHOT_FORMAT = "gitmodel-snapshot/1"
SNAPSHOT_MARKER = "gitmodel-snapshot:"
# A model and version as a message may name them (anything else is not echoed).
_SHOWN_REF = re.compile(r"[a-z0-9/_.-]{1,100}@[0-9A-Za-z.+-]{1,60}")


@dataclass
class Item:
    """One path as a commit holds it."""

    path: str
    kind: str  # "file" | "dir" (gitmodel pointers) | "git" (plain git object) | "missing"
    oid: str | None = None  # gitmodel oid (file object or directory manifest)
    size: int | None = None
    files: int | None = None
    git: str | None = None  # git object id, for paths git itself tracks

    def content(self) -> str | None:
        """`3 files, 1.2 KiB, xxh128:…` for a tracked file or folder (what
        `show` and the tag message print in parentheses); None otherwise."""
        if self.kind not in ("file", "dir") or not self.oid:
            return None
        files = f"{plural(self.files or 0, 'file')}, " if self.kind == "dir" else ""
        return f"{files}{human_size(self.size or 0)}, {self.oid}"

    def as_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"path": self.path, "kind": self.kind}
        for key in ("oid", "size", "files", "git"):
            value = getattr(self, key)
            if value is not None:
                d[key] = value
        return d

    @classmethod
    def from_dict(cls, d: Any) -> Item:
        if not isinstance(d, dict) or not isinstance(d.get("path"), str) or not isinstance(d.get("kind"), str):
            raise ValueError("not an item")
        item = cls(d["path"], d["kind"], _opt(d, "oid", str), _opt(d, "size", int), _opt(d, "files", int),
                   _opt(d, "git", str))
        # A pointer's own bounds (store/pointer.py): a size of 10^400 would
        # reach every display of it (human_size overflows a float).
        if any(n is not None and not 0 <= n <= ptr.MAX_SIZE for n in (item.size, item.files)) or \
                (item.oid is not None and not oidmod.is_valid(item.oid)):
            raise ValueError("an item's size, count or oid is out of range")
        return item

    @property
    def pointer(self) -> ptr.Pointer | None:
        if self.kind not in ("file", "dir") or self.oid is None:
            return None
        return ptr.Pointer(self.oid, self.size or 0, self.kind, self.files if self.kind == "dir" else None)


def _opt(d: dict[str, Any], key: str, typ: type) -> Any:
    value = d.get(key)
    if value is None:
        return None
    if not isinstance(value, typ) or isinstance(value, bool):
        raise ValueError(f"{key} has the wrong type")
    return value


@dataclass
class Snapshot:
    model: str
    version: str
    commit: str
    artifact: Item
    data: list[Item] = field(default_factory=list)
    params_file: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    metrics_file: str | None = None
    metrics: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"format": SNAPSHOT_FORMAT, "model": self.model, "version": self.version,
                             "commit": self.commit, "artifact": self.artifact.as_dict(),
                             "data": [i.as_dict() for i in self.data]}
        if self.params_file:
            d["params"] = {"file": self.params_file, "values": self.params}
        if self.metrics_file:
            d["metrics"] = {"file": self.metrics_file, "values": self.metrics}
        return d

    @classmethod
    def from_dict(cls, d: Any) -> Snapshot:
        """Parse what `as_dict` wrote; ValueError on anything else (a tag
        message is foreign input)."""
        if not isinstance(d, dict) or d.get("format") != SNAPSHOT_FORMAT:
            raise ValueError("not a gitmodel snapshot")
        snap = cls(_req(d, "model"), _req(d, "version"), _req(d, "commit"), Item.from_dict(d.get("artifact")))
        data = d.get("data", [])
        if not isinstance(data, list):
            raise ValueError("data is not a list")
        snap.data = [Item.from_dict(i) for i in data]
        for key in ("params", "metrics"):
            section = d.get(key)
            if section is None:
                continue
            if not isinstance(section, dict) or not isinstance(section.get("file"), str) \
                    or not isinstance(section.get("values", {}), dict):
                raise ValueError(f"{key} is malformed")
            setattr(snap, f"{key}_file", section["file"])
            setattr(snap, key, dict(section.get("values", {})))
        snap._check_paths()
        return snap

    def _check_paths(self) -> None:
        """The path rule (store/paths.py) on every path the snapshot names,
        raising UnsafePathError: a tag message is a stranger's text, and
        rollback writes the artifact's path, so a snapshot naming
        `.git/hooks/post-commit` is refused where it is parsed, for every
        reader.  (The file system half, symlinked parents, is Repo.check_rel's
        where a path is written: rollback.)"""
        ref = f"{self.model}@{self.version}"
        where = f"the snapshot in the tag of {ref}" if _SHOWN_REF.fullmatch(ref) else "a version tag's snapshot"
        paths.check(self.artifact.path, f"{where}: artifact", control=True)
        for item in self.data:
            paths.check(item.path, f"{where}: data")
        for key, file in (("params", self.params_file), ("metrics", self.metrics_file)):
            if file is not None:
                paths.check(file, f"{where}: {key}", control=True)


def _req(d: dict[str, Any], key: str) -> str:
    value = d.get(key)
    if not isinstance(value, str):
        raise ValueError(f"{key} is missing")
    return value


def _tree_entry(g: pygit2.Repository, tree: pygit2.Tree, path: str) -> pygit2.Object | None:
    try:
        return tree[path]  # a path lookup in libgit2 (no walk of the tree)
    except KeyError:
        return None


def _item_at(g: pygit2.Repository, tree: pygit2.Tree, path: str, where: str) -> Item:
    import pygit2

    blob = _tree_entry(g, tree, ptr.pointer_path(path))
    if isinstance(blob, pygit2.Blob):
        try:
            p = ptr.loads(blob.data.decode("utf-8"), f"{where}:{ptr.pointer_path(path)}")
        except UnicodeDecodeError:
            raise PointerError(f"{where}:{ptr.pointer_path(path)}: not UTF-8 text") from None
        return Item(path, p.kind, p.oid, p.size, p.files)
    obj = _tree_entry(g, tree, path)
    if obj is not None:
        size = obj.size if isinstance(obj, pygit2.Blob) else None
        return Item(path, "git", size=size, git=str(obj.id))
    return Item(path, "missing")


def _values_at(g: pygit2.Repository, tree: pygit2.Tree, path: str, where: str,
               warnings: list[str]) -> dict[str, Any]:
    import pygit2

    from gitmodel import formats

    obj = _tree_entry(g, tree, path)
    if not isinstance(obj, pygit2.Blob):
        warnings.append(f"{path} is not in commit {where}; the version records no values from it")
        return {}
    try:
        return formats.load_bytes(obj.data, path)
    except formats.FormatError as e:
        warnings.append(f"{path} at {where}: {e.detail}; the version records no values from it")
        return {}


def snapshot_at(repo: Repo, model: Model, commit: pygit2.Commit, version: str) -> tuple[Snapshot, list[str]]:
    """What `commit` holds for `model`, and warnings about what it lacks
    besides the artifact (data, params or metrics not committed).  Raises
    when the commit lacks the artifact itself."""
    from gitmodel.git.revs import git

    g = git(repo)
    tree = commit.tree
    short = str(commit.id)[:10]
    artifact = _item_at(g, tree, model.path, short)
    if artifact.pointer is None:
        raise GitmodelError(f"{model.name}: commit {short} has no {ptr.pointer_path(model.path)}, so it "
                            f"holds no version of {model.path}",
                            hint=f"run `gitmodel add {model.path}` and `git commit` first, or pick another --rev")
    warnings: list[str] = []
    data = []
    for d in model.data:
        item = _item_at(g, tree, d, short)
        if item.kind == "missing":
            warnings.append(f"data {d} is not in commit {short}; the version records it as missing")
        data.append(item)
    snap = Snapshot(model.name, version, str(commit.id), artifact, data)
    if model.params:
        snap.params_file = model.params
        snap.params = _values_at(g, tree, model.params, short, warnings)
    if model.metrics:
        snap.metrics_file = model.metrics
        snap.metrics = _values_at(g, tree, model.metrics, short, warnings)
    return snap, warnings


def parse_snapshot(message: str) -> Snapshot | None:
    """The snapshot block of a version's tag message: None when there is
    none or it is damaged (a tag message is foreign input, and damage only
    means nothing was recorded); UnsafePathError when it is well formed but
    names a path gitmodel must never write (that is an attack, not damage,
    and is said, one line)."""
    at = message.rfind("\n" + SNAPSHOT_MARKER + "\n")
    if at < 0:
        return None
    rest = message[at + len(SNAPSHOT_MARKER) + 2:].lstrip()
    try:
        # raw_decode stops at the end of the JSON value: a signed tag's
        # signature may follow it.
        data, _ = json.JSONDecoder().raw_decode(rest)
        return Snapshot.from_dict(data)
    except (ValueError, RecursionError):  # RecursionError: JSON nested deeper than the parser goes
        return None
