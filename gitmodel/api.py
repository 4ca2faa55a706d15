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
another repository's path (or, for `load`, `open` and `load_tensors`, a git
URL: then the file is read whole).  `open` and `load_tensors` read a large
(chunked) file a chunk at a time, fetching from the remote only the chunks
a read covers.

`save` picks the format from the file name (gitmodel.serialize):
`.safetensors`, `.skops` and `.onnx` run no code when loaded; anything else
is joblib, which unpickles, and unpickling runs code.  `load` checks the
content hash before it deserialises, so what it loads is exactly what was
saved; `[security] pickle` ("allow", "verified", "never") decides whether a
pickle-based file loads at all.  `load`, `open`, `read_bytes` and
`load_tensors` take `verify=True`: nothing is read unless allowed signers
signed the tags that chose the version (gitmodel.registry.chosen), the
default for a stage with `require_signature = true`.
"""

from __future__ import annotations

import functools
import io
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any, BinaryIO, TypeVar, cast

if TYPE_CHECKING:
    from gitmodel.registry.chosen import Chosen
    from gitmodel.registry.rollback import RollbackResult
    from gitmodel.registry.tagging import TagResult
    from gitmodel.remote.config import RemoteChange
    from gitmodel.repo import Repo
    from gitmodel.store.cache import Cache
    from gitmodel.store.chunks import ChunkList
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
    """Serialise in the format the file name picks (gitmodel.serialize:
    .safetensors, .skops, .onnx, else joblib) into a temp file beside
    `path`, fsync, rename: an interrupted save leaves the previous artifact
    whole, and a refused object leaves nothing."""
    from gitmodel import serialize
    from gitmodel.platform.atomic import SaveFile

    folder = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    with SaveFile(folder, 0o666, umask=True) as f:  # a file the user made: their umask applies
        serialize.dump(obj, os.path.basename(path), f.file)
        f.commit(path)


@_strict
def save(obj: Any, path: PathLike, *, name: str | None = None, params: dict[str, Any] | None = None,
         metrics: dict[str, Any] | None = None, data: Sequence[PathLike] | None = None,
         repo: PathLike | None = None, stage: bool = True) -> Saved:
    """Serialise `obj` to `path` in the format its name picks
    (`.safetensors`: a dict of NumPy arrays or PyTorch tensors; `.skops`: a
    scikit-learn estimator; `.onnx`: an onnx.ModelProto; anything else,
    like `.pkl` or `.joblib`: joblib, which pickles) and track it as
    `gitmodel add` does; write `params` and `metrics` as JSON files; track the `data` paths
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
def _source(repo: PathLike | None, versions: bool = False) -> Iterator[tuple[Repo, bool]]:
    """(repository to read, whether it is a temporary clone of a URL).
    `versions`: a version reference is read, so a clone has every tag and
    the committed files the registry reads (transfer.get.clone_source)."""
    if repo is not None and _is_url(os.fspath(repo)):
        from gitmodel.transfer.get import clone_source

        tmp = tempfile.mkdtemp(prefix="gitmodel-api-")
        try:
            yield clone_source(os.fspath(repo), None, os.path.join(tmp, "repo.git"), versions=versions), True
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    else:
        yield _repo(repo), False


def _names_version(ref: PathLike, rev: str | None) -> bool:
    from gitmodel.registry import resolve as refs

    return refs.parse(os.fspath(ref)) is not None or (rev is not None and refs.parse(rev) is not None)


def _choose(r: Repo, ref: PathLike, rev: str | None, repo: PathLike | None, verify: bool,
            allowed_signers: PathLike | None) -> Chosen:
    """What the caller named, verified when asked or required
    (gitmodel.registry.chosen), before a byte of it is read."""
    from gitmodel.registry import chosen

    return chosen.choose(r, os.fspath(ref), rev, cwd=None if repo is not None else os.getcwd(), verify_it=verify,
                         allowed_signers=os.path.abspath(allowed_signers) if allowed_signers is not None else None)


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
def read_bytes(ref: PathLike, rev: str | None = None, *, repo: PathLike | None = None, verify: bool = False,
               allowed_signers: PathLike | None = None) -> bytes:
    """The content of a tracked file at any version, hash-checked, from the
    cache or else the remote; the workspace is not touched.  `verify`,
    `allowed_signers`: as for `load`."""
    return _read(ref, rev, repo, verify, allowed_signers)[1]


