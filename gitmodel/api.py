"""The Python API: the five steps of model versioning from a notebook or a
training script, on the same library the CLI uses.

    import gitmodel
    gitmodel.save(clf, "models/clf.pkl", name="clf", params={"n_estimators": 100},
                  metrics={"accuracy": 0.93}, data=["data/train.csv"])
    # git commit -m "Train clf"
    gitmodel.tag("clf", "v1.0.0")
    gitmodel.promote("clf", "v1.0.0", "prod")
    clf = gitmodel.load("clf#prod")

Every function works from any folder inside the repository; `repo=` takes
another repository's path (or, for `load` and `open`, a git URL).

Unpickling runs code: `load` checks the content hash before it unpickles, so
what it unpickles is exactly what was saved, but only load models from
repositories and remotes you trust.
"""

from __future__ import annotations

import functools
import io
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from gitmodel.registry.rollback import RollbackResult
    from gitmodel.registry.tagging import TagResult
    from gitmodel.remote.config import RemoteChange
    from gitmodel.repo import Repo
    from gitmodel.store.cache import Cache
    from gitmodel.transfer.fetch import FetchReport
    from gitmodel.transfer.push import PushReport
    from gitmodel.workspace.checkout import CheckoutReport
    from gitmodel.workspace.status import Status
    from gitmodel.workspace.track import AddResult

PathLike = str | os.PathLike[str]
F = TypeVar("F", bound=Callable[..., Any])


