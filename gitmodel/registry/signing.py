"""Verifying who chose a version: `verify_ref(repo, "clf#prod")`.

A reference is decided by tags, and each of them must be signed by a key
the allowed-signers file lists (`gitmodel.registry.signers`), for a
principal allowed to sign it:

- `clf@v1.2.0`: its version tag (principals: `[registry] signers`, default
  anyone in the file).
- `clf@latest`: the latest version's tag, and every deregistration of a
  greater version (an unsigned `clf@v2.0.0!` would roll `latest` back).
- `clf#prod`: the stage tag that made the holder hold it (its latest
  assignment), every later stage tag that keeps another version out of the
  stage (an unassignment, or the deregistration of a version assigned after
  it: either rolls the stage back), and the holder's version tag.  Stage
  tags need a principal of `[registry.stage.prod] signers` (default: as for
  versions).  So a re-promotion by a foreign key fails: it is the latest.

Signatures are checked by git itself (`git verify-tag --raw`, with
`gpg.ssh.allowedSignersFile` set to a private copy of what the parser
accepted), so a tag whose message was changed after signing fails as git
says.  Only SSH signatures can be matched against the file: a tag signed
with OpenPGP or X.509 is named as such and refused.

The library never prints: `verify_ref` returns a `Verification`; its
`check()` raises `SignatureError` (one line) when it is not `ok`.
`verification_required` says whether a reference's stage asks for it by
default (`require_signature`), for `load`/`get` to call.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field

from gitmodel.errors import GitmodelError
from gitmodel.git import runner as gitops
from gitmodel.platform.atomic import write_atomic
from gitmodel.registry.grammar import Action
from gitmodel.registry.resolve import parse, pick
from gitmodel.registry.signers import ALLOWED_SIGNERS, AllowedSigners, claim, load, policy
from gitmodel.registry.state import Event, ModelState, Version, model_state
from gitmodel.repo import Repo


class SignatureError(GitmodelError):
    """A reference is not decided by tags allowed signers signed."""


_GOOD = re.compile(r'^Good "git" signature (?:for (?P<principal>\S+) )?with (?P<type>\S+) key (?P<fp>SHA256:\S+)',
                   re.MULTILINE)


@dataclass(frozen=True)
class TagCheck:
    """One tag that decides a reference, and what its signature is."""

    tag: str
    role: str  # version | stage | unassign | deregister
    ok: bool
    principal: str | None = None  # who signed it, when a listed key did
    fingerprint: str | None = None
    problem: str | None = None  # why not ok: "is not signed", ...

    def to_json(self) -> dict[str, object]:
        return {"tag": self.tag, "role": self.role, "ok": self.ok, "principal": self.principal,
                "key": self.fingerprint, "problem": self.problem}


@dataclass(frozen=True)
class Verification:
    ref: str
    model: str
    version: str
    commit: str
    stage: str | None
    checks: list[TagCheck] = field(default_factory=list)
    problem: str | None = None  # the one line when not ok

    @property
    def ok(self) -> bool:
        return self.problem is None

    def check(self) -> Verification:
        """This verification, or SignatureError with its one line."""
        if self.problem is not None:
            raise SignatureError(self.problem, hint="see `gitmodel history` for who tagged what; "
                                 "docs/security.md, 'Signed versions and stages'")
        return self

    def to_json(self) -> dict[str, object]:
        return {"ref": self.ref, "model": self.model, "version": self.version, "commit": self.commit,
                "stage": self.stage, "ok": self.ok, "problem": self.problem,
                "tags": [c.to_json() for c in self.checks]}


class _Verifier:
    """git verify-tag against one private copy of the allowed signers."""

    def __init__(self, repo: Repo, allowed: AllowedSigners) -> None:
        self.repo = repo
        self.allowed = allowed
        self.folder = tempfile.mkdtemp(prefix="gitmodel-signers-")
        self.file = os.path.join(self.folder, "allowed_signers")
        write_atomic(self.file, allowed.render(), 0o600)

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

    def tag(self, event: Event, role: str, may_sign: tuple[str, ...] | None, what: str) -> TagCheck:
        """Check `event`'s tag: signed, by a listed key, for a principal in `may_sign` (None: any)."""
        tag = event.tag
        found = claim(event.message, self.allowed)
        if found is None:
            return TagCheck(tag, role, False, problem=f"tag {tag} is not signed")
        if found.format != "ssh":
            return TagCheck(tag, role, False, problem=f"tag {tag} is signed with an {found.format} key; only SSH "
                            f"signatures can be checked against {self.allowed.source}")
        oid = self._object(tag)
        if oid is None:
            return TagCheck(tag, role, False, problem=f"tag {tag} is no longer there")
        proc = gitops.run(["-c", f"gpg.ssh.allowedSignersFile={self.file}", "verify-tag", "--raw", oid],
                          cwd=self.repo.root, check=False)
        said = proc.stderr.decode("utf-8", "replace")
        good = _GOOD.search(said)
        if proc.returncode != 0 or good is None or not good["principal"]:
            fp = good["fp"] if good else found.fingerprint
            if good is not None or "No principal matched" in said:
                listed = fp is not None and bool(self.allowed.principals_of(fp))
                why = (f"which {self.allowed.source} lists, but not for git's namespace at the tag's date "
                       f"(its namespaces=, valid-after=, valid-before=)") if listed else \
                    f"which {self.allowed.source} does not list"
                return TagCheck(tag, role, False, fingerprint=fp, problem=f"tag {tag} is signed by key {fp}, {why}")
            if "incorrect signature" in said or "Could not verify signature" in said:
                return TagCheck(tag, role, False, fingerprint=fp,
                                problem=f"tag {tag} does not match its signature (it was changed after signing)")
            why = " ".join(said.split())[:200] or f"git verify-tag exit {proc.returncode}"
            return TagCheck(tag, role, False, fingerprint=fp, problem=f"tag {tag}: its signature fails ({why})")
        fp = good["fp"]
        principals = self.allowed.principals_of(fp) or (good["principal"],)
        allowed = principals if may_sign is None else tuple(p for p in principals if p in may_sign)
        if not allowed:
            return TagCheck(tag, role, False, principals[0], fp,
                            problem=f"tag {tag} is signed by {principals[0]}, who may not sign {what} "
                                    f"(allowed: {', '.join(may_sign or ())})")
        return TagCheck(tag, role, True, allowed[0], fp)

    def _object(self, tag: str) -> str | None:
        from gitmodel.git.revs import git

        try:
            return str(git(self.repo).references[f"refs/tags/{tag}"].target)
        except (KeyError, ValueError):
            return None


