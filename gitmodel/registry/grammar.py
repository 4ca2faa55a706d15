"""GTO's tag grammar: what a registry tag's name means, and version and stage names.

The tag names are those of GTO (iterative/gto), so GTO, and anything that
reads GTO repositories, understands ours, and we read theirs:

    clf@v1.2.0          register version v1.2.0 (the tag points at its commit)
    clf@v1.2.0!         deregister it
    clf#prod#7          assign stage prod to the version at the tag's commit
    clf#prod!#8         unassign it
    clf@deprecated      deprecate the model (`#N` added when it was done before)

`#N` is one counter per model, increasing over all of its counted tags, so
the order of stage events survives tags created within the same second.
Tags that do not follow the grammar are ignored, never an error.

This module only parses and formats names (`parse_tag`, `TagName.format`),
orders versions (`SemVer`, and `version_order` for any tag's text) and
validates user input (`check_name`, `check_version`; stages against the
config's list: `declarations.check_stage`);
`gitmodel.registry.state` reads the tags, `gitmodel.registry.tagging`
creates them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum
from typing import Any

from gitmodel.errors import GitmodelError

# -- grammar ----------------------------------------------------------------

# GTO's artifact and stage names: lowercase letters, digits, '-' and '/',
# starting and ending with a letter or digit.  Ours follow it so that GTO
# reads every tag we write.
NAME = r"[a-z0-9](?:[a-z0-9\-/]*[a-z0-9])?"
NAME_RE = re.compile(rf"^{NAME}$")  # GTO's names, for models and stages


def check_name(name: str, what: str = "model name") -> str:
    if not NAME_RE.match(name) or "//" in name:
        raise GitmodelError(f"{what} {name[:80]!r} is not valid: use lowercase letters, digits, '-' and '/', "
                            f"starting and ending with a letter or digit (for example clf or team/clf-small)")
    return name

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


# Tag names and versions longer than this are no registry's: parse_tag and
# SemVer.parse say "not of the grammar" before any regular expression or
# int() sees them (int() refuses more than 4300 digits with a ValueError, and
# a packed ref's name has no length limit).
MAX_CHARS = 1000


class Action(str, Enum):  # noqa: UP042 (StrEnum would change str(Action.X), which messages use)
    CREATE = "create"
    REGISTER = "register"
    DEREGISTER = "deregister"
    ASSIGN = "assign"
    UNASSIGN = "unassign"
    DEPRECATE = "deprecate"


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
    if len(name) > MAX_CHARS:
        return None
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
        if len(text) > MAX_CHARS:
            return None
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


def version_order(text: str) -> tuple[Any, ...]:
    """Sort key for the version part of any tag: SemVer precedence, with the
    `v` optional so a plain git tag `1.2.10` sorts after `1.2.9` too; text
    that is no version sorts after every version, by its characters."""
    semver = SemVer.parse(text if text.startswith("v") else f"v{text}")
    return (0, semver.key()) if semver is not None else (1, text)


def check_version(text: str) -> str:
    if SemVer.parse(text) is None:
        hint = f" (did you mean v{text}?)" if SemVer.parse(f"v{text}") else ""
        raise GitmodelError(f"version {text[:80]!r} is not valid: use v + semantic version, like v1.2.0 or "
                            f"v2.0.0-rc.1{hint}")
    return text


