"""Model declarations and the snapshot of what one commit holds for a model.

A model is declared in the committed config, so the whole team shares it:

    [model.clf]
    path = "models/clf.pkl"          # the tracked artifact (file or folder)
    data = ["data/train.csv"]        # what it was trained on (optional)
    params = "params.yaml"           # optional
    metrics = "metrics.json"         # optional

A *snapshot* is what a version records in its tag message: the artifact's
oid and size, the data oids, the params and the metrics, all read from the
tagged commit's tree (never from the workspace), so a version describes
exactly what the commit holds.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gitmodel.git import runner as gitops
from gitmodel.store import pointer as ptr
from gitmodel.config import CONFIG_DIR, CONFIG_FILE
from gitmodel.errors import ConfigError, GitmodelError, PointerError
from gitmodel.repo import Repo

if TYPE_CHECKING:
    import pygit2

# GTO's artifact and stage names: lowercase letters, digits, '-' and '/',
# starting and ending with a letter or digit.  Ours follow it so that GTO
# reads every tag we write.
NAME_RE = re.compile(r"^[a-z0-9](?:[a-z0-9\-/]*[a-z0-9])?$")
SNAPSHOT_FORMAT = "gitmodel-snapshot/1"


def check_name(name: str, what: str = "model name") -> str:
    if not NAME_RE.match(name) or "//" in name:
        raise GitmodelError(f"{what} {name[:80]!r} is not valid: use lowercase letters, digits, '-' and '/', "
                            f"starting and ending with a letter or digit (for example clf or team/clf-small)")
    return name


@dataclass(frozen=True)
class Model:
    name: str
    path: str  # repository-relative posix path of the tracked artifact
    data: tuple[str, ...] = ()
    params: str | None = None
    metrics: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "path": self.path, "data": list(self.data),
                "params": self.params, "metrics": self.metrics}


def _from_table(name: str, table: Any, where: str) -> Model:
    if not isinstance(table, dict):
        raise ConfigError(f"{where}: [model.{name}] must be a table with at least `path = \"...\"`")
    path = table.get("path")
    if not isinstance(path, str) or not path:
        raise ConfigError(f"{where}: [model.{name}] has no `path`; set it to the tracked artifact")
    data = table.get("data", [])
    if isinstance(data, str):
        data = [data]
    if not isinstance(data, list) or not all(isinstance(d, str) for d in data):
        raise ConfigError(f"{where}: [model.{name}] data must be a list of paths")
    out: dict[str, str | None] = {}
    for key in ("params", "metrics"):
        value = table.get(key)
        if value is not None and not isinstance(value, str):
            raise ConfigError(f"{where}: [model.{name}] {key} must be a path")
        out[key] = value or None
    return Model(name, path.strip("/"), tuple(d.strip("/") for d in data), out["params"], out["metrics"])


def all_models(repo: Repo) -> dict[str, Model]:
    """Every declared model, by name (empty when there is no config, as in a
    clone that fetched only tags)."""
    table = repo.config.get("model", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{repo.config.path}: `model` must be a table of [model.NAME] sections")
    return {name: _from_table(name, t, repo.config.path) for name, t in sorted(table.items())}


def find(repo: Repo, name: str) -> Model | None:
    return all_models(repo).get(name)


def get(repo: Repo, name: str) -> Model:
    model = find(repo, name)
    if model is None:
        raise GitmodelError(f"unknown model {name!r}; declare it with `gitmodel model add {name} PATH`")
    return model


def allowed_stages(repo: Repo) -> list[str] | None:
    """The stages `[registry] stages = [...]` allows, or None when free."""
    stages = repo.config.get("registry.stages")
    if stages is None:
        return None
    if not isinstance(stages, list) or not all(isinstance(s, str) for s in stages):
        raise ConfigError(f"{repo.config.path}: [registry] stages must be a list of names")
    return list(stages)


# -- declaring ----------------------------------------------------------------

def make(repo: Repo, name: str, path: str, data: list[str] | None = None, params: str | None = None,
         metrics: str | None = None, cwd: str | None = None) -> Model:
    """Validate a declaration typed by a user (paths relative to `cwd`)."""
    check_name(name)
    rel = repo.relpath(path, cwd)
    if rel.endswith(ptr.SUFFIX):
        rel = ptr.target_path(rel)
    if not os.path.isfile(repo.abspath(ptr.pointer_path(rel))):
        raise GitmodelError(f"{rel} is not tracked by gitmodel; run `gitmodel add {rel}` first")
    data_rels: list[str] = []
    for d in data or []:
        drel = repo.relpath(d, cwd)
        if drel.endswith(ptr.SUFFIX):
            drel = ptr.target_path(drel)
        if not (os.path.lexists(repo.abspath(drel)) or os.path.isfile(repo.abspath(ptr.pointer_path(drel)))):
            raise GitmodelError(f"data {d}: no such file or folder; track it with `gitmodel add {d}` "
                                f"(or commit it to git) first")
        if drel == rel:
            raise GitmodelError(f"data {d}: is the model's own artifact")
        if drel not in data_rels:
            data_rels.append(drel)
    files: dict[str, str | None] = {"params": None, "metrics": None}
    for key, value in (("params", params), ("metrics", metrics)):
        if value:
            files[key] = repo.relpath(value, cwd)
    return Model(name, rel, tuple(data_rels), files["params"], files["metrics"])


def declare(repo: Repo, model: Model, *, replace: bool = False, stage: bool = True) -> bool:
    """Write `[model.NAME]` into the committed config.  Returns False when
    the same declaration is there already (nothing written)."""
    repo.require_init()
    with repo.lock:
        old = find(repo, model.name)
        if old == model:
            return False
        if old is not None and not replace:
            raise GitmodelError(f"model {model.name!r} is already declared with path {old.path}; "
                                f"pass --replace to change it, or edit {CONFIG_DIR}/{CONFIG_FILE}")

        def change(doc: Any) -> None:
            import tomlkit

            if "model" not in doc:
                section = tomlkit.table(is_super_table=True)
                doc["model"] = section
            table = tomlkit.table()
            table["path"] = model.path
            if model.data:
                table["data"] = list(model.data)
            if model.params:
                table["params"] = model.params
            if model.metrics:
                table["metrics"] = model.metrics
            doc["model"][model.name] = table

        repo.config.update(change)
        if stage:
            gitops.stage(repo.root, [f"{CONFIG_DIR}/{CONFIG_FILE}"])
    return True


# -- snapshots ------------------------------------------------------------------

@dataclass
class Item:
    """One path as a commit holds it."""

    path: str
    kind: str  # "file" | "dir" (gitmodel pointers) | "git" (plain git object) | "missing"
    oid: str | None = None  # gitmodel oid (file object or directory manifest)
    size: int | None = None
    files: int | None = None
    git: str | None = None  # git object id, for paths git itself tracks

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
        return cls(d["path"], d["kind"], _opt(d, "oid", str), _opt(d, "size", int), _opt(d, "files", int),
                   _opt(d, "git", str))

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
        return snap


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

    from gitmodel.metrics import formats

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
                            f"holds no version of {model.path}; run `gitmodel add {model.path}` and "
                            f"`git commit` first, or pick another --rev")
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
