"""The registry, read: model versions and stages from GTO's annotated tags.

Tag names follow GTO's grammar (`gitmodel.registry.grammar`).  Only
annotated tags count (GTO ignores lightweight ones).  `read_events` is the
one reader of version and stage tags: `log`, `metrics --all-tags` and the
read commands all go through it (and gc through `tag_messages`, the same
walk over tag objects).  The events of one model fold into its state
(`build_state`): its versions, which version holds each stage, and whether
it is deprecated.

Which version holds a stage follows GTO too: among the versions whose latest
event for that stage is an assignment, the one assigned most recently.  So
re-assigning an older version is a deploy-side rollback, and unassigning the
holder hands the stage back to the previous one.  A deregistered version
holds no stage.

Everything is read in-process with pygit2 (500 versions in a few
milliseconds).  A version's tag message (written by
`gitmodel.registry.tagging`) ends with the snapshot block that
`gitmodel.registry.snapshot` parses back.  `list_versions` and `history`
return dataclasses (`VersionInfo`, `EventInfo`; `show`'s `ShowInfo` is in
`gitmodel.registry.show`) whose `to_json` is the commands' `--json`.
Resolving references (`clf#prod`) is `gitmodel.registry.resolve`, above this
module.  Writing lives elsewhere:
`gitmodel.registry.tagging` (tag, promote, deprecate) and
`gitmodel.registry.rollback`.
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, NamedTuple

from gitmodel.errors import GitmodelError, UnsafePathError, refuse
from gitmodel.registry import declarations as models
from gitmodel.registry.declarations import Model
from gitmodel.registry.grammar import Action, SemVer, TagName, parse_tag
from gitmodel.registry.signers import AllowedSigners, Claim, claim, keys
from gitmodel.registry.snapshot import Item, Snapshot, parse_snapshot, snapshot_at
from gitmodel.repo import Repo

if TYPE_CHECKING:
    import pygit2

# Tie-break for events in the same second without counters: a version is
# registered before a stage can be assigned to it.
_PRIORITY = {Action.CREATE: 0, Action.REGISTER: 1, Action.ASSIGN: 2, Action.UNASSIGN: 3,
             Action.DEREGISTER: 4, Action.DEPRECATE: 5}


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
    """ISO 8601 for a git time; raises ValueError for a time or zone no
    calendar holds (`date_problem` says so first for tags)."""
    tz = _dt.timezone(_dt.timedelta(minutes=offset))
    return _dt.datetime.fromtimestamp(time, tz).isoformat()


def date_problem(time: int, offset: int) -> str | None:
    """Why a tagger date cannot be shown (None: it can).  A tag object is
    anyone's bytes: `tagger A <a> 99999999999999 +0000` is accepted by git
    and libgit2, and is past year 9999, which no datetime holds."""
    try:
        iso_date(time, offset)
    except (ValueError, OverflowError, OSError):
        return f"its tagger date ({time} s, zone {offset:+d} min) is out of range"
    return None


class _Unreadable(NamedTuple):
    """A tag object libgit2 refuses to parse (a tagger timestamp beyond
    2^63, say): its raw message still counts for gc, and read_events names it."""

    message: str
    why: str


def _annotated(g: pygit2.Repository, target: pygit2.Oid | str) -> Iterator[pygit2.Tag | _Unreadable]:
    """The annotated tag objects at `target`, outermost first (a tag of a
    tag is two); nothing for a ref to a commit or a missing object."""
    import pygit2

    try:
        obj = g[target]
    except (KeyError, ValueError, TypeError, pygit2.GitError) as e:
        bad = _unreadable(g, target, e)
        if bad is not None:
            yield bad
        return  # symbolic, dangling, or not an object id
    while isinstance(obj, pygit2.Tag):
        yield obj
        inner = obj.target
        try:
            obj = g[inner]
        except (KeyError, ValueError, pygit2.GitError) as e:
            bad = _unreadable(g, inner, e)
            if bad is not None:
                yield bad
            return


def _ignore(tag: str, why: str) -> None:
    """A tag no reader can use, refused by name (one line, exit 1) and left out."""
    refuse(GitmodelError(f"tag {tag[:200]}: {why}, so it is ignored",
                         hint=f"delete it with `git tag -d {tag[:200]}` if it is not yours"))


def _unreadable(g: pygit2.Repository, target: pygit2.Oid | str, error: Exception) -> _Unreadable | None:
    """The raw message of a tag object that exists but does not parse."""
    import pygit2

    try:
        kind, raw = g.odb.read(target)
    except (KeyError, ValueError, TypeError, pygit2.GitError):
        return None
    if kind != pygit2.enums.ObjectType.TAG:
        return None
    _, _, message = bytes(raw).partition(b"\n\n")
    return _Unreadable(message.decode("utf-8", "replace"), " ".join(str(error).split())[:200])


def read_events(repo: Repo, model: str | None = None) -> list[Event]:
    """Every annotated tag of the grammar (of one model when given), oldest
    first; in-process, one tag object read per matching tag name.  The one
    reader of version and stage tags: `log`, `metrics` and everything else
    that asks what a tag means read it through here."""
    import pygit2

    from gitmodel.git.revs import git

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
        obj = next(_annotated(g, ref.target), None)
        if obj is None:
            continue  # lightweight tags carry no author or date: GTO ignores them, so do we
        if isinstance(obj, _Unreadable):
            _ignore(tag, f"git cannot read its tag object ({obj.why})")
            continue
        try:
            commit = obj.peel(pygit2.Commit)
        except (ValueError, pygit2.GitError, pygit2.InvalidSpecError):
            continue  # a tag of a tree or blob marks no version
        tagger = obj.tagger
        time, offset = (tagger.time, tagger.offset) if tagger else (0, 0)
        problem = date_problem(time, offset)
        if problem is not None:
            # Every reader shows or sorts by the date: the tag is left out, said once.
            _ignore(tag, problem)
            continue
        out.append(Event(tag, parsed, str(commit.id), time, offset, tagger.name if tagger else "",
                         tagger.email if tagger else "", obj.message or ""))
    out.sort(key=Event.order)
    return out


def tag_messages(g: pygit2.Repository) -> Iterator[str]:
    """The message of every annotated tag object any ref reaches, of the
    grammar or not, nested ones too: what gc keeps alive is every oid a
    version's snapshot names, and it must not miss one because a tag's name
    is foreign or it was re-tagged."""
    for name in g.references:
        try:
            target = g.references[name].target
        except (KeyError, ValueError):
            continue
        for obj in _annotated(g, target):
            yield obj.message or ""


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


# -- what a version holds ----------------------------------------------------------

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
    path = models.gto_path(repo, where.commit, state.name) if where is not None else None
    return Model(state.name, path) if path else None


def snapshot_of(repo: Repo, state: ModelState, version: Version) -> Snapshot | None:
    """The version's recorded snapshot, or for a version tagged by another
    tool, what its commit holds for the model's declaration."""
    if version.snapshot is not None:
        return version.snapshot
    model = model_for(repo, state, version)
    if model is None:
        return None
    from gitmodel.git.revs import git

    try:
        import pygit2

        commit = git(repo)[version.commit].peel(pygit2.Commit)
        snap, _ = snapshot_at(repo, model, commit, version.name)
    except (GitmodelError, KeyError, ValueError):
        return None
    return snap