def _stage_deciders(state: ModelState, v: Version, stage: str) -> list[tuple[Event, str]]:
    """The tags that decide that `v` holds `stage` (see the module's doc)."""
    events = [e for e in state.events if e.name.stage == stage and e.action in (Action.ASSIGN, Action.UNASSIGN)]
    latest: dict[str, tuple[int, Event]] = {}  # version name -> its latest stage event
    for i, e in enumerate(events):
        holder = state.by_commit(e.commit)
        latest[holder.name if holder is not None else e.commit] = (i, e)
    if v.name not in latest:
        return []
    at, decided = latest[v.name]
    out: list[tuple[Event, str]] = [(decided, "stage")]
    for name, (i, e) in latest.items():
        if name == v.name or i < at:
            continue
        if e.action == Action.UNASSIGN:
            out.append((e, "unassign"))
        else:  # assigned after the holder, yet not holding it: deregistered
            other = state.versions.get(name)
            dereg = _deregistration(state, name)
            if other is not None and dereg is not None:
                out.append((dereg, "deregister"))
    return out


def _deregistration(state: ModelState, version: str) -> Event | None:
    return next((e for e in reversed(state.events) if e.action == Action.DEREGISTER and e.name.version == version),
                None)


def verify_ref(repo: Repo, ref: str, *, allowed_signers: str | None = None) -> Verification:
    """Whether `ref` (clf@v1.2.0, clf@latest, clf#prod) is decided by tags
    allowed signers signed.  `allowed_signers`: a file to trust instead of
    the committed one (a deploy target's pinned copy).  A reference that
    names nothing raises GitmodelError; everything about signatures is in
    the result."""
    parsed = parse(ref)
    if parsed is None:
        raise GitmodelError(f"{ref!r} is not a version reference: use NAME@v1.2.0, NAME@latest or NAME#STAGE")
    state = model_state(repo, parsed.model)
    v = pick(state, parsed, ref)
    base = Verification(ref, state.name, v.name, v.commit, parsed.stage)
    allowed = load(repo, allowed_signers)
    if allowed is None or not allowed.signers:
        why = "does not exist" if allowed is None else "lists no signers"
        return _failed(base, [], f"{ref}: {ALLOWED_SIGNERS} {why}, so no signature can be trusted")
    rules = policy(repo)
    for names, where in [(rules.signers, "[registry] signers")] + \
            [(r.signers, f"[registry.stage.{s}] signers") for s, r in rules.stages.items()]:
        unknown = sorted(set(names or ()) - allowed.principals)
        if unknown:
            return _failed(base, [], f"{ref}: {where} names {', '.join(unknown)}, whom {allowed.source} does not "
                                     f"list")
    wanted: list[tuple[Event, str, tuple[str, ...] | None, str]] = []
    if parsed.stage is not None:
        may = rules.stage_signers(parsed.stage)
        what = f"stage {parsed.stage}"
        wanted += [(e, role, may, what) for e, role in _stage_deciders(state, v, parsed.stage)]
    if not v.registered:
        return _failed(base, [], f"{ref}: commit {v.commit[:10]} was never registered as a version, so no version "
                                 f"tag vouches for it")
    wanted.append((v.event, "version", rules.signers, "version tags"))
    if parsed.latest and v.semver is not None:
        for other in state.versions.values():
            if other.deregistered and other.semver is not None and other.semver.key() > v.semver.key():
                dereg = _deregistration(state, other.name)
                if dereg is not None:
                    wanted.append((dereg, "deregister", rules.signers, "version tags"))
    verifier = _Verifier(repo, allowed)
    try:
        checks = [verifier.tag(e, role, may, what) for e, role, may, what in wanted]
    finally:
        verifier.close()
    bad = next((c for c in checks if not c.ok), None)
    if bad is not None:
        return _failed(base, checks, f"{ref}: {bad.problem}")
    return Verification(ref, state.name, v.name, v.commit, parsed.stage, checks)