def _strict(fn: F) -> F:
    """What the CLI does with refusals (errors.refuse: a hostile pointer
    skipped while the command went on), the API does by raising at the end:
    the safe targets are done, and the caller hears of the rest."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from gitmodel.errors import take_refused

        take_refused()  # left over from an earlier call that raised
        result = fn(*args, **kwargs)
        refused = take_refused()
        if refused:
            first = refused[0]
            more = f" (and {len(refused) - 1} more)" if len(refused) > 1 else ""
            raise type(first)(f"{first.message}{more}", hint=first.hint)  # its own class: UnsafePathError, ...
        return result

    return wrapper  # type: ignore[return-value]


# -- finding the repository -------------------------------------------------------

def _repo(repo: PathLike | None) -> Repo:
    from gitmodel.repo import Repo

    return Repo.discover(os.fspath(repo) if repo is not None else None)


def _is_url(source: str) -> bool:
    return "://" in source or (":" in source and "@" in source.split(":", 1)[0])


def _cwd_for(r: Repo, repo: PathLike | None) -> str:
    """Paths given with an explicit `repo=` are relative to its root;
    otherwise to the current folder, like the CLI."""
    return r.root if repo is not None else os.getcwd()


# -- save ---------------------------------------------------------------------------

@dataclass
class Saved:
    """What `save` wrote."""

    path: str  # repository-relative path of the artifact
    oid: str
    size: int
    name: str | None = None
    params_file: str | None = None
    metrics_file: str | None = None
    data: list[str] = field(default_factory=list)


def _sidecar(r: Repo, rel: str, kind: str) -> str:
    """Default params/metrics file of an artifact: `models/clf.params.json`
    beside `models/clf.pkl`, so several models can share a folder; judged
    by the path rule like any file save writes."""
    folder, name = os.path.split(rel)
    stem = name.split(".", 1)[0] or name
    return r.check_rel(os.path.join(folder, f"{stem}.{kind}.json").replace(os.sep, "/"), f"{kind} file of {rel}",
                       control=True)


def _dump(obj: Any, path: str) -> None:
    """Serialise with joblib into a temp file beside `path`, fsync, rename:
    an interrupted save leaves the previous artifact whole."""
    import joblib  # type: ignore[import-untyped]

    from gitmodel.platform.atomic import SaveFile

    folder = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    with SaveFile(folder, 0o666, umask=True) as f:  # a file the user made: their umask applies
        joblib.dump(obj, f.file)
        f.commit(path)


@_strict
def save(obj: Any, path: PathLike, *, name: str | None = None, params: dict[str, Any] | None = None,
         metrics: dict[str, Any] | None = None, data: Sequence[PathLike] | None = None,
         repo: PathLike | None = None, stage: bool = True) -> Saved:
    """Serialise `obj` to `path` with joblib and track it as `gitmodel add`
    does; write `params` and `metrics` as JSON files; track the `data` paths
    (files git does not already track); with `name`, declare the model with
    that lineage in the committed config.  Everything is staged (not
    committed): commit, then `tag`.

    >>> gitmodel.save(clf, "models/clf.pkl", name="clf", metrics={"accuracy": 0.93})
    """
    from gitmodel.git import runner as gitops
    from gitmodel.platform.atomic import write_atomic
    from gitmodel.registry import declarations as models
    from gitmodel.registry import grammar
    from gitmodel.workspace import track

    r = _repo(repo)
    r.require_init()
    cwd = _cwd_for(r, repo)
    # Every path this writes is judged by the one rule before the first
    # write: the artifact and its sidecars (Repo.check_rel, git's control
    # files included), and a declaration's params/metrics names, which come
    # from the committed config and are judged where it is parsed.
    rel = r.check_rel(r.relpath(os.fspath(path), cwd), os.fspath(path), control=True)
    data_rels = [r.relpath(os.fspath(d), cwd) for d in (data or [])]
    if name:
        grammar.check_name(name)
    declared = models.find(r, name) if name else None
    params_rel = metrics_rel = None
    if params is not None:
        params_rel = declared.params if declared and declared.params else _sidecar(r, rel, "params")
    elif declared:
        params_rel = declared.params
    if metrics is not None:
        metrics_rel = declared.metrics if declared and declared.metrics else _sidecar(r, rel, "metrics")
    elif declared:
        metrics_rel = declared.metrics
    if rel in (params_rel, metrics_rel) or (params_rel is not None and params_rel == metrics_rel):
        from gitmodel.errors import PathError

        raise PathError(f"{rel}: the artifact, its params and its metrics need three different files",
                        hint=f"change params/metrics of [model.{name}] in .gitmodel/config.toml" if declared
                        else "give the artifact another name")
    for d in data_rels:
        if not os.path.lexists(r.abspath(d)):
            from gitmodel.errors import PathError

            raise PathError(f"data {d}: no such file or folder")
    _dump(obj, r.abspath(rel))
    written = []
    for values, target in ((params, params_rel), (metrics, metrics_rel)):
        if values is not None and target is not None:
            os.makedirs(os.path.dirname(r.abspath(target)) or r.root, exist_ok=True)
            write_atomic(r.abspath(target), (json.dumps(values, indent=2, sort_keys=True, default=str)
                                             + "\n").encode())
            written.append(target)
    in_git = set(gitops.tracked(r.root, data_rels))
    to_track = [rel] + [d for d in data_rels if d not in in_git
                        and not any(t == d or t.startswith(d + "/") for t in in_git)]
    results = track.add(r, to_track, stage=stage, cwd=r.root)
    if stage and written:
        gitops.stage(r.root, written)
    if name:
        model = models.make(r, name, rel, data_rels, params_rel, metrics_rel, cwd=r.root)
        models.declare(r, model, replace=True, stage=stage)
    art = results[0].pointer
    return Saved(rel, art.oid, art.size, name, params_rel, metrics_rel, data_rels)


# -- reading any version --------------------------------------------------------------

@contextmanager
def _source(repo: PathLike | None) -> Iterator[tuple[Repo, bool]]:
    """(repository to read, whether it is a temporary clone of a URL)."""
    if repo is not None and _is_url(os.fspath(repo)):
        from gitmodel.repo import Repo
        from gitmodel.transfer.get import _clone

        tmp = tempfile.mkdtemp(prefix="gitmodel-api-")
        try:
            clone = os.path.join(tmp, "repo.git")
            _clone(os.fspath(repo), None, clone)
            yield Repo(clone, clone, clone), True
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    else:
        yield _repo(repo), False


def _locate(r: Repo, ref: str, rev: str | None, cwd: str | None) -> tuple[str, str | None]:
    """(artifact path, revision or None for the workspace) for what a caller
    named: a version reference (`clf@v1.0.0`, `clf@latest`, `clf#prod`) or a
    path plus an optional revision."""
    from gitmodel.errors import GitmodelError
    from gitmodel.registry import resolve as refs
    from gitmodel.registry import state as registry

    vref = refs.parse(ref)
    if vref is not None and rev is None:
        state = registry.model_state(r, vref.model)
        if state.events:
            version = refs.pick(state, vref, ref)
            model = registry.model_for(r, state, version)
            if model is None:
                raise GitmodelError(f"{ref}: cannot tell which file model {vref.model} is",
                                    hint=f"declare it with `gitmodel model add {vref.model} PATH`")
            return model.path, version.commit
    rel = r.relpath(ref, cwd) if cwd is not None else ref.strip("/")
    return rel, rev


def _object_for(r: Repo, rel: str, rev: str | None) -> tuple[str, int, str]:
    """(oid, size, label) of a tracked file, or of a file inside a tracked
    folder, at `rev` (None: the workspace's pointers)."""
    from gitmodel.errors import GitmodelError
    from gitmodel.git import revs
    from gitmodel.store import pointer as ptr

    def pointer_of(path: str) -> ptr.Pointer | None:
        if rev is None:
            return ptr.try_read(r.abspath(ptr.pointer_path(path)))
        try:
            return revs.pointer_at(r, rev, path)
        except GitmodelError:
            return None

    where = f" at {rev}" if rev else ""
    p = pointer_of(rel)
    if p is not None:
        if p.is_dir:
            raise GitmodelError(f"{rel} is a tracked folder", hint=f"open one of its files, like {rel}/NAME")
        return p.oid, p.size, rel
    parts = rel.split("/")
    for i in range(len(parts) - 1, 0, -1):
        folder = "/".join(parts[:i])
        dp = pointer_of(folder)
        if dp is None:
            continue
        if not dp.is_dir:
            break
        _ensure(r, [dp.oid], expand=False)
        inner = "/".join(parts[i:])
        for e in r.cache.read_manifest(dp, f"{rev}:{ptr.pointer_path(folder)}" if rev else ptr.pointer_path(folder),
                                       folder):
            if e.path == inner:
                return e.oid, e.size, rel
        raise GitmodelError(f"{rel}: not in the tracked folder {folder}{where}")
    raise GitmodelError(f"{rel} is not tracked by gitmodel{where}", hint="see `gitmodel status`")


def _ensure(r: Repo, oids: list[str], expand: bool) -> None:
    """Fetch what the cache lacks from the default remote."""
    missing = r.cache.missing(oids)
    if not missing:
        return
    from gitmodel.transfer import fetch as transfer

    if not os.path.isdir(r.cache.tmp):
        r.cache.ensure()
    transfer.fetch_oids(r, missing, expand=expand)


@_strict
def read_bytes(ref: PathLike, rev: str | None = None, *, repo: PathLike | None = None) -> bytes:
    """The content of a tracked file at any version, hash-checked, from the
    cache or else the remote; the workspace is not touched."""
    with _source(repo) as (r, cloned):
        if cloned:
            r.cache = _temp_cache(r)
        rel, at = _locate(r, os.fspath(ref), rev, None if (repo is not None) else os.getcwd())
        if cloned and at is None:
            at = "HEAD"
        oid, _, _ = _object_for(r, rel, at)
        if cloned:
            _fetch_from_source(r, at or "HEAD", [oid])
        else:
            _ensure(r, [oid], expand=False)
        return r.cache.read_bytes(oid, verify=True)


@_strict
def load(ref: PathLike, rev: str | None = None, *, repo: PathLike | None = None) -> Any:
    """Load a model saved with `save` (joblib) at any version:

    >>> gitmodel.load("clf#prod")                      # the version in stage prod
    >>> gitmodel.load("clf@latest")
    >>> gitmodel.load("models/clf.pkl", rev="clf@v1.0.0")

    The content hash is checked before anything is unpickled.  Unpickling
    runs code: load only from repositories and remotes you trust."""
    import joblib

    return joblib.load(io.BytesIO(read_bytes(ref, rev, repo=repo)))


@_strict
def open(path: PathLike, rev: str | None = None, mode: str = "rb", *, repo: PathLike | None = None,
         encoding: str | None = None) -> IO[Any]:
    """Open any tracked file (a model, a data file, a file inside a tracked
    folder) at any version for reading, without touching the workspace.

    >>> with gitmodel.open("data/train.csv", rev="clf@v1.0.0", mode="r") as f:
    ...     header = f.readline()

    The content is hash-checked before it is returned."""
    from gitmodel.errors import GitmodelError

    if mode not in ("rb", "r"):
        raise GitmodelError(f"gitmodel.open reads only: mode must be 'rb' or 'r', not {mode!r}")
    with _source(repo) as (r, cloned):
        if cloned:
            data = read_bytes(path, rev, repo=repo)
            stream: IO[Any] = io.BytesIO(data)
        else:
            rel, at = _locate(r, os.fspath(path), rev, None if repo is not None else os.getcwd())
            oid, _, _ = _object_for(r, rel, at)
            _ensure(r, [oid], expand=False)
            from gitmodel.errors import CorruptObjectError

            # Loose or packed: hashed in place, then streamed (objects are
            # immutable once named).
            if r.cache.hash_of(oid) != oid:
                raise CorruptObjectError(f"cache object {oid} is corrupt", hint="run `gitmodel fsck`")
            stream = r.cache.open(oid)
    return io.TextIOWrapper(stream, encoding=encoding or "utf-8") if mode == "r" else stream


def _temp_cache(r: Repo) -> Cache:
    from gitmodel.store.cache import Cache

    cache = Cache(os.path.join(os.path.dirname(r.root), "cache"))
    cache.ensure()
    return cache


def _fetch_from_source(r: Repo, rev: str, oids: list[str]) -> None:
    """For a cloned URL: fetch from the remote its committed config names."""
    from gitmodel.remote.spec import open_remote, spec_from_config
    from gitmodel.transfer.fetch import fetch_wanted
    from gitmodel.transfer.get import _committed_config
    from gitmodel.transfer.wanted import Wanted

    need = r.cache.missing(oids)
    if not need:
        return
    config = _committed_config(r, rev, os.path.dirname(r.root))
    spec = spec_from_config(config, None, os.path.dirname(r.root))
    remote = open_remote(spec)
    try:
        fetch_wanted(r.cache, remote, Wanted(files={o: (0, o) for o in need}), spec.jobs() or remote.default_jobs,
                     None, None, strict=True)
    finally:
        remote.close()


# -- the rest mirrors the CLI -----------------------------------------------------------

@_strict
def add(paths: Sequence[PathLike], *, repo: PathLike | None = None, stage: bool = True) -> list[AddResult]:
    """`gitmodel add`: track files or folders; one result per path given."""
    from gitmodel.workspace import track

    r = _repo(repo)
    return track.add(r, [os.fspath(p) for p in paths], stage=stage, cwd=_cwd_for(r, repo))


@_strict
def status(paths: Sequence[PathLike] = (), *, repo: PathLike | None = None) -> list[Status]:
    """`gitmodel status`."""
    from gitmodel.workspace import status as workspace_status

    r = _repo(repo)
    return workspace_status.status(r, [os.fspath(p) for p in paths], cwd=_cwd_for(r, repo))


@_strict
def checkout(paths: Sequence[PathLike] = (), *, force: bool = False, repo: PathLike | None = None) -> CheckoutReport:
    """`gitmodel checkout`."""
    from gitmodel.workspace import checkout as workspace

    r = _repo(repo)
    return workspace.checkout(r, [os.fspath(p) for p in paths], force=force, cwd=_cwd_for(r, repo))


@_strict
def push(*, remote: str | None = None, repo: PathLike | None = None) -> PushReport:
    """`gitmodel push`: upload the objects the workspace pointers name."""
    from gitmodel.transfer import push as transfer

    return transfer.push(_repo(repo), remote)


@_strict
def pull(*, remote: str | None = None, repo: PathLike | None = None) -> tuple[FetchReport, CheckoutReport]:
    """`gitmodel pull`: fetch, then checkout; what each step did."""
    from gitmodel.transfer import pull as transfer

    return transfer.pull(_repo(repo), remote)


@_strict
def tag(name: str, version: str | None = None, *, bump: str | None = None, rev: str | None = None,
        message: str | None = None, path: PathLike | None = None, push: bool = False,
        repo: PathLike | None = None) -> TagResult:
    """`gitmodel tag`: register a version (`NAME@vX.Y.Z`, an annotated tag).

    >>> gitmodel.tag("clf", "v1.0.0", message="baseline")"""
    from gitmodel.registry import tagging

    r = _repo(repo)
    return tagging.register(r, name, version, bump=bump, rev=rev, message=message,
                            path=os.fspath(path) if path is not None else None, push=push, cwd=_cwd_for(r, repo))


@_strict
def promote(name: str, version: str, stage: str, *, message: str | None = None, push: bool = False,
            repo: PathLike | None = None) -> TagResult:
    """`gitmodel promote`: assign a stage (`NAME#STAGE#N`)."""
    from gitmodel.registry import tagging

    return tagging.promote(_repo(repo), name, version, stage, message=message, push=push)


@_strict
def versions(name: str | None = None, *, repo: PathLike | None = None) -> list[dict[str, Any]]:
    """`gitmodel versions --json`: newest first."""
    from gitmodel.registry import state as registry

    r = _repo(repo)
    states = registry.all_states(r) if name is None else {name: registry.model_state(r, name)}
    return [registry.version_info(r, st, v).to_json() for st in states.values() for v in st.newest_first()]


@_strict
def rollback(name: str, to: str, *, repo: PathLike | None = None) -> RollbackResult:
    """`gitmodel rollback`: put an older version's artifact back, staged."""
    from gitmodel.registry.rollback import rollback as _rollback

    return _rollback(_repo(repo), name, to)


@_strict
def remote_add(name: str, url: str, *, default: bool = False, local: bool = False,
               repo: PathLike | None = None) -> RemoteChange:
    """`gitmodel remote add`: a folder path, s3://bucket/prefix or another
    fsspec URL; `local=True` keeps it (and any secret in it) in the
    git-ignored config.  Returns what was written (URL redacted).

    >>> gitmodel.remote_add("storage", "s3://team-models/clf", default=True)"""
    from gitmodel.remote import config as remotes

    return remotes.add(_repo(repo), name, url, default=default, local=local)
