"""Metrics and params at any revision, and the differences between two.

Metrics and params are plain files committed beside the code, so reading
them at a revision is reading a blob from that revision's tree: done
in-process with pygit2, with no checkout and no `git` process per revision
(`metrics show --all-tags` over hundreds of tags stays well under a second).
Parsed files are memoised by blob id, since most tags share most files.

A revision is any git rev or a version reference (`clf@v1.0.0`, `clf#prod`):
everything goes through `gitmodel.git.revs.resolve_commit`. The pseudo-revision
`workspace` (`WORKSPACE`) reads the files on disk.

Each file at each revision is read independently: a file that is missing is
*absent* (not an error), a file that does not parse is an *error* carried
with its revision and path while the other files and revisions are still
read. Values that are not numbers are shown but never diffed.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gitmodel import formats
from gitmodel.errors import GitmodelError, ObjectMissingError, UnsafePathError
from gitmodel.git.revs import git, resolve_commit
from gitmodel.repo import Repo
from gitmodel.store import pointer as ptr

if TYPE_CHECKING:
    import pygit2

    from gitmodel.registry.declarations import Model

WORKSPACE = "workspace"
METRICS, PARAMS = "metrics", "params"

OK, ABSENT, ERROR = "ok", "absent", "error"
ADDED, REMOVED, MODIFIED, UNCHANGED = "added", "removed", "modified", "unchanged"


class _Absent:
    """A value missing at one side of a diff (distinct from a null value)."""

    _instance: _Absent | None = None

    def __new__(cls) -> _Absent:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "ABSENT"

    def __bool__(self) -> bool:
        return False


MISSING: Any = _Absent()


# -- which files ----------------------------------------------------------------


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    raise GitmodelError(f"expected a file name or a list of file names in .gitmodel/config.toml, "
                        f"found {type(value).__name__}", hint="fix the config")


def declared_files(repo: Repo, kind: str, model: str | None = None) -> list[str]:
    """Files of `kind` (METRICS or PARAMS): the model declarations then `[kind] files`.

    With `model`, only that model's declaration (falling back to `[kind] files`
    when the model declares none).  The declarations are the registry's
    (`gitmodel.registry.declarations`, which judges their paths): a bad one
    is the same one-line error here as in `versions` or `tag`.  `[kind] files`
    is judged here by the same rule (Repo.check_rel)."""
    from gitmodel.registry.declarations import all_models, declared_path

    out: list[str] = []
    decls = all_models(repo)
    if model is not None:
        if model not in decls:
            raise GitmodelError(f"no model named {model!r} is declared", hint="see `gitmodel model add --help`")
        out += _as_list(_file_of(decls[model], kind))
    else:
        for spec in decls.values():
            out += _as_list(_file_of(spec, kind))
    if not out or model is None:
        section = repo.config.get(kind, {})
        if isinstance(section, dict):
            where = f"{repo.config.path}: [{kind}] files"
            out += [repo.check_rel(declared_path(f), where) for f in _as_list(section.get("files"))]
    return list(dict.fromkeys(out))


def _file_of(model: Model, kind: str) -> str | None:
    return model.metrics if kind == METRICS else model.params if kind == PARAMS else None


def files_for(repo: Repo, kind: str, targets: Sequence[str] | None = None, model: str | None = None,
              required: bool = True) -> list[str]:
    """The files to read: `targets` (paths the user typed) or the declared ones."""
    if targets:
        return list(dict.fromkeys(repo.relpath(t) for t in targets))
    files = declared_files(repo, kind, model)
    if not files and required:
        raise GitmodelError(
            f"no {kind} files are declared",
            hint=f"pass --targets FILE, or add `[{kind}] files = [\"{kind}.json\"]` "
                 f"to .gitmodel/config.toml (or declare them on a model: `gitmodel model add`)")
    return files


# -- reading ------------------------------------------------------------------


@dataclass
class FileValues:
    path: str
    status: str  # OK | ABSENT | ERROR
    values: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"status": self.status}
        if self.status == OK:
            d["values"] = self.values
        if self.error is not None:
            d["error"] = self.error
        return d


@dataclass
class Snapshot:
    """The values of some files at one revision."""

    rev: str  # as the user typed it, or WORKSPACE
    commit: str | None  # full hex; None for the workspace
    files: dict[str, FileValues]

    @property
    def errors(self) -> list[str]:
        return [f"at {self.rev}, {f.path}: {f.error}" for f in self.files.values() if f.status == ERROR]

    def as_dict(self) -> dict[str, Any]:
        return {"rev": self.rev, "commit": self.commit,
                "files": {p: f.as_dict() for p, f in self.files.items()}}


class Reader:
    """Reads files at revisions, memoising parsed blobs by (blob id, path).

    One Reader per command: hundreds of tags usually share a handful of
    distinct metrics blobs, each parsed once."""

    def __init__(self, repo: Repo) -> None:
        self.repo = repo
        self._parsed: dict[tuple[str, str], FileValues] = {}

    def read(self, rev: str | None, files: Sequence[str]) -> Snapshot:
        if rev is None or rev == WORKSPACE:
            return Snapshot(WORKSPACE, None, {f: self._read_workspace(f) for f in files})
        commit = resolve_commit(self.repo, rev)
        return self.read_commit(rev, commit, files)

    def read_commit(self, rev: str, commit: pygit2.Commit, files: Sequence[str]) -> Snapshot:
        tree = commit.tree
        return Snapshot(rev, str(commit.id), {f: self._read_tree(tree, f) for f in files})

    def _read_tree(self, tree: pygit2.Tree, path: str) -> FileValues:
        import pygit2

        try:
            obj = tree[path]
        except KeyError:
            return self._read_tracked(tree, path)
        if not isinstance(obj, pygit2.Blob):
            return FileValues(path, ERROR, error="is a folder, not a file")
        key = (str(obj.id), path)
        hit = self._parsed.get(key)
        if hit is None:
            hit = self._parsed[key] = _parse(obj.data, path)
        return hit

    def _read_tracked(self, tree: pygit2.Tree, path: str) -> FileValues:
        """A metrics file tracked by gitmodel itself: read its object from the cache."""
        import pygit2

        try:
            obj = tree[ptr.pointer_path(path)]
        except KeyError:
            return FileValues(path, ABSENT)
        if not isinstance(obj, pygit2.Blob):
            return FileValues(path, ABSENT)
        try:
            p = ptr.loads(obj.data.decode("utf-8", "replace"), ptr.pointer_path(path))
            data = self.repo.cache.read_bytes(p.oid)
        except ObjectMissingError:
            return FileValues(path, ERROR, error=f"tracked by gitmodel and not in the cache; "
                                                 f"run `gitmodel fetch {path}`")
        except GitmodelError as e:
            return FileValues(path, ERROR, error=str(e))
        return _parse(data, path)

    def _read_workspace(self, path: str) -> FileValues:
        """The file on disk; never through a symlink that leads out of the
        work tree or into control space (a committed `metrics.json ->
        ~/.aws/credentials` must not be parsed and quoted): UnsafePathError,
        before the file is opened."""
        self.repo.check_rel(path)  # the parents
        full = self.repo.abspath(path)
        if os.path.islink(full):
            try:
                self.repo.check_real(full, path)  # the one judgement of where a symlink leads
            except UnsafePathError:
                raise UnsafePathError(f"{path}: is a symlink leading outside the repository or into its "
                                      f"control files; not read", hint="remove that symlink") from None
        try:
            with open(full, "rb") as f:
                data = f.read()
        except (FileNotFoundError, NotADirectoryError):
            return FileValues(path, ABSENT)
        except IsADirectoryError:
            return FileValues(path, ERROR, error="is a folder, not a file")
        except OSError as e:
            return FileValues(path, ERROR, error=e.strerror or str(e))
        return _parse(data, path)


def _parse(data: bytes, path: str) -> FileValues:
    try:
        return FileValues(path, OK, formats.load_bytes(data, path))
    except formats.FormatError as e:
        return FileValues(path, ERROR, error=e.detail)


def read(repo: Repo, revs: Iterable[str | None], files: Sequence[str]) -> list[Snapshot]:
    """Snapshots of `files` at each of `revs` (None or WORKSPACE: the files on disk)."""
    reader = Reader(repo)
    return [reader.read(rev, files) for rev in revs]


# -- tags -----------------------------------------------------------------------

def tagged_commits(repo: Repo, model: str | None = None) -> list[tuple[str, pygit2.Commit]]:
    """(tag name, commit) for each tag, oldest first, read in-process.

    A tag of GTO's grammar counts as the registry reads it (the one reader,
    `gitmodel.registry.state`): only the registration of an active version;
    stage, deregistration and deprecation tags point at commits a version tag
    already names.  Any other git tag counts as itself.  With `model`, that
    model's active versions (`MODEL@vX.Y.Z`), in version order."""
    import pygit2

    from gitmodel.registry.grammar import parse_tag, version_order
    from gitmodel.registry.state import all_states, model_state

    g = git(repo)
    if model is not None:
        versions = [v for v in model_state(repo, model).versions.values() if v.active]
        versions.sort(key=lambda v: version_order(v.name))
        return [(v.ref(), g[v.commit].peel(pygit2.Commit)) for v in versions]
    versions_tags = {v.tag for st in all_states(repo).values() for v in st.versions.values() if v.active}
    prefix = "refs/tags/"
    out: list[tuple[str, pygit2.Commit]] = []
    for ref in g.references:
        if not ref.startswith(prefix):
            continue
        name = ref[len(prefix):]
        if parse_tag(name) is not None and name not in versions_tags:
            continue
        try:
            commit = g.references[ref].peel(pygit2.Commit)
        except (pygit2.GitError, ValueError, KeyError, pygit2.InvalidSpecError):
            continue  # a tag of a tree or blob: nothing to read metrics from
        out.append((name, commit))
    out.sort(key=lambda nc: (nc[1].commit_time, _tag_sort_key(nc[0])))
    return out


