"""Model declarations: the one parser of `[model.NAME]` and the one writer.

A model is declared in the committed config, so the whole team shares it:

    [model.clf]
    path = "models/clf.pkl"          # the tracked artifact (file or folder)
    data = ["data/train.csv"]        # what it was trained on (optional)
    params = "params.yaml"           # optional
    metrics = "metrics.json"         # optional

A repository GTO tagged declares its models in `artifacts.yaml` instead
(`gto_path` reads it at a commit).  Everything that needs a declaration
(registry, metrics, plot, report) asks `all_models`/`find`/`get` here, so
a bad one is the same one-line error in every command.  What a commit holds
for a declared model is `gitmodel.registry.snapshot`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

from gitmodel.config import CONFIG_DIR, CONFIG_FILE
from gitmodel.errors import ConfigError, GitmodelError
from gitmodel.git import runner as gitops
from gitmodel.registry.grammar import check_name
from gitmodel.repo import Repo
from gitmodel.store import pointer as ptr


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


# A model name as messages show it bare (any other is quoted: one line, whatever the config holds).
_PLAIN = re.compile(r"[A-Za-z0-9/_.-]{1,100}")


def declared_path(value: str) -> str:
    """A path written in the config as its reader means it: `./` in front and `/` at the
    end say nothing (a folder is a folder).  Anything else is kept as
    spelled, for the path rule to judge: a leading `/` is refused, not
    turned into a relative path that names something else."""
    while value.startswith("./"):
        value = value[2:]
    return value.rstrip("/") or value


def _from_table(repo: Repo, name: str, table: Any, where: str) -> Model:
    """One declaration, every path judged by the path rule (Repo.check_rel)
    here, where it is parsed: the config is committed, so a stranger's
    `metrics = ".git/config"` must never reach a reader or a writer."""
    where = f"{where}: [model.{name if _PLAIN.fullmatch(name) else repr(name[:60])}]"
    if not isinstance(table, dict):
        raise ConfigError(f"{where} must be a table with at least `path = \"...\"`")
    path = table.get("path")
    if not isinstance(path, str) or not path:
        raise ConfigError(f"{where} has no `path`", hint="set it to the tracked artifact")
    data = table.get("data", [])
    if isinstance(data, str):
        data = [data]
    if not isinstance(data, list) or not all(isinstance(d, str) for d in data):
        raise ConfigError(f"{where} data must be a list of paths")
    out: dict[str, str | None] = {}
    for key in ("params", "metrics"):
        value = table.get(key)
        if value is not None and not isinstance(value, str):
            raise ConfigError(f"{where} {key} must be a path")
        # gitmodel.save writes these two: git's control files are refused too.
        out[key] = repo.check_rel(declared_path(value), f"{where} {key}", control=True) if value else None
    rel = repo.check_rel(declared_path(path), f"{where} path", control=True)
    data_rels = tuple(repo.check_rel(declared_path(d), f"{where} data", control=False) for d in data)
    return Model(name, rel, data_rels, out["params"], out["metrics"])


def all_models(repo: Repo) -> dict[str, Model]:
    """Every declared model, by name (empty when there is no config, as in a
    clone that fetched only tags).  A declaration naming an unsafe path is
    an error (UnsafePathError), like any other bad one: the config is wrong
    for every command that reads it, and only its author can fix it."""
    table = repo.config.get("model", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{repo.config.path}: `model` must be a table of [model.NAME] sections")
    return {name: _from_table(repo, name, t, repo.config.path) for name, t in sorted(table.items())}


def find(repo: Repo, name: str) -> Model | None:
    return all_models(repo).get(name)


def get(repo: Repo, name: str) -> Model:
    model = find(repo, name)
    if model is None:
        raise GitmodelError(f"unknown model {name!r}", hint=f"declare it with `gitmodel model add {name} PATH`")
    return model


def allowed_stages(repo: Repo) -> list[str] | None:
    """The stages `[registry] stages = [...]` allows, or None when free."""
    stages = repo.config.get("registry.stages")
    if stages is None:
        return None
    if not isinstance(stages, list) or not all(isinstance(s, str) for s in stages):
        raise ConfigError(f"{repo.config.path}: [registry] stages must be a list of names")
    return list(stages)


_ARTIFACTS_YAML: dict[str, dict[str, Any]] = {}  # blob id -> parsed GTO artifacts.yaml


def gto_path(repo: Repo, commit: str, name: str) -> str | None:
    """The artifact path GTO's `artifacts.yaml` declares for `name` at
    `commit`, if any: GTO's form of a declaration, read for a repository
    GTO tagged (a damaged file declares nothing: it is foreign input)."""
    import pygit2

    from gitmodel import formats
    from gitmodel.git.revs import git

    g = git(repo)
    try:
        blob = g[commit].peel(pygit2.Commit).tree["artifacts.yaml"]
    except (KeyError, ValueError, pygit2.GitError):
        return None
    if not isinstance(blob, pygit2.Blob):
        return None
    key = str(blob.id)
    values = _ARTIFACTS_YAML.get(key)
    if values is None:  # most versions share one blob: parse it once
        try:
            values = formats.load_bytes(blob.data, "artifacts.yaml", "yaml")
        except GitmodelError:
            values = {}
        if len(_ARTIFACTS_YAML) > 1024:
            _ARTIFACTS_YAML.clear()
        _ARTIFACTS_YAML[key] = values
    path = values.get(f"{name}.path")
    if not isinstance(path, str) or not path:
        return None
    # Damage declares nothing; a hostile path is refused like a declaration's.
    return repo.check_rel(declared_path(path), f"{commit[:10]}:artifacts.yaml: {name}.path", control=True)


# -- declaring ----------------------------------------------------------------

def make(repo: Repo, name: str, path: str, data: list[str] | None = None, params: str | None = None,
         metrics: str | None = None, cwd: str | None = None) -> Model:
    """Validate a declaration typed by a user (paths relative to `cwd`)."""
    check_name(name)
    rel = repo.relpath(path, cwd)
    if rel.endswith(ptr.SUFFIX):
        rel = ptr.target_path(rel)
    if not os.path.isfile(repo.abspath(ptr.pointer_path(rel))):
        raise GitmodelError(f"{rel} is not tracked by gitmodel", hint=f"run `gitmodel add {rel}` first")
    data_rels: list[str] = []
    for d in data or []:
        drel = repo.relpath(d, cwd)
        if drel.endswith(ptr.SUFFIX):
            drel = ptr.target_path(drel)
        if not (os.path.lexists(repo.abspath(drel)) or os.path.isfile(repo.abspath(ptr.pointer_path(drel)))):
            raise GitmodelError(f"data {d}: no such file or folder",
                                hint=f"track it with `gitmodel add {d}` (or commit it to git) first")
        if drel == rel:
            raise GitmodelError(f"data {d}: is the model's own artifact")
        if drel not in data_rels:
            data_rels.append(drel)
    files: dict[str, str | None] = {"params": None, "metrics": None}
    for key, value in (("params", params), ("metrics", metrics)):
        if value:  # the rule the parser applies, said now rather than by every later read
            files[key] = repo.check_rel(repo.relpath(value, cwd), f"{key} {value}", control=True)
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
            raise GitmodelError(f"model {model.name!r} is already declared with path {old.path}",
                                hint=f"pass --replace to change it, or edit {CONFIG_DIR}/{CONFIG_FILE}")

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


def check_stage(repo: Repo, stage: str) -> str:
    check_name(stage, "stage name")
    allowed = allowed_stages(repo)
    if allowed is not None and stage not in allowed:
        raise GitmodelError(f"stage {stage!r} is not allowed here: [registry] stages in "
                            f"{os.path.relpath(repo.config.path, repo.root)} lists {', '.join(allowed) or 'none'}")
    return stage