def key_metrics(snap: Snapshot | None, limit: int = 3) -> dict[str, object]:
    """The first few numeric metrics, in the file's own order."""
    from gitmodel.formats import is_number

    if snap is None:
        return {}
    out: dict[str, object] = {}
    for k, v in snap.metrics.items():
        if is_number(v):
            out[k] = v
            if len(out) == limit:
                break
    return out


# -- what the read commands return ------------------------------------------------
# Typed results; `to_json` is what `--json` prints, key for key in this order.

@dataclass(frozen=True)
class VersionInfo:
    """One version as `versions` lists it."""

    model: str
    version: str  # v1.2.0, or the commit id of a stage holder that was never registered
    tag: str | None  # its registration tag
    commit: str
    date: str  # ISO 8601, the tagger's
    author: str
    author_email: str
    registered: bool
    deregistered: bool
    stages: list[str]  # held now
    model_deprecated: bool
    artifact: Item | None
    metrics: dict[str, object]
    key_metrics: dict[str, object]
    signed_by: Claim | None = None  # what its version tag's signature names (not checked: `gitmodel verify`)

    def to_json(self) -> dict[str, object]:
        return {
            "model": self.model, "version": self.version, "tag": self.tag, "commit": self.commit,
            "date": self.date, "author": self.author, "author_email": self.author_email,
            "registered": self.registered, "deregistered": self.deregistered, "stages": list(self.stages),
            "model_deprecated": self.model_deprecated,
            "artifact": self.artifact.as_dict() if self.artifact else None,
            "metrics": dict(self.metrics),
            "key_metrics": dict(self.key_metrics),
            "signed_by": self.signed_by.to_json() if self.signed_by else None,
        }