def _tag_sort_key(name: str) -> tuple[Any, ...]:
    from gitmodel.registry.grammar import version_order

    base, _, version = name.rpartition("@")
    return (base, version_order(version)) if base else ("", version_order(name))


def history_commits(repo: Repo, rev: str = "HEAD", limit: int = 100) -> list[tuple[str, pygit2.Commit]]:
    """(short id, commit) along the first-parent history of `rev`, oldest first."""
    commit: pygit2.Commit | None = resolve_commit(repo, rev)
    out: list[tuple[str, pygit2.Commit]] = []
    while commit is not None and len(out) < limit:
        out.append((str(commit.id)[:7], commit))
        parents = commit.parents
        commit = parents[0] if parents else None
    out.reverse()
    return out


# -- diff -----------------------------------------------------------------------


@dataclass
class Change:
    path: str
    key: str
    old: Any  # MISSING when absent on the old side
    new: Any  # MISSING when absent on the new side
    status: str  # ADDED | REMOVED | MODIFIED | UNCHANGED

    @property
    def numeric(self) -> bool:
        return formats.is_number(self.old) and formats.is_number(self.new)

    @property
    def change(self) -> float | None:
        """new - old, for two numbers."""
        if not self.numeric:
            return None
        d: float = self.new - self.old
        return d

    @property
    def relative(self) -> float | None:
        """(new - old) / |old| as a fraction; None when old is 0 or not a number."""
        if not self.numeric or self.old == 0:
            return None
        return float((self.new - self.old) / abs(self.old))

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "key": self.key,
                "old": None if self.old is MISSING else self.old,
                "new": None if self.new is MISSING else self.new,
                "status": self.status, "change": self.change, "relative": self.relative}