def _failed(base: Verification, checks: list[TagCheck], problem: str) -> Verification:
    return Verification(base.ref, base.model, base.version, base.commit, base.stage, checks, problem)


def verify_tag(repo: Repo, event: Event, allowed: AllowedSigners) -> TagCheck:
    """One tag's signature against `allowed` (any principal): what `show` says."""
    verifier = _Verifier(repo, allowed)
    try:
        return verifier.tag(event, "version" if event.action == Action.REGISTER else "stage", None, "tags")
    finally:
        verifier.close()


def new_tag_problem(repo: Repo, model: str, tag: str) -> str | None:
    """Why `verify` would refuse a tag just signed (a key the allowed-signers
    file does not list, or a principal the stage does not allow), or None:
    said when the tag is made, not first at deploy time.  Nothing to say
    without an allowed-signers file (a repository that does not verify)."""
    from gitmodel.registry.state import read_events

    try:
        allowed = load(repo)
        rules = policy(repo)
    except GitmodelError:
        return None  # `verify` says what is wrong with them
    event = next((e for e in read_events(repo, model) if e.tag == tag), None)
    if allowed is None or not allowed.signers or event is None:
        return None
    stage = event.name.stage
    may = rules.stage_signers(stage) if stage else rules.signers
    verifier = _Verifier(repo, allowed)
    try:
        check = verifier.tag(event, "stage" if stage else "version", may, f"stage {stage}" if stage else "version tags")
    finally:
        verifier.close()
    return None if check.ok else check.problem


def verification_required(repo: Repo, ref: str) -> bool:
    """Whether loading `ref` verifies it by default: its stage has
    `require_signature = true`."""
    parsed = parse(ref)
    return parsed is not None and parsed.stage is not None and policy(repo).stage(parsed.stage).require_signature


__all__ = ["SignatureError", "TagCheck", "Verification", "new_tag_problem", "verification_required", "verify_ref",
           "verify_tag"]