def _read(ref: PathLike, rev: str | None, repo: PathLike | None, verify: bool,
          allowed_signers: PathLike | None, pickle: str | None = None, loading: bool = False) -> tuple[str, bytes]:
    """(artifact path, its bytes).  `loading`: the bytes will be
    deserialised, so `[security] pickle` (at least as strict as `pickle`)
    decides whether a pickle-based file may be read at all."""
    with _source(repo, _names_version(ref, rev)) as (r, cloned):
        if cloned:
            r.cache = _temp_cache(r)
        chosen = _choose(r, ref, rev, repo, verify, allowed_signers)
        if loading:
            chosen = _pickle_gate(r, chosen, pickle, allowed_signers)
        at = chosen.at
        if cloned and at is None:
            at = "HEAD"
        oid, _, _ = _object_for(r, chosen.rel, at)
        chosen.check_oid(oid)
        if cloned:
            _fetch_from_source(r, at or "HEAD", [oid])
        else:
            _ensure(r, [oid], expand=False)
        return chosen.rel, r.cache.read_bytes(oid, verify=True)


def _pickle_gate(r: Repo, chosen: Chosen, floor: str | None, allowed_signers: PathLike | None) -> Chosen:
    """`chosen`, if its format runs no code or the pickle policy lets it
    load (verified first under "verified"); else UnsafeFormatError."""
    from gitmodel import serialize
    from gitmodel.registry import chosen as choice

    if not serialize.runs_code(chosen.rel):
        return chosen
    policy = serialize.pickle_policy(r.config.get("security"), floor)
    if policy == "never":
        raise serialize.UnsafeFormatError(
            f"{chosen.rel} is pickle-based, and [security] pickle = \"never\" refuses to load it (unpickling runs "
            f"code)", hint="save the model as .skops, .safetensors or .onnx (gitmodel.save picks by the name)")
    if policy == "verified":
        return choice.verify(r, chosen, allowed_signers=os.path.abspath(allowed_signers) if allowed_signers else None,
                             why='[security] pickle = "verified" unpickles only a verified version')
    return chosen


@_strict
def load(ref: PathLike, rev: str | None = None, *, repo: PathLike | None = None, verify: bool = False,
         allowed_signers: PathLike | None = None, pickle: str | None = None) -> Any:
    """Load a model saved with `save` at any version, in the format its
    file name picks (gitmodel.serialize):

    >>> gitmodel.load("clf#prod")                      # the version in stage prod
    >>> gitmodel.load("clf@latest")
    >>> gitmodel.load("models/clf.pkl", rev="clf@v1.0.0")
    >>> gitmodel.load("clf#prod", verify=True)         # only if allowed signers chose it

    `verify=True` refuses (SignatureError, one line) unless the tags that
    decide the reference are signed by allowed signers (`gitmodel verify`),
    before a byte of the model is read; a stage with `require_signature =
    true` is always verified.  `allowed_signers`: a pinned file to trust
    instead of the repository's committed one (a URL's is the source's).

    The content hash is checked before anything is deserialised.  A
    pickle-based file (.pkl, .joblib, any suffix but .safetensors, .skops,
    .onnx) runs code as it loads: `[security] pickle` in the committed
    config ("allow", "verified": only a verified version, "never") decides
    whether it loads; `pickle=` can make that stricter, never looser."""
    from gitmodel import serialize

    rel, data = _read(ref, rev, repo, verify, allowed_signers, pickle, loading=True)
    return serialize.load(data, rel, rel if rev is None else f"{rel} at {rev}")


