"""Model versions and stages as annotated git tags, in GTO's grammar.

The tag names are those of GTO (iterative/gto), so GTO, and anything that
reads GTO repositories, understands ours, and we read theirs:

    clf@v1.2.0          register version v1.2.0 (the tag points at its commit)
    clf@v1.2.0!         deregister it
    clf#prod#7          assign stage prod to the version at the tag's commit
    clf#prod!#8         unassign it
    clf@deprecated      deprecate the model (`#N` added when it was done before)

`#N` is one counter per model, increasing over all of its counted tags, so
the order of stage events survives tags created within the same second.
Only annotated tags count (GTO ignores lightweight ones); tags that do not
follow the grammar are ignored, never an error.

Which version holds a stage follows GTO too: among the versions whose latest
event for that stage is an assignment, the one assigned most recently.  So
re-assigning an older version is a deploy-side rollback, and unassigning the
holder hands the stage back to the previous one.  A deregistered version
holds no stage.

Everything is read in-process with pygit2 (500 versions in a few
milliseconds); tags are *created* with `git tag -a`, so the user's git
config, signing and hooks apply.  A version's tag message starts with GTO's
line ("Registering artifact clf version v1.2.0"), then a readable summary,
then a `gitmodel-snapshot:` line and a JSON block that `show` parses back:
the artifact's oid and size, the data oids, params and metrics.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
from dataclasses import dataclass, field
from enum import Enum
from functools import cached_property
from typing import TYPE_CHECKING, Any

from . import gitops, models
from . import pointer as ptr
from .errors import GitmodelError, ObjectMissingError
from .lock import RepoLock
from .models import Model, Snapshot
from .progress import human_size
from .repo import Repo

if TYPE_CHECKING:
    import pygit2

    from .progress import Progress

# -- grammar ----------------------------------------------------------------

NAME = r"[a-z0-9](?:[a-z0-9\-/]*[a-z0-9])?"
# GTO writes `dir:name` artifacts as `dir=name` in tag names.
DIRNAME = r"[a-z0-9\-_./]+"
_IDENT = r"(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)"
_BUILD = r"[0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*"
VERSION = rf"v(?:0|[1-9]\d*)\.(?:0|[1-9]\d*)\.(?:0|[1-9]\d*)(?:-{_IDENT}(?:\.{_IDENT})*)?(?:\+{_BUILD})?"
_SEMVER_RE = re.compile(rf"^v(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-({_IDENT}(?:\.{_IDENT})*))?(?:\+({_BUILD}))?$")
_TAG_RE = re.compile(
    rf"^(?P<model>(?:{DIRNAME}=)?{NAME})"
    rf"(?:(?:#(?P<stage>{NAME})|@(?P<version>{VERSION}))(?P<cancel>!?)"
    rf"|@(?P<deprecated>deprecated)|@(?P<created>created))"
    rf"(?:#(?P<counter>[0-9]+))?$")
SNAPSHOT_MARKER = "gitmodel-snapshot:"
BUMPS = ("major", "minor", "patch")


class Action(str, Enum):
    CREATE = "create"
    REGISTER = "register"
    DEREGISTER = "deregister"
    ASSIGN = "assign"
    UNASSIGN = "unassign"
    DEPRECATE = "deprecate"


# Tie-break for events in the same second without counters: a version is
# registered before a stage can be assigned to it.
_PRIORITY = {Action.CREATE: 0, Action.REGISTER: 1, Action.ASSIGN: 2, Action.UNASSIGN: 3,
             Action.DEREGISTER: 4, Action.DEPRECATE: 5}


@dataclass(frozen=True)
class TagName:
    action: Action
    model: str  # GTO's `dir:name` form when the tag says `dir=name`
    version: str | None = None
    stage: str | None = None
    counter: int | None = None

    def format(self) -> str:
        art = self.model.replace(":", "=")
        base = {
            Action.REGISTER: f"{art}@{self.version}",
            Action.DEREGISTER: f"{art}@{self.version}!",
            Action.ASSIGN: f"{art}#{self.stage}",
            Action.UNASSIGN: f"{art}#{self.stage}!",
            Action.DEPRECATE: f"{art}@deprecated",
            Action.CREATE: f"{art}@created",
        }[self.action]
        return base if self.counter is None else f"{base}#{self.counter}"


def parse_tag(name: str) -> TagName | None:
    """The meaning of a tag name, or None when it does not follow the grammar."""
    m = _TAG_RE.match(name)
    if m is None:
        return None
    model = m["model"].replace("=", ":")
    counter = int(m["counter"]) if m["counter"] else None
    cancel = m["cancel"] == "!"
    if m["version"]:
        return TagName(Action.DEREGISTER if cancel else Action.REGISTER, model, version=m["version"], counter=counter)
    if m["stage"]:
        return TagName(Action.UNASSIGN if cancel else Action.ASSIGN, model, stage=m["stage"], counter=counter)
    if m["deprecated"]:
        return TagName(Action.DEPRECATE, model, counter=counter)
    return TagName(Action.CREATE, model, counter=counter)


@dataclass(frozen=True)
class SemVer:
    major: int
    minor: int
    patch: int
    pre: str | None = None
    build: str | None = None

    @classmethod
    def parse(cls, text: str) -> SemVer | None:
        m = _SEMVER_RE.match(text)
        if m is None:
            return None
        return cls(int(m[1]), int(m[2]), int(m[3]), m[4], m[5])

    def __str__(self) -> str:
        s = f"v{self.major}.{self.minor}.{self.patch}"
        if self.pre:
            s += f"-{self.pre}"
        if self.build:
            s += f"+{self.build}"
        return s

    def key(self) -> tuple[Any, ...]:
        """Semver precedence: a release sorts after its pre-releases;
        numeric identifiers compare as numbers, below alphanumeric ones."""
        if self.pre is None:
            pre: tuple[Any, ...] = (1,)
        else:
            pre = (0, tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in self.pre.split(".")))
        return (self.major, self.minor, self.patch, pre)

    def bump(self, part: str) -> SemVer:
        if part == "major":
            return SemVer(self.major + 1, 0, 0)
        if part == "minor":
            return SemVer(self.major, self.minor + 1, 0)
        if self.pre is not None:  # v1.1.0-rc.1 -> v1.1.0: the release it led to
            return SemVer(self.major, self.minor, self.patch)
        return SemVer(self.major, self.minor, self.patch + 1)


def check_version(text: str) -> str:
    if SemVer.parse(text) is None:
        hint = f" (did you mean v{text}?)" if SemVer.parse(f"v{text}") else ""
        raise GitmodelError(f"version {text[:80]!r} is not valid: use v + semantic version, like v1.2.0 or "
                            f"v2.0.0-rc.1{hint}")
    return text


def check_stage(repo: Repo, stage: str) -> str:
    models.check_name(stage, "stage name")
    allowed = models.allowed_stages(repo)
    if allowed is not None and stage not in allowed:
        raise GitmodelError(f"stage {stage!r} is not allowed here: [registry] stages in "
                            f"{os.path.relpath(repo.config.path, repo.root)} lists {', '.join(allowed) or 'none'}")
    return stage


# -- reading ------------------------------------------------------------------

@dataclass
class Event:
    """One annotated tag of the grammar."""

    tag: str
    name: TagName
    commit: str
    time: int  # tagger time, seconds since the epoch
    offset: int  # tagger time zone, minutes east of UTC
    author: str
    email: str
    message: str

    @property
    def action(self) -> Action:
        return self.name.action

    @property
    def date(self) -> str:
        return iso_date(self.time, self.offset)

    def order(self) -> tuple[Any, ...]:
        """Oldest first: tagger time, then GTO's counter, then action, then
        version precedence (tags made within one second keep their order)."""
        return self._order

    @cached_property
    def _order(self) -> tuple[Any, ...]:
        semver = SemVer.parse(self.name.version) if self.name.version else None
        return (self.time, self.name.counter or 0, _PRIORITY[self.action], semver.key() if semver else ())

    @property
    def headline(self) -> str:
        return self.message.strip().split("\n", 1)[0] if self.message.strip() else ""


def iso_date(time: int, offset: int) -> str:
    tz = _dt.timezone(_dt.timedelta(minutes=offset))
    return _dt.datetime.fromtimestamp(time, tz).isoformat()


def read_events(repo: Repo, model: str | None = None) -> list[Event]:
    """Every annotated tag of the grammar (of one model when given), oldest
    first; in-process, one tag object read per matching tag name."""
    import pygit2

    from .revs import git

    g = git(repo)
    in_tag = model.replace(":", "=") if model is not None else None
    out: list[Event] = []
    for ref in g.references.iterator(pygit2.enums.ReferenceFilter.TAGS):
        tag = ref.name[len("refs/tags/"):]
        if in_tag is not None and not (tag.startswith(in_tag) and tag[len(in_tag):len(in_tag) + 1] in ("@", "#")):
            continue
        parsed = parse_tag(tag)
        if parsed is None or (model is not None and parsed.model != model):
            continue
        try:
            obj = g.get(ref.target)
        except (ValueError, pygit2.GitError):
            continue
        if not isinstance(obj, pygit2.Tag):
            continue  # lightweight tags carry no author or date: GTO ignores them, so do we
        try:
            commit = obj.peel(pygit2.Commit)
        except (ValueError, pygit2.GitError, pygit2.InvalidSpecError):
            continue  # a tag of a tree or blob marks no version
        tagger = obj.tagger
        out.append(Event(tag, parsed, str(commit.id), tagger.time if tagger else 0, tagger.offset if tagger else 0,
                         tagger.name if tagger else "", tagger.email if tagger else "", obj.message or ""))
    out.sort(key=Event.order)
    return out


def parse_snapshot(message: str) -> Snapshot | None:
    """The snapshot block of a version's tag message (None when there is none
    or it is damaged: a tag message is foreign input, never an error)."""
    at = message.rfind("\n" + SNAPSHOT_MARKER + "\n")
    if at < 0:
        return None
    rest = message[at + len(SNAPSHOT_MARKER) + 2:].lstrip()
    try:
        # raw_decode stops at the end of the JSON value: a signed tag's
        # signature may follow it.
        data, _ = json.JSONDecoder().raw_decode(rest)
        return Snapshot.from_dict(data)
    except ValueError:
        return None


@dataclass(eq=False)
class Version:
    model: str
    name: str  # v1.2.0, or a commit id for a stage assigned to an unregistered commit (GTO allows it)
    commit: str
    event: Event  # its registration (or first stage event when not registered)
    registered: bool = True
    deregistered: bool = False
    stages: list[str] = field(default_factory=list)  # held now

    @property
    def active(self) -> bool:
        return self.registered and not self.deregistered

    @property
    def tag(self) -> str | None:
        return self.event.tag if self.registered else None

    @property
    def semver(self) -> SemVer | None:
        return SemVer.parse(self.name)

    @cached_property
    def snapshot(self) -> Snapshot | None:
        snap = parse_snapshot(self.event.message) if self.registered else None
        if snap is not None and (snap.model != self.model or snap.commit != self.commit):
            return None  # a message copied from another tag describes something else
        return snap

    def ref(self) -> str:
        return f"{self.model}@{self.name}" if self.registered else self.commit[:10]


@dataclass
class ModelState:
    name: str
    events: list[Event]
    versions: dict[str, Version]
    stages: dict[str, str]  # stage -> name of the version holding it now
    deprecated: bool

    def latest(self) -> Version | None:
        """The greatest active version by semver precedence (GTO's `latest`)."""
        active = [v for v in self.versions.values() if v.active and v.semver is not None]
        return max(active, key=lambda v: v.semver.key() if v.semver else ()) if active else None

    def newest_first(self, include_inactive: bool = False) -> list[Version]:
        # A commit that holds a stage without a registered version (GTO's
        # --skip-registration) is listed too: it is what the stage deploys.
        vs = [v for v in self.versions.values() if v.active or include_inactive or (not v.registered and v.stages)]
        return sorted(vs, key=lambda v: (v.event.order(), v.semver.key() if v.semver else ()), reverse=True)

    def by_commit(self, commit: str) -> Version | None:
        found = [v for v in self.versions.values() if v.commit == commit]
        found.sort(key=lambda v: (v.active, v.registered, v.event.order()))
        return found[-1] if found else None

    @cached_property
    def newest_snapshot(self) -> Snapshot | None:
        """The snapshot of the newest version that has one."""
        return next((v.snapshot for v in self.newest_first(include_inactive=True) if v.snapshot), None)

    def next_counter(self) -> int:
        return max((e.name.counter or 0 for e in self.events), default=0) + 1

    def find(self, text: str) -> Version:
        """A version named by `v1.2.0`, `latest`, or a full reference to this model."""
        from . import refs

        ref = refs.parse(text)
        if ref is not None:
            if ref.model != self.name:
                raise GitmodelError(f"{text} names model {ref.model}, not {self.name}")
            return refs.pick(self, ref, text)
        if text in ("latest", "greatest"):
            return refs.pick(self, refs.VersionRef(self.name, latest=True), text)
        check_version(text)
        return refs.pick(self, refs.VersionRef(self.name, version=text), text)


def build_state(name: str, events: list[Event]) -> ModelState:
    """Fold the events of one model (oldest first) into its current state."""
    versions: dict[str, Version] = {}
    deprecated_at: tuple[Any, ...] | None = None
    registered_at: tuple[Any, ...] | None = None
    for e in events:
        if e.action == Action.REGISTER and e.name.version and e.name.version not in versions:
            versions[e.name.version] = Version(name, e.name.version, e.commit, e)
            registered_at = e.order()
        elif e.action == Action.DEPRECATE:
            deprecated_at = e.order()
    for e in events:
        if e.action == Action.DEREGISTER and e.name.version:
            v = versions.get(e.name.version)
            if v is None:
                v = versions[e.name.version] = Version(name, e.name.version, e.commit, e)
            v.deregistered = True
    # Stage events name a commit; its version is whatever was registered there.
    latest_for: dict[tuple[str, str], tuple[int, Action]] = {}
    state = ModelState(name, events, versions, {}, False)
    at_commit: dict[str, Version | None] = {}
    for i, e in enumerate(events):
        if e.action not in (Action.ASSIGN, Action.UNASSIGN) or not e.name.stage:
            continue
        if e.commit not in at_commit:
            at_commit[e.commit] = state.by_commit(e.commit)
        v = at_commit[e.commit]
        if v is None:
            v = at_commit[e.commit] = versions[e.commit] = Version(name, e.commit, e.commit, e, registered=False)
        latest_for[(v.name, e.name.stage)] = (i, e.action)
    holders: dict[str, tuple[int, str]] = {}
    for (vname, stage), (i, action) in latest_for.items():
        if action != Action.ASSIGN or versions[vname].deregistered:
            continue
        if stage not in holders or holders[stage][0] < i:
            holders[stage] = (i, vname)
    state.stages = {stage: vname for stage, (_, vname) in sorted(holders.items())}
    for stage, vname in state.stages.items():
        versions[vname].stages.append(stage)
    state.deprecated = deprecated_at is not None and (registered_at is None or deprecated_at > registered_at)
    return state


def model_state(repo: Repo, name: str) -> ModelState:
    return build_state(name, read_events(repo, name))


def all_states(repo: Repo) -> dict[str, ModelState]:
    by_model: dict[str, list[Event]] = {}
    for e in read_events(repo):
        by_model.setdefault(e.name.model, []).append(e)
    return {name: build_state(name, evs) for name, evs in sorted(by_model.items())}


def _lock(repo: Repo) -> RepoLock:
    """The repository lock, also in a clone where `gitmodel init` never ran
    (stage tags need no config or cache, only somewhere to keep the lock)."""
    os.makedirs(repo.cache.root, exist_ok=True)
    return repo.lock


def _tag_exists(repo: Repo, tag: str) -> bool:
    from .revs import git

    return f"refs/tags/{tag}" in git(repo).references


# -- what a version holds ----------------------------------------------------------

_ARTIFACTS_YAML: dict[str, dict[str, Any]] = {}  # blob id -> parsed GTO artifacts.yaml


def _gto_path(repo: Repo, commit: str, name: str) -> str | None:
    """The artifact path GTO's `artifacts.yaml` declares at `commit`, if any."""
    import pygit2

    from . import formats
    from .revs import git

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
    return path.strip("/") if isinstance(path, str) and path else None


def model_for(repo: Repo, state: ModelState, version: Version | None = None) -> Model | None:
    """What `name` is made of: its declaration, else the newest snapshot's
    (a clone without the config, or a model declared on another branch), else
    GTO's artifacts.yaml at the version's commit."""
    declared = models.find(repo, state.name) if os.path.isdir(repo.config.dir) else None
    if declared is not None:
        return declared
    snap = version.snapshot if version is not None else None
    if snap is None:
        snap = state.newest_snapshot
    if snap is not None:
        return Model(state.name, snap.artifact.path, tuple(i.path for i in snap.data), snap.params_file,
                     snap.metrics_file)
    # One artifacts.yaml read per version at most: GTO repositories list fast too.
    where = version or next(iter(state.newest_first(include_inactive=True)), None)
    path = _gto_path(repo, where.commit, state.name) if where is not None else None
    return Model(state.name, path) if path else None


def snapshot_of(repo: Repo, state: ModelState, version: Version) -> Snapshot | None:
    """The version's recorded snapshot, or for a version tagged by another
    tool, what its commit holds for the model's declaration."""
    if version.snapshot is not None:
        return version.snapshot
    model = model_for(repo, state, version)
    if model is None:
        return None
    from .revs import git

    try:
        import pygit2

        commit = git(repo)[version.commit].peel(pygit2.Commit)
        snap, _ = models.snapshot_at(repo, model, commit, version.name)
    except (GitmodelError, KeyError, ValueError):
        return None
    return snap


def key_metrics(snap: Snapshot | None, limit: int = 3) -> dict[str, Any]:
    """The first few numeric metrics, in the file's own order."""
    from .formats import is_number

    if snap is None:
        return {}
    out: dict[str, Any] = {}
    for k, v in snap.metrics.items():
        if is_number(v):
            out[k] = v
            if len(out) == limit:
                break
    return out


def version_info(repo: Repo, state: ModelState, v: Version) -> dict[str, Any]:
    """One version as `versions --json` shows it."""
    snap = snapshot_of(repo, state, v)
    art = snap.artifact if snap else None
    return {
        "model": v.model, "version": v.name, "tag": v.tag, "commit": v.commit,
        "date": v.event.date, "author": v.event.author, "author_email": v.event.email,
        "registered": v.registered, "deregistered": v.deregistered, "stages": list(v.stages),
        "model_deprecated": state.deprecated,
        "artifact": art.as_dict() if art else None,
        "metrics": dict(snap.metrics) if snap else {},
        "key_metrics": key_metrics(snap),
    }


def list_versions(repo: Repo, name: str | None = None, include_inactive: bool = False) -> list[dict[str, Any]]:
    """`versions [NAME]`: every model's (or one model's) versions, newest
    first, as `version_info` dicts.  An unknown model is an error; a declared
    one without versions gives an empty list."""
    if name is not None:
        state = model_state(repo, name)
        if not state.events and (not os.path.isdir(repo.config.dir) or models.find(repo, name) is None):
            raise GitmodelError(f"unknown model {name!r}: no version tags and no declaration; "
                                f"see `gitmodel versions` for the models here")
        states = {name: state}
    else:
        states = all_states(repo)
    return [version_info(repo, st, v) for st in states.values() for v in st.newest_first(include_inactive)]


def event_info(e: Event, state: ModelState | None = None) -> dict[str, Any]:
    version = e.name.version
    if version is None and state is not None and e.action in (Action.ASSIGN, Action.UNASSIGN):
        v = state.by_commit(e.commit)
        version = v.name if v else None
    return {"date": e.date, "model": e.name.model, "event": e.action.value, "version": version,
            "stage": e.name.stage, "commit": e.commit, "author": e.author,
            "author_email": e.email, "tag": e.tag, "message": e.headline}


def history(repo: Repo, name: str | None = None) -> list[dict[str, Any]]:
    """Every registry event, newest first (GTO's order)."""
    states = {name: model_state(repo, name)} if name else all_states(repo)
    if name and not states[name].events:
        raise GitmodelError(f"model {name!r} has no version tags; see `gitmodel versions` for the models here")
    rows = [(e.order(), event_info(e, st)) for st in states.values() for e in st.events]
    rows.sort(key=lambda r: r[0], reverse=True)
    return [r for _, r in rows]


def show(repo: Repo, text: str) -> dict[str, Any]:
    """Everything recorded for one version, with its lineage."""
    from . import refs

    state, version = refs.resolve_version(repo, text)
    snap = snapshot_of(repo, state, version)
    info = version_info(repo, state, version)
    info["message"] = _user_message(version.event.message) if version.registered else ""
    info["recorded"] = version.snapshot is not None  # False: read from the commit, not the tag
    info["stage_history"] = [event_info(e, state) for e in state.events
                             if e.action in (Action.ASSIGN, Action.UNASSIGN) and e.commit == version.commit]
    info["deprecated_model"] = state.deprecated
    if snap is not None:
        info["snapshot"] = snap.as_dict()
        produced_by: dict[str, list[str]] = {}
        for other in all_states(repo).values():
            for ov in other.versions.values():
                osnap = ov.snapshot
                if osnap is None or ov is version or not ov.registered:
                    continue
                for item in snap.data:
                    if item.oid and item.oid == osnap.artifact.oid:
                        produced_by.setdefault(item.path, []).append(ov.ref())
        info["lineage"] = {
            "data": [{**i.as_dict(), "versions": sorted(produced_by.get(i.path, []))} for i in snap.data],
            "params_file": snap.params_file, "params": snap.params,
            "metrics_file": snap.metrics_file,
        }
    return info


def _user_message(message: str) -> str:
    """The tag message above the summary gitmodel wrote."""
    at = message.find("\n" + SNAPSHOT_MARKER + "\n")
    text = message if at < 0 else message[:at]
    blocks = text.strip().split("\n\n")
    return "\n\n".join(b for b in blocks if not b.startswith("artifact: ")).strip()


# -- writing ------------------------------------------------------------------

@dataclass
class TagResult:
    tag: str
    action: Action
    model: str
    version: str
    commit: str
    stage: str | None = None
    declared: bool = False  # the model was declared in the config by this call
    pushed: bool = False
    warnings: list[str] = field(default_factory=list)
    snapshot: Snapshot | None = None  # what a registration recorded


def _summary(snap: Snapshot) -> str:
    def values(d: dict[str, Any], limit: int = 12) -> str:
        shown = [f"{k}={v}" for k, v in list(d.items())[:limit]]
        more = f", ... ({len(d) - limit} more)" if len(d) > limit else ""
        return ", ".join(shown) + more if shown else "(none)"

    def item(i: models.Item) -> str:
        if i.kind in ("file", "dir") and i.oid:
            files = f"{i.files} files, " if i.kind == "dir" else ""
            return f"{i.path} ({files}{human_size(i.size or 0)}, {i.oid})"
        if i.kind == "git":
            return f"{i.path} (in git, {i.git})"
        return f"{i.path} (missing)"

    lines = [f"artifact: {item(snap.artifact)}"]
    lines += [f"data: {item(i)}" for i in snap.data]
    if snap.params_file:
        lines.append(f"params ({snap.params_file}): {values(snap.params)}")
    if snap.metrics_file:
        lines.append(f"metrics ({snap.metrics_file}): {values(snap.metrics)}")
    return "\n".join(lines)


def version_message(snap: Snapshot, message: str | None) -> str:
    head = message.strip() if message and message.strip() else \
        f"Registering artifact {snap.model} version {snap.version}"
    body = json.dumps(snap.as_dict(), indent=1, sort_keys=False)
    return f"{head}\n\n{_summary(snap)}\n\n{SNAPSHOT_MARKER}\n{body}\n"


def _create_tag(repo: Repo, tag: str, commit: str, message: str) -> None:
    """`git tag -a`: the user's git config (signing, identity) applies."""
    from . import faults

    faults.point("registry:before-tag")
    gitops.run(["tag", "-a", "--cleanup=whitespace", "-F", "-", tag, commit], cwd=repo.root,
               input=message.encode("utf-8"))


def _git_remote(repo: Repo) -> str:
    names = gitops.run(["remote"], cwd=repo.root).stdout.decode().split()
    if "origin" in names:
        return "origin"
    if len(names) == 1:
        return names[0]
    if not names:
        raise GitmodelError("--push: this repository has no git remote; add one with "
                            "`git remote add origin URL`, or tag without --push")
    raise GitmodelError(f"--push: several git remotes ({', '.join(names)}) and none is origin; "
                        f"tag without --push, then `git push REMOTE TAG`")


def _push_plan(repo: Repo) -> str:
    """Check before anything is written that --push can work; returns the git remote."""
    try:
        from . import transfer  # noqa: F401
    except ImportError:
        raise GitmodelError("--push needs gitmodel's remote support, which this installation lacks; "
                            "tag without --push, then run `gitmodel push` and `git push --tags`") from None
    return _git_remote(repo)


def _push(repo: Repo, tag: str, git_remote: str) -> None:
    """Objects first, then the tag: a tag on the remote always has its data.
    Runs after the repository lock is released: git's pre-push hook is
    another gitmodel process that takes it."""
    from . import transfer

    transfer.push(repo, remote=None, revs=[tag])
    gitops.run(["push", git_remote, f"refs/tags/{tag}:refs/tags/{tag}"], cwd=repo.root)


def _head_commit(repo: Repo) -> str | None:
    from .revs import git

    g = git(repo)
    try:
        return str(g.head.peel().id)
    except Exception:  # unborn branch, detached oddities: no HEAD commit to compare with
        return None


def _check_workspace(repo: Repo, model: Model, snap: Snapshot) -> None:
    """Refuse to tag HEAD while the workspace artifact differs from it."""
    from . import tracked, workspace

    pointer_rel = ptr.pointer_path(model.path)
    if not os.path.isfile(repo.abspath(pointer_rel)):
        return  # nothing checked out here (a sparse or tags-only clone): the commit speaks for itself
    current = ptr.read(repo.abspath(pointer_rel), pointer_rel)
    committed = snap.artifact.pointer
    if not current.same_content(committed):
        raise GitmodelError(f"{pointer_rel} has changes that are not committed; run `git commit` first "
                            f"(a version marks a commit), or pass --rev to tag another one")
    status = workspace.status_of(repo, tracked.Target(model.path, current))
    if status.state == workspace.MODIFIED:
        raise GitmodelError(f"{model.path} is modified and not re-added; run `gitmodel add {model.path}` and "
                            f"`git commit`, then tag")


def register(repo: Repo, name: str, version: str | None = None, *, bump: str | None = None,
             rev: str | None = None, message: str | None = None, path: str | None = None,
             push: bool = False, cwd: str | None = None) -> TagResult:
    """Create `name@vX.Y.Z` on `rev` (default HEAD) with the snapshot of
    what that commit holds.  With neither `version` nor `bump`: the patch
    after the latest version (v0.0.1 for the first, as GTO does)."""
    from .revs import resolve_commit

    repo.require_init()
    models.check_name(name)
    if version is not None and bump is not None:
        raise GitmodelError("give a VERSION or --bump, not both")
    if bump is not None and bump not in BUMPS:
        raise GitmodelError(f"--bump {bump!r}: use one of {', '.join(BUMPS)}")
    if version is not None:
        check_version(version)
    with repo.lock:
        state = model_state(repo, name)
        model = models.find(repo, name)
        declare = None
        if path is not None:
            wanted = models.make(repo, name, path, cwd=cwd)
            if model is None:
                model = declare = wanted
            elif model.path != wanted.path:
                raise GitmodelError(f"model {name!r} is declared with path {model.path}, not {wanted.path}; "
                                    f"change it with `gitmodel model add {name} {wanted.path} --replace`")
        if model is None:
            model = model_for(repo, state)
        if model is None:
            raise GitmodelError(f"unknown model {name!r}; declare it with `gitmodel model add {name} PATH`, "
                                f"or pass --path PATH")
        try:
            commit = resolve_commit(repo, rev or "HEAD")
        except GitmodelError:
            if rev is None:
                raise GitmodelError("there is no commit to tag yet; commit the model's pointer first "
                                    "(`git commit`)") from None
            raise
        sha = str(commit.id)
        if version is None:
            # From the greatest version ever registered: a deregistered
            # version's tag still exists, so its name cannot be reused.
            known = [v.semver for v in state.versions.values() if v.registered and v.semver is not None]
            greatest = max(known, key=SemVer.key) if known else None
            if greatest is not None:
                version = str(greatest.bump(bump or "patch"))
            else:
                version = {"major": "v1.0.0", "minor": "v0.1.0"}.get(bump or "", "v0.0.1")
        existing = state.versions.get(version)
        tag = TagName(Action.REGISTER, name, version=version).format()
        if existing is not None or _tag_exists(repo, tag):
            where = f" (commit {existing.commit[:10]})" if existing else ""
            raise GitmodelError(f"{name}@{version} exists already{where}; pick another version or use --bump")
        snap, warnings = models.snapshot_at(repo, model, commit, version)
        if sha == _head_commit(repo):
            _check_workspace(repo, model, snap)
        same = state.by_commit(sha)
        if same is not None and same.active:
            raise GitmodelError(f"commit {sha[:10]} is version {same.name} of {name} already; a commit holds one "
                                f"version (GTO's rule): commit the new model first, or pass --rev")
        git_remote = _push_plan(repo) if push else ""
        if declare is not None:
            models.declare(repo, declare)
        _create_tag(repo, tag, sha, version_message(snap, message))
        result = TagResult(tag, Action.REGISTER, name, version, sha, declared=declare is not None,
                           warnings=warnings, snapshot=snap)
    if push:
        _push(repo, tag, git_remote)
        result.pushed = True
    return result


def promote(repo: Repo, name: str, version: str, stage: str, *, message: str | None = None,
            push: bool = False) -> TagResult:
    """Assign `stage` to a version: `name#stage#N` on the version's commit."""
    models.check_name(name)
    check_stage(repo, stage)
    with _lock(repo):
        state = model_state(repo, name)
        if not state.versions:
            raise GitmodelError(f"model {name!r} has no versions; create one with `gitmodel tag {name}`")
        v = state.find(version)
        if state.stages.get(stage) == v.name:
            raise GitmodelError(f"{name} {v.name} is in stage {stage} already; nothing to do")
        tag = TagName(Action.ASSIGN, name, stage=stage, counter=state.next_counter()).format()
        git_remote = _push_plan(repo) if push else ""
        text = message.strip() if message and message.strip() else \
            f"Assigning stage {stage} to artifact {name} version {v.name}"
        _create_tag(repo, tag, v.commit, text + "\n")
        result = TagResult(tag, Action.ASSIGN, name, v.name, v.commit, stage=stage)
    if push:
        _push(repo, tag, git_remote)
        result.pushed = True
    return result


def deprecate(repo: Repo, name: str, version: str | None = None, *, stage: str | None = None,
              message: str | None = None, push: bool = False) -> TagResult:
    """GTO's `!` tags: unassign a stage (`stage`), deregister a version
    (`version`), or deprecate the whole model (neither)."""
    models.check_name(name)
    if stage is not None:
        models.check_name(stage, "stage name")
    with _lock(repo):
        state = model_state(repo, name)
        if not state.events:
            raise GitmodelError(f"model {name!r} has no version tags; see `gitmodel versions` for the models here")
        head = ""
        if stage is not None:
            if version is None:
                holder = state.stages.get(stage)
                if holder is None:
                    raise GitmodelError(f"no version of {name} is in stage {stage}; see `gitmodel versions {name}`")
                v = state.versions[holder]
            else:
                v = state.find(version)
            if stage not in v.stages:
                raise GitmodelError(f"{name} {v.name} is not in stage {stage} now; see `gitmodel history {name}`")
            tag = TagName(Action.UNASSIGN, name, stage=stage, counter=state.next_counter()).format()
            action, commit, vname = Action.UNASSIGN, v.commit, v.name
            head = f"Unassigning stage '{stage}' to artifact '{name}' version '{v.name}'"
        elif version is not None:
            check_version(version)
            v = state.find(version)  # refuses unknown and deregistered versions
            tag = TagName(Action.DEREGISTER, name, version=v.name).format()
            if _tag_exists(repo, tag):
                raise GitmodelError(f"tag {tag} exists already")
            action, commit, vname = Action.DEREGISTER, v.commit, v.name
            head = f"Deregistering artifact {name} version {v.name}"
        else:
            if state.deprecated:
                raise GitmodelError(f"model {name} is deprecated already")
            tag = TagName(Action.DEPRECATE, name).format()
            if _tag_exists(repo, tag):  # deprecated before, registered again since: GTO counts it
                tag = TagName(Action.DEPRECATE, name, counter=state.next_counter()).format()
            latest = state.latest()
            commit = latest.commit if latest else state.events[-1].commit
            action, vname = Action.DEPRECATE, ""
            head = f"Deprecating artifact '{name}'"
        git_remote = _push_plan(repo) if push else ""
        text = message.strip() if message and message.strip() else head
        _create_tag(repo, tag, commit, text + "\n")
        result = TagResult(tag, action, name, vname, commit, stage=stage)
    if push:
        _push(repo, tag, git_remote)
        result.pushed = True
    return result


# -- rollback -------------------------------------------------------------------

@dataclass
class RollbackResult:
    model: str
    version: str
    path: str
    pointer: ptr.Pointer
    changed: bool  # False: the workspace already held that version
    fetched: int = 0  # objects fetched from the remote
    restored: int = 0  # files placed in the workspace
    staged: bool = False


def _needed_oids(repo: Repo, pointer: ptr.Pointer) -> list[str]:
    """Objects missing from the cache for `pointer` (a directory's entries
    can only be listed once its manifest is here)."""
    from . import manifest

    if not repo.cache.has(pointer.oid):
        return [pointer.oid]
    if not pointer.is_dir:
        return []
    entries = manifest.loads(repo.cache.read_bytes(pointer.oid), f"manifest {pointer.oid}")
    return repo.cache.missing(sorted({e.oid for e in entries}))


def _fetch(repo: Repo, pointer: ptr.Pointer, ref: str, progress: Progress | None) -> int:
    """Bring the objects of `pointer` into the cache from the default remote."""
    missing = _needed_oids(repo, pointer)
    if not missing:
        return 0
    try:
        from . import transfer
    except ImportError:
        raise ObjectMissingError(f"the artifact of {ref} ({missing[0]}) is not in the cache and this "
                                 f"installation cannot fetch it; run `gitmodel pull` where the remote is "
                                 f"set up, then roll back again") from None
    report = transfer.fetch_oids(repo, missing, progress=progress)  # a manifest brings its files
    left = _needed_oids(repo, pointer)
    if left:
        raise ObjectMissingError(f"the artifact of {ref} is incomplete after fetching ({len(left)} objects "
                                 f"missing, first {left[0]}); run `gitmodel fetch --rev {ref}` and try again")
    return report.downloaded


def _clear_for(repo: Repo, rel: str, old: ptr.Pointer, new: ptr.Pointer) -> None:
    """Remove the workspace files of the version being replaced, so checkout
    can place the new ones.  Called only after status found them unchanged,
    and each one's content is made safe in the cache before it goes."""
    from . import manifest
    from .walk import walk

    absp = repo.abspath(rel)
    if not old.is_dir:
        if not os.path.lexists(absp) or (os.path.isdir(absp) and not os.path.islink(absp)):
            return
        if not repo.cache.has(old.oid):
            repo.cache.add_file(absp)
        os.unlink(absp)
        return
    if not os.path.isdir(absp):
        return
    keep: dict[str, tuple[str, bool]] = {}
    if new.is_dir:
        keep = {e.path: (e.oid, e.executable) for e in manifest.loads(repo.cache.read_bytes(new.oid), rel)}
    old_entries = {e.path: e for e in manifest.loads(repo.cache.read_bytes(old.oid), rel)}
    present = walk(repo.root, absp, rel)
    for p in sorted(present):
        e = old_entries.get(p)
        if e is None or keep.get(p) == (e.oid, e.executable):
            continue  # untracked extras stay; identical files need no move
        full = os.path.join(absp, p)
        if not repo.cache.has(e.oid):
            repo.cache.add_file(full)
        os.unlink(full)
    if not new.is_dir:
        for folder, _dirs, _files in os.walk(absp, topdown=False):
            try:
                os.rmdir(folder)
            except OSError:
                pass  # not empty: something untracked is left for the user


def rollback(repo: Repo, name: str, to: str, *, stage: bool = True,
             progress: Progress | None = None) -> RollbackResult:
    """Put version `to`'s pointer and artifact back in the workspace, staged
    and ready to commit, fetching the object first when the cache lacks it."""
    from . import ignore, tracked, workspace
    from .revs import pointer_at

    repo.require_init()
    models.check_name(name)
    with repo.lock:
        state = model_state(repo, name)
        if not state.versions:
            raise GitmodelError(f"model {name!r} has no versions to roll back to; see `gitmodel versions`")
        v = state.find(to)
        model = model_for(repo, state, v)
        snap = v.snapshot
        path = snap.artifact.path if snap is not None else model.path if model is not None else None
        if path is None:
            raise GitmodelError(f"model {name!r}: which path it tracks is unknown; declare it with "
                                f"`gitmodel model add {name} PATH`")
        ref = v.ref()
        try:
            new = pointer_at(repo, v.commit, path)
        except GitmodelError:
            raise GitmodelError(f"{ref}: its commit {v.commit[:10]} has no {ptr.pointer_path(path)}, so there "
                                f"is nothing to roll back to") from None
        pointer_rel = ptr.pointer_path(path)
        tracked.check_inside(repo, pointer_rel)
        old = ptr.try_read(repo.abspath(pointer_rel))
        status = workspace.status_of(repo, tracked.Target(path, old)) if old is not None else None
        absp = repo.abspath(path)
        if old is None and os.path.lexists(absp):
            raise GitmodelError(f"{path} exists but is not tracked by gitmodel; move it away before rolling back")
        if old is not None and status is not None:
            if old.is_dir and not repo.cache.has(old.oid) and os.path.isdir(absp):
                raise GitmodelError(f"the manifest of {path} is not in the cache, so its files cannot be "
                                    f"checked; run `gitmodel pull {path}` first")
            # Files added to a tracked folder are not at risk (they stay);
            # changed files are, and so is a file where a folder belongs.
            at_risk = bool(status.modified) or (status.state == workspace.MODIFIED and not status.added
                                                and not status.deleted)
            if at_risk or (old.is_dir and os.path.lexists(absp) and not os.path.isdir(absp)):
                raise GitmodelError(f"{path} has changes that are not recorded; run `gitmodel add {path}` (or "
                                    f"`gitmodel checkout --force {path}` to drop them) before rolling back")
            if new.same_content(old) and status.state == workspace.UNCHANGED:
                return RollbackResult(name, v.name, path, new, changed=False)
        fetched = _fetch(repo, new, ref, progress)
        if old is not None and not new.same_content(old):
            _clear_for(repo, path, old, new)
        if old is None or not new.same_content(old) or new.extra != old.extra:
            from .fsutil import write_atomic

            os.makedirs(os.path.dirname(repo.abspath(pointer_rel)) or repo.root, exist_ok=True)
            write_atomic(repo.abspath(pointer_rel), new.dumps().encode())
        to_stage = [pointer_rel]
        changed_ignore = ignore.add(repo.root, path)
        if changed_ignore:
            to_stage.append(changed_ignore)
        if stage:
            gitops.stage(repo.root, to_stage)
        report = workspace.checkout(repo, [path], cwd=repo.root, progress=progress)
        if report.skipped_modified or report.not_in_cache:
            left = (report.skipped_modified + report.not_in_cache)[0]
            raise GitmodelError(f"{ref}: the pointer is back but {left} could not be restored; "
                                f"run `gitmodel checkout {path}`")
    return RollbackResult(name, v.name, path, new, changed=True, fetched=fetched, restored=report.restored,
                          staged=stage)