def diff(old: Snapshot, new: Snapshot, include_unchanged: bool = False) -> list[Change]:
    """Key-by-key changes between two snapshots of the same files.

    A file that is absent or unreadable on one side contributes its keys as
    added/removed only when the other side is readable; unreadable files are
    reported through `Snapshot.errors`, not guessed at."""
    changes: list[Change] = []
    paths = list(dict.fromkeys([*old.files, *new.files]))
    for path in paths:
        a = old.files.get(path)
        b = new.files.get(path)
        if (a is not None and a.status == ERROR) or (b is not None and b.status == ERROR):
            continue
        av = a.values if a is not None else {}
        bv = b.values if b is not None else {}
        for key in dict.fromkeys([*av, *bv]):
            ov, nv = av.get(key, MISSING), bv.get(key, MISSING)
            if key not in av:
                status = ADDED
            elif key not in bv:
                status = REMOVED
            elif _same(ov, nv):
                status = UNCHANGED
            else:
                status = MODIFIED
            if status != UNCHANGED or include_unchanged:
                changes.append(Change(path, key, ov, nv, status))
    return changes


def _same(a: Any, b: Any) -> bool:
    # 1 and 1.0 are the same measurement; True and 1 are not the same value.
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return bool(a == b)


def diff_revs(repo: Repo, a: str | None, b: str | None, files: Sequence[str],
              include_unchanged: bool = False) -> tuple[Snapshot, Snapshot, list[Change]]:
    """Read `files` at `a` and `b` (None: workspace) and diff them."""
    reader = Reader(repo)
    sa, sb = reader.read(a, files), reader.read(b, files)
    return sa, sb, diff(sa, sb, include_unchanged)


# -- display --------------------------------------------------------------------


def fmt_value(value: Any, precision: int = 5) -> str:
    """A value for people: floats rounded to `precision` decimals, absent as '-'."""
    if value is MISSING:
        return "-"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return str(value)
        r = round(value, precision)
        if r == 0 and value != 0:
            return f"{value:.{max(precision, 1)}g}"  # 1e-06 stays visible rather than rounding to 0
        text = f"{r:.{precision}f}".rstrip("0").rstrip(".") if precision > 0 else f"{r:.0f}"
        return "0" if text in ("-0", "") else text
    if isinstance(value, (list, dict)):
        import json

        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return str(value)


def fmt_change(change: Change, precision: int = 5) -> str:
    """`+0.02 (+2.2%)`, or '-' when the values are not two numbers."""
    d = change.change
    if d is None:
        return "-"
    if d == 0:
        return "0"
    text = fmt_value(d, precision)
    if not text.startswith("-"):
        text = "+" + text
    rel = change.relative
    if rel is not None:
        text += f" ({rel * 100:+.{min(precision, 2)}f}%)"
    return text


def to_json(data: Any) -> str:
    """JSON text for --json output: strict JSON, so NaN and infinities (which
    Python's json reads from metrics files) are written as the strings "NaN",
    "Infinity" and "-Infinity" instead of bare tokens other parsers reject."""
    import json

    def clean(x: Any) -> Any:
        if isinstance(x, float) and not math.isfinite(x):
            return "NaN" if x != x else ("Infinity" if x > 0 else "-Infinity")
        if isinstance(x, dict):
            return {k: clean(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [clean(v) for v in x]
        return x

    return json.dumps(clean(data), indent=2, default=str, ensure_ascii=False)