@_strict
def open(path: PathLike, rev: str | None = None, mode: str = "rb", *, repo: PathLike | None = None,
         encoding: str | None = None, verify: bool = False, allowed_signers: PathLike | None = None
         ) -> IO[Any]:
    """Open any tracked file (a model, a data file, a file inside a tracked
    folder) at any version for reading, without touching the workspace.

    >>> with gitmodel.open("data/train.csv", rev="clf@v1.0.0", mode="r") as f:
    ...     header = f.readline()

    The stream is seekable.  A whole file is hash-checked before it is
    returned.  A chunked file (a large one) is read a chunk at a time, each
    chunk checked against the hash its chunk list gives it: when the cache
    lacks the file and the default remote has it as chunks, only the chunks
    a read covers are downloaded (into the cache, where the next read finds
    them), and reading it through to the end checks the whole file's hash.
    `verify`, `allowed_signers`: as for `load` (checked before the file is
    opened)."""
    from gitmodel.errors import GitmodelError

    if mode not in ("rb", "r"):
        raise GitmodelError(f"gitmodel.open reads only: mode must be 'rb' or 'r', not {mode!r}")
    if repo is not None and _is_url(os.fspath(repo)):
        stream: IO[Any] = io.BytesIO(_read(path, rev, repo, verify, allowed_signers)[1])
    else:
        r = _repo(repo)
        chosen = _choose(r, path, rev, repo, verify, allowed_signers)
        oid, size, label = _object_for(r, chosen.rel, chosen.at)
        chosen.check_oid(oid)
        raw = _stream(r, oid, size, label)
        # A remote's chunks come a read at a time: a small buffer keeps a
        # readline from downloading much past the line.
        stream = io.BufferedReader(raw, _LAZY_BUFFER) if isinstance(raw, _Fetching) else raw
    return io.TextIOWrapper(stream, encoding=encoding or "utf-8") if mode == "r" else stream


_LAZY_BUFFER = 64 << 10


def _stream(r: Repo, oid: str, size: int, label: str) -> BinaryIO | _Fetching:
    """A seekable stream of a tracked file's object: from the cache (fetched
    whole first when it lacks it), or, for a chunked file the cache lacks
    and the default remote has as chunks, fetched a chunk at a time."""
    from gitmodel.errors import CorruptObjectError

    if r.cache.missing([oid]):
        lazy = _remote_chunked(r, oid, size, label)
        if lazy is not None:
            return lazy
        _ensure(r, [oid], expand=False)
    # Loose or packed: hashed in place, then streamed (objects are immutable
    # once named).  Chunked: its list was checked against the whole file
    # when it entered the cache, and each read checks the chunks it rebuilds.
    if not r.cache.is_chunked(oid) and r.cache.hash_of(oid) != oid:
        raise CorruptObjectError(f"cache object {oid} is corrupt", hint="run `gitmodel fsck`")
    return r.cache.open(oid)


def _remote_chunked(r: Repo, oid: str, size: int, label: str) -> _Fetching | None:
    """The default remote's chunked copy of `oid` as a stream that fetches
    chunks on demand, or None when the remote has no chunk list for it."""
    from gitmodel.remote.known import KnownObjects
    from gitmodel.remote.spec import open_remote, spec_from_config
    from gitmodel.store import chunks, chunkstore

    if size < chunkstore.MIN_THRESHOLD:
        return None  # never chunked: not worth a request
    spec = spec_from_config(r.config, None, r.root)
    remote = open_remote(spec, r.config.link)
    try:
        data = remote.get_list(oid, size)
        if data is None:
            remote.close()
            return None
        # The remote's list stays in this stream, out of the cache's
        # chunked/ folder (a list there means the whole file is in the
        # cache) until the whole file has been read and verified.
        cl = chunks.loads(data, oid, f"{label} on {remote.where}", size)
    except BaseException:
        remote.close()
        raise
    known = KnownObjects(r.cache.root, remote.name, remote.identity)
    jobs = spec.jobs() or remote.default_jobs

    def fetch(objs: list[str]) -> None:
        from gitmodel.transfer.fetch import fetch_wanted
        from gitmodel.transfer.wanted import Wanted

        if not os.path.isdir(r.cache.tmp):
            r.cache.ensure()
        with r.lock:
            fetch_wanted(r.cache, remote, Wanted(files={o: (0, f"{label} (a chunk)") for o in objs}), jobs, known,
                         None, strict=True)

    def complete() -> None:
        # Read through and verified against its oid, every chunk now in the
        # cache: the file is complete here, and its list may say so (the
        # next open needs no remote).  Under the lock, so no gc runs between
        # the check and the list.
        with r.lock:
            if not r.cache.chunks.has_list(oid) and not r.cache.chunks.missing_objects(cl):
                try:
                    r.cache.chunks.write_list(cl)
                except OSError:
                    pass  # a cache this process cannot write: the next open asks the remote again

    return _Fetching(r.cache, cl, fetch, remote.close, f"{label} on {remote.where}", complete)