@dataclass(frozen=True)
class EventInfo:
    """One registry event as `history` lists it."""

    date: str
    model: str
    event: Action
    version: str | None  # for a stage event, the version at its commit (if any)
    stage: str | None
    commit: str
    author: str
    author_email: str
    tag: str
    message: str  # the tag message's first line
    signed_by: Claim | None = None  # what the tag's signature names (not checked: `gitmodel verify`)

    def to_json(self) -> dict[str, object]:
        return {"date": self.date, "model": self.model, "event": self.event.value, "version": self.version,
                "stage": self.stage, "commit": self.commit, "author": self.author,
                "author_email": self.author_email, "tag": self.tag, "message": self.message,
                "signed_by": self.signed_by.to_json() if self.signed_by else None}


_LOAD = AllowedSigners((), "")  # "read the committed allowed signers" (None: there are none)


def version_info(repo: Repo, state: ModelState, v: Version, allowed: AllowedSigners | None = _LOAD) -> VersionInfo:
    """One version as `versions` shows it; `allowed` names the keys of signatures."""
    snap = snapshot_of(repo, state, v)
    if allowed is _LOAD:
        allowed = keys(repo)
    return VersionInfo(v.model, v.name, v.tag, v.commit, v.event.date, v.event.author, v.event.email,
                       v.registered, v.deregistered, list(v.stages), state.deprecated,
                       snap.artifact if snap else None, dict(snap.metrics) if snap else {}, key_metrics(snap),
                       claim(v.event.message, allowed) if v.registered else None)


def list_versions(repo: Repo, name: str | None = None, include_inactive: bool = False) -> list[VersionInfo]:
    """`versions [NAME]`: every model's (or one model's) versions, newest
    first.  An unknown model is an error; a declared one without versions
    gives an empty list."""
    if name is not None:
        state = model_state(repo, name)
        if not state.events and (not os.path.isdir(repo.config.dir) or models.find(repo, name) is None):
            raise GitmodelError(f"unknown model {name!r}: no version tags and no declaration",
                                hint="see `gitmodel versions` for the models here")
        states = {name: state}
    else:
        states = all_states(repo)
    out = []
    allowed = keys(repo)
    for st in states.values():
        for v in st.newest_first(include_inactive):
            try:
                out.append(version_info(repo, st, v, allowed))
            except UnsafePathError as e:
                # A tag message whose snapshot names control space: that
                # version is refused by name (one line, exit 1), the rest listed.
                refuse(e)
    return out


def event_info(e: Event, state: ModelState | None = None, allowed: AllowedSigners | None = None) -> EventInfo:
    version = e.name.version
    if version is None and state is not None and e.action in (Action.ASSIGN, Action.UNASSIGN):
        v = state.by_commit(e.commit)
        version = v.name if v else None
    return EventInfo(e.date, e.name.model, e.action, version, e.name.stage, e.commit, e.author, e.email, e.tag,
                     e.headline, claim(e.message, allowed))


def history(repo: Repo, name: str | None = None) -> list[EventInfo]:
    """Every registry event, newest first (GTO's order)."""
    states = {name: model_state(repo, name)} if name else all_states(repo)
    if name and not states[name].events:
        raise GitmodelError(f"model {name!r} has no version tags", hint="see `gitmodel versions` for the models here")
    allowed = keys(repo)
    rows = [(e.order(), event_info(e, st, allowed)) for st in states.values() for e in st.events]
    rows.sort(key=lambda r: r[0], reverse=True)
    return [r for _, r in rows]
