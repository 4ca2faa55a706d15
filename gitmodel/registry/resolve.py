"""Version references: `clf@v1.2.0`, `clf@latest`, `clf#prod` -> a commit.

The shortcut grammar is GTO's: `NAME@vX.Y.Z`, `NAME@latest` (or
`@greatest`), `NAME#STAGE`.  `gitmodel.git.revs.resolve_commit` calls
`commit_for` first, so every command and API call that takes a revision
takes these too.  A string that only looks like a reference (a branch named
`x@latest`) still reaches git when no model of that name has any tags.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from gitmodel.errors import GitmodelError
from gitmodel.registry.grammar import DIRNAME, NAME, VERSION, check_version
from gitmodel.repo import Repo

if TYPE_CHECKING:
    from gitmodel.registry.state import ModelState, Version

_REF_RE = re.compile(rf"^(?P<model>(?:{DIRNAME}:)?{NAME})"
                     rf"(?:#(?P<stage>{NAME})|@(?P<version>latest|greatest|{VERSION}))$")


@dataclass(frozen=True)
class VersionRef:
    model: str
    version: str | None = None
    stage: str | None = None
    latest: bool = False

    def __str__(self) -> str:
        if self.stage:
            return f"{self.model}#{self.stage}"
        return f"{self.model}@{'latest' if self.latest else self.version}"


def parse(text: str) -> VersionRef | None:
    """The reference `text` spells, or None when it is not one."""
    m = _REF_RE.match(text)
    if m is None:
        return None
    if m["stage"]:
        return VersionRef(m["model"], stage=m["stage"])
    if m["version"] in ("latest", "greatest"):
        return VersionRef(m["model"], latest=True)
    return VersionRef(m["model"], version=m["version"])


def pick(state: ModelState, ref: VersionRef, text: str, *, deregistered: bool = False) -> Version:
    """The version of `state` that `ref` names; one-line errors otherwise.
    A deregistered version is refused unless `deregistered` (show does)."""
    name = state.name
    if not state.versions:
        raise GitmodelError(f"{text}: model {name!r} has no versions",
                            hint="see `gitmodel versions` for the models here")
    if ref.latest:
        v = state.latest()
        if v is None:
            raise GitmodelError(f"{text}: model {name!r} has no registered version",
                                hint=f"create one with `gitmodel tag {name}`")
        return v
    if ref.stage:
        holder = state.stages.get(ref.stage)
        if holder is None:
            held = ", ".join(state.stages) or "none"
            raise GitmodelError(f"{text}: no version of {name} is in stage {ref.stage} (stages held now: {held})",
                                hint=f"assign it with `gitmodel promote {name} VERSION {ref.stage}`")
        return state.versions[holder]
    assert ref.version is not None
    v = state.versions.get(ref.version)
    if v is None or not v.registered:
        known = ", ".join(x.name for x in state.newest_first()[:5]) or "none"
        raise GitmodelError(f"{text}: model {name!r} has no version {ref.version} (newest: {known})",
                            hint=f"see `gitmodel versions {name}`")
    if v.deregistered and not deregistered:
        raise GitmodelError(f"{text}: {name} {ref.version} was deregistered (tag {name}@{ref.version}!)",
                            hint=f"see `gitmodel history {name}`")
    return v


def resolve(repo: Repo, text: str) -> Version:
    """The version a reference string names."""
    from gitmodel.registry.state import model_state

    ref = parse(text)
    if ref is None:
        raise GitmodelError(f"{text!r} is not a version reference: use NAME@v1.2.0, NAME@latest or NAME#STAGE")
    return pick(model_state(repo, ref.model), ref, text)


def resolve_version(repo: Repo, text: str) -> tuple[ModelState, Version]:
    """What `show` accepts: a reference, a bare model name (its latest
    version), or the exact name of any registry tag (the version it marks)."""
    from gitmodel.registry.grammar import parse_tag
    from gitmodel.registry.state import model_state

    ref = parse(text)
    if ref is not None:
        state = model_state(repo, ref.model)
        return state, pick(state, ref, text, deregistered=True)
    tag = parse_tag(text)
    if tag is not None:
        state = model_state(repo, tag.model)
        event = next((e for e in state.events if e.tag == text), None)
        if event is None:
            raise GitmodelError(f"{text}: no such annotated tag", hint=f"see `gitmodel history {tag.model}`")
        if tag.version is not None and tag.version in state.versions:
            return state, state.versions[tag.version]
        v = state.by_commit(event.commit)
        if v is None:  # a deprecation tag: the commit it marks may hold no version
            raise GitmodelError(f"{text} marks no version of {tag.model}", hint=f"see `gitmodel versions {tag.model}`")
        return state, v
    state = model_state(repo, text)
    if state.events:
        return state, pick(state, VersionRef(text, latest=True), text)
    raise GitmodelError(f"{text!r} is neither a model with versions nor a version reference "
                        f"(NAME@v1.2.0, NAME@latest, NAME#STAGE)", hint="see `gitmodel versions`")


def commit_for(repo: Repo, rev: str) -> str | None:
    """The commit id a version reference names, or None when `rev` is not
    one (then it is git's to resolve)."""
    from gitmodel.registry.state import model_state

    ref = parse(rev)
    if ref is None:
        return None
    state = model_state(repo, ref.model)
    if not state.events and _git_knows(repo, rev):
        return None
    return pick(state, ref, rev).commit


def _git_knows(repo: Repo, rev: str) -> bool:
    import pygit2

    from gitmodel.git.revs import git

    try:
        git(repo).revparse_single(rev)
    except (KeyError, ValueError, pygit2.GitError, pygit2.InvalidSpecError):
        return False
    return True


def find_version(state: ModelState, text: str) -> Version:
    """A version named by `v1.2.0`, `latest`, or a full reference to this model."""
    ref = parse(text)
    if ref is not None:
        if ref.model != state.name:
            raise GitmodelError(f"{text} names model {ref.model}, not {state.name}")
        return pick(state, ref, text)
    if text in ("latest", "greatest"):
        return pick(state, VersionRef(state.name, latest=True), text)
    check_version(text)
    return pick(state, VersionRef(state.name, version=text), text)