class _Fetching(io.RawIOBase):
    """A chunked file whose chunk list came from a remote, read through the
    cache: before each read, the chunk objects it covers that the cache
    lacks are fetched (one batch per read, ranged reads of the remote's
    packs), then the cache's ChunkedReader rebuilds them, each checked
    against its raw oid.  Bytes read in order from the start are hashed too,
    so a file read through to its end is checked against its oid (and then
    its list is published in the cache: the file is all there)."""

    def __init__(self, cache: Cache, cl: ChunkList, fetch: Callable[[list[str]], None], close: Callable[[], None],
                 where: str, complete: Callable[[], None]) -> None:
        super().__init__()
        from gitmodel.store import oid as oidmod

        self.cache = cache
        self.list = cl
        from gitmodel.store.chunkstore import ChunkedReader

        self.reader = ChunkedReader(cache.chunks, cl)
        self._fetch = fetch
        self._close = close
        self._complete = complete  # called once the whole file was read and verified
        self.where = where
        self._hasher = oidmod.new_hasher()
        self._hashed = 0  # bytes from the start fed to the hasher

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self.reader.seek(offset, whence)

    def tell(self) -> int:
        return self.reader.tell()

    def prefetch(self, ranges: Iterable[tuple[int, int]]) -> None:
        """Fetch, in one batch, what the byte ranges `[start, end)` need."""
        objs: dict[str, None] = {}
        for start, end in ranges:
            if end > start:
                for c in self.reader.chunks_for(start, end):
                    objs.update(dict.fromkeys(c.chain))
        lacking = self.cache.missing(objs)
        if lacking:
            self._fetch(lacking)

    def readinto(self, buffer: memoryview | bytearray) -> int:  # type: ignore[override]
        from gitmodel.errors import CorruptObjectError
        from gitmodel.store import oid as oidmod

        start = self.reader.tell()
        self.prefetch([(start, min(start + len(buffer), self.list.size))])
        n = self.reader.readinto(buffer)
        if n and start == self._hashed:
            self._hasher.update(memoryview(buffer)[:n])
            self._hashed += n
            if self._hashed == self.list.size:
                if oidmod.from_hasher(self._hasher) != self.list.oid:
                    raise CorruptObjectError(f"{self.where}: its chunks rebuild a different file than "
                                             f"{self.list.oid}",
                                             hint="run `gitmodel fsck -r` on a clone that pushed it")
                self._complete()
        return n

    def readall(self) -> bytes:
        # The rest of the file in one batch of downloads, not one per 8 KiB read.
        self.prefetch([(self.reader.tell(), self.list.size)])
        return super().readall()

    def close(self) -> None:
        if not self.closed:
            self._close()
        super().close()


# -- safetensors ----------------------------------------------------------------------

# safetensors dtype -> numpy's (little-endian, as the format stores them).
_NUMPY_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1",
                 "U64": "<u8", "U32": "<u4", "U16": "<u2", "U8": "u1", "BOOL": "?"}


@_strict
def load_tensors(path: PathLike, names: Sequence[str] | None = None, rev: str | None = None, *,
                 repo: PathLike | None = None, verify: bool = False,
                 allowed_signers: PathLike | None = None) -> dict[str, Any]:
    """Tensors of a safetensors file at any version, as numpy arrays:

    >>> gitmodel.load_tensors("model.safetensors", ["lm_head.weight"], rev="llm@v2.0.0")

    Reads the header, then only the byte ranges of the tensors named (all
    of them when `names` is None).  For a chunked file the cache lacks,
    that downloads the chunks of those tensors and of the header, not the
    file; each chunk is checked against its hash.  Needs numpy.
    `verify`, `allowed_signers`: as for `load`."""
    try:
        import numpy as np
    except ImportError:
        from gitmodel.errors import GitmodelError

        raise GitmodelError("gitmodel.load_tensors needs numpy", hint="pip install numpy") from None
    with _source(repo) as (r, cloned):
        if cloned:
            data = _read(path, rev, repo, verify, allowed_signers)[1]
            f: BinaryIO | _Fetching = io.BytesIO(data)
            label, size = os.fspath(path), len(data)
        else:
            chosen = _choose(r, path, rev, repo, verify, allowed_signers)
            oid, size, label = _object_for(r, chosen.rel, chosen.at)
            chosen.check_oid(oid)
            f = _stream(r, oid, size, label)
        with f:
            tensors = _safetensors_header(f, size, label if rev is None else f"{label} at {rev}")
            wanted = list(tensors) if names is None else list(dict.fromkeys(names))
            unknown = [n for n in wanted if n not in tensors]
            if unknown:
                from gitmodel.errors import GitmodelError

                some = ", ".join(sorted(tensors)[:5]) + (", ..." if len(tensors) > 5 else "")
                raise GitmodelError(f"{label}: no tensor named {unknown[0]!r}"
                                    + (f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""),
                                    hint=f"it has {len(tensors)}: {some}" if tensors else "it has no tensors")
            if isinstance(f, _Fetching):
                f.prefetch(tensors[n][:2] for n in wanted)
            # Every stream here has readinto (a file, BytesIO, a BufferedReader,
            # _Fetching): a tensor is read into its own buffer, never copied twice.
            readinto = f.readinto if isinstance(f, _Fetching) else cast(io.BufferedIOBase, f).readinto
            out: dict[str, Any] = {}
            for n in wanted:
                start, end, dtype, shape = tensors[n]
                buf = bytearray(end - start)  # writable arrays, as safetensors' own loader gives
                view, got = memoryview(buf), 0
                f.seek(start)
                while got < len(buf):
                    k = readinto(view[got:])
                    if not k:
                        from gitmodel.errors import CorruptObjectError

                        raise CorruptObjectError(f"{label}: ends inside tensor {n!r}", hint="run `gitmodel fsck`")
                    got += k
                view.release()
                out[n] = np.frombuffer(buf, dtype=np.dtype(dtype)).reshape(shape)
            return out


def _safetensors_header(f: BinaryIO | _Fetching, size: int, label: str
                        ) -> dict[str, tuple[int, int, str, tuple[int, ...]]]:
    """name -> (start, end, numpy dtype, shape) of each tensor, from the
    header of the safetensors file open as `f` (of `size` bytes); anything
    malformed is refused with one line."""
    from gitmodel.errors import GitmodelError
    from gitmodel.store import chunker

    def bad(why: str) -> GitmodelError:
        return GitmodelError(f"{label} is not a safetensors file we can read ({why})")

    f.seek(0)
    head = f.read(9)
    n = chunker.header_length(head, size)
    if n is None:
        raise bad("no header")
    f.seek(8)
    raw = f.read(n)
    layout = chunker.header_layout(raw, size) if len(raw) == n else None
    if layout is None:
        raise bad("its header is malformed")
    header = json.loads(raw)  # well-formed: header_layout parsed it
    out: dict[str, tuple[int, int, str, tuple[int, ...]]] = {}
    for name, start, end, _ in layout:
        info = header[name]
        dtype, shape = info["dtype"], info.get("shape")
        if not isinstance(shape, list) or len(shape) > 64 or not all(type(d) is int and d >= 0 for d in shape):
            raise bad(f"tensor {name!r} has no valid shape")
        if dtype not in _NUMPY_DTYPES:
            raise GitmodelError(f"{label}: tensor {name!r} is {dtype}, which numpy has no type for",
                                hint="read its bytes with gitmodel.open")
        count = 1
        for d in shape:
            count *= d
        if count * chunker.DTYPE_SIZE[dtype] != end - start:
            raise bad(f"tensor {name!r}: its shape and dtype do not fill its {end - start:,} bytes")
        out[name] = (start, end, _NUMPY_DTYPES[dtype], tuple(shape))
    return out


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
        message: str | None = None, path: PathLike | None = None, push: bool = False, sign: bool | None = None,
        repo: PathLike | None = None) -> TagResult:
    """`gitmodel tag`: register a version (`NAME@vX.Y.Z`, an annotated tag);
    `sign` as for `promote`.

    >>> gitmodel.tag("clf", "v1.0.0", message="baseline")"""
    from gitmodel.registry import tagging

    r = _repo(repo)
    return tagging.register(r, name, version, bump=bump, rev=rev, message=message,
                            path=os.fspath(path) if path is not None else None, push=push, cwd=_cwd_for(r, repo),
                            sign=sign)


@_strict
def promote(name: str, version: str, stage: str, *, message: str | None = None, push: bool = False,
            sign: bool | None = None, repo: PathLike | None = None) -> TagResult:
    """`gitmodel promote`: assign a stage (`NAME#STAGE#N`).  `sign`: True
    signs the tag with the user's git signing set-up (`git tag -s`), False
    refuses to, None follows `[registry] sign` and the stage's
    `require_signature`."""
    from gitmodel.registry import tagging

    return tagging.promote(_repo(repo), name, version, stage, message=message, push=push, sign=sign)


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
