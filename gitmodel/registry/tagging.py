"""The registry, written: version and stage tags (tag, promote, deprecate).

Each operation validates everything, then creates one annotated tag in
GTO's grammar (`gitmodel.tagname`) with `git tag -a`, so the user's git
config, signing and hooks apply, and with `push=True` pushes its objects
and then the tag.  A version's tag message starts with GTO's line
("Registering artifact clf version v1.2.0"), then a readable summary, then
a `gitmodel-snapshot:` line and a JSON block that
`gitmodel.registry.snapshot` parses back: the artifact's oid and size, the data oids, params and metrics.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

from gitmodel.errors import GitmodelError
from gitmodel.git import runner as gitops
from gitmodel.platform.lock import RepoLock
from gitmodel.registry import declarations as models
from gitmodel.registry import grammar
from gitmodel.registry.declarations import Model, check_stage
from gitmodel.registry.grammar import Action, SemVer, TagName, check_version
from gitmodel.registry.resolve import find_version
from gitmodel.registry.signers import should_sign, signature_block
from gitmodel.registry.snapshot import SNAPSHOT_MARKER, Item, Snapshot, snapshot_at
from gitmodel.registry.state import model_for, model_state
from gitmodel.repo import Repo
from gitmodel.store import pointer as ptr

BUMPS = ("major", "minor", "patch")


def _lock(repo: Repo) -> RepoLock:
    """The repository lock, also in a clone where `gitmodel init` never ran
    (stage tags need no config or cache, only somewhere to keep the lock)."""
    os.makedirs(repo.cache.root, exist_ok=True)
    return repo.lock


def _tag_exists(repo: Repo, tag: str) -> bool:
    from gitmodel.git.revs import git

    return f"refs/tags/{tag}" in git(repo).references


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
    signed: bool = False  # the tag carries a signature (asked for, or the user's tag.gpgSign)


def _summary(snap: Snapshot) -> str:
    def values(d: dict[str, Any], limit: int = 12) -> str:
        shown = [f"{k}={v}" for k, v in list(d.items())[:limit]]
        more = f", ... ({len(d) - limit} more)" if len(d) > limit else ""
        return ", ".join(shown) + more if shown else "(none)"

    def item(i: Item) -> str:
        content = i.content()
        if content is not None:
            return f"{i.path} ({content})"
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


def _create_tag(repo: Repo, tag: str, commit: str, message: str, sign: bool | None = None) -> None:
    """`git tag -a`, or `git tag -s` when `sign`: the user's git config
    (identity, `user.signingkey`, `gpg.format` ssh|openpgp|x509) applies, as
    to any tag they make.  `sign=False` is `--no-sign` (over `tag.gpgSign`).
    A signing that fails leaves no tag: git 2.39 creates an unsigned tag
    when the SSH key file is missing, so the tag is read back and, without
    a signature, deleted."""
    from gitmodel.platform import faults

    faults.point("registry:before-tag")
    how = ["-s"] if sign else ["-a", "--no-sign"] if sign is False else ["-a"]
    try:
        made = gitops.run(["tag", *how, "--cleanup=whitespace", "-F", "-", tag, commit], cwd=repo.root,
                   input=message.encode("utf-8"))
    except GitmodelError as e:
        if not sign:
            raise
        raise GitmodelError(f"could not sign tag {tag}: {e.message.removeprefix('git tag failed: ')}",
                            hint="set up signing as for `git tag -s` (`git config user.signingkey KEY`, "
                                 "`gpg.format ssh`), or tag with --no-sign") from None
    if not sign:
        return
    proc = gitops.run(["cat-file", "tag", f"refs/tags/{tag}"], cwd=repo.root, check=False)
    if proc.returncode == 0 and signature_block(proc.stdout.decode("utf-8", "replace")) is not None:
        return
    gitops.run(["update-ref", "-d", f"refs/tags/{tag}"], cwd=repo.root, check=False)
    said = " ".join(made.stderr.decode("utf-8", "replace").split())[:200]
    raise GitmodelError(f"could not sign tag {tag}: git made no signature{f' ({said})' if said else ''}",
                        hint="check `git config user.signingkey` names a key that exists, or tag with --no-sign")


def _signature_warnings(repo: Repo, model: str, tag: str, signed: bool | None) -> list[str]:
    """What `gitmodel verify` will say about a tag just signed, if it will refuse it."""
    if not signed:
        return []
    from gitmodel.registry.signing import new_tag_problem

    problem = new_tag_problem(repo, model, tag)
    return [f"{problem}: `gitmodel verify` will refuse it"] if problem else []


def _git_remote(repo: Repo) -> str:
    names = gitops.run(["remote"], cwd=repo.root).stdout.decode().split()
    if "origin" in names:
        return "origin"
    if len(names) == 1:
        return names[0]
    if not names:
        raise GitmodelError("--push: this repository has no git remote",
                            hint="add one with `git remote add origin URL`, or tag without --push")
    raise GitmodelError(f"--push: several git remotes ({', '.join(names)}) and none is origin",
                        hint="tag without --push, then `git push REMOTE TAG`")


def _push_plan(repo: Repo) -> str:
    """Check before anything is written that --push can work; returns the git remote."""
    try:
        from gitmodel.transfer import push as transfer  # noqa: F401
    except ImportError:
        raise GitmodelError("--push needs gitmodel's remote support, which this installation lacks",
                            hint="tag without --push, then run `gitmodel push` and `git push --tags`") from None
    return _git_remote(repo)


def _push(repo: Repo, tag: str, git_remote: str) -> None:
    """Objects first, then the tag: a tag on the remote always has its data.
    Runs after the repository lock is released: git's pre-push hook is
    another gitmodel process that takes it."""
    from gitmodel.transfer import push as transfer

    transfer.push(repo, remote=None, revs=[tag])
    gitops.run(["push", git_remote, f"refs/tags/{tag}:refs/tags/{tag}"], cwd=repo.root)


def _head_commit(repo: Repo) -> str | None:
    from gitmodel.git.revs import git

    g = git(repo)
    try:
        return str(g.head.peel().id)
    except Exception:  # unborn branch, detached oddities: no HEAD commit to compare with
        return None


def _check_workspace(repo: Repo, model: Model, snap: Snapshot) -> None:
    """Refuse to tag HEAD while the workspace artifact differs from it."""
    from gitmodel.workspace import status as workspace
    from gitmodel.workspace import targets as tracked

    pointer_rel = ptr.pointer_path(model.path)
    if not os.path.isfile(repo.abspath(pointer_rel)):
        return  # nothing checked out here (a sparse or tags-only clone): the commit speaks for itself
    current = ptr.read(repo.abspath(pointer_rel), pointer_rel)
    committed = snap.artifact.pointer
    if not current.same_content(committed):
        raise GitmodelError(f"{pointer_rel} has changes that are not committed",
                            hint="run `git commit` first (a version marks a commit), or pass --rev to tag another one")
    status = workspace.status_of(repo, tracked.Target(model.path, current))
    if status.state == workspace.MODIFIED:
        raise GitmodelError(f"{model.path} is modified and not re-added",
                            hint=f"run `gitmodel add {model.path}` and `git commit`, then tag")


def register(repo: Repo, name: str, version: str | None = None, *, bump: str | None = None,
             rev: str | None = None, message: str | None = None, path: str | None = None,
             push: bool = False, cwd: str | None = None, sign: bool | None = None) -> TagResult:
    """Create `name@vX.Y.Z` on `rev` (default HEAD) with the snapshot of
    what that commit holds.  With neither `version` nor `bump`: the patch
    after the latest version (v0.0.1 for the first, as GTO does)."""
    from gitmodel.git.revs import resolve_commit

    repo.require_init()
    grammar.check_name(name)
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
                raise GitmodelError(f"model {name!r} is declared with path {model.path}, not {wanted.path}",
                                    hint=f"change it with `gitmodel model add {name} {wanted.path} --replace`")
        if model is None:
            model = model_for(repo, state)
        if model is None:
            raise GitmodelError(f"unknown model {name!r}",
                                hint=f"declare it with `gitmodel model add {name} PATH`, or pass --path PATH")
        try:
            commit = resolve_commit(repo, rev or "HEAD")
        except GitmodelError:
            if rev is None:
                raise GitmodelError("there is no commit to tag yet",
                                    hint="commit the model's pointer first (`git commit`)") from None
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
            raise GitmodelError(f"{name}@{version} exists already{where}", hint="pick another version or use --bump")
        snap, warnings = snapshot_at(repo, model, commit, version)
        if sha == _head_commit(repo):
            _check_workspace(repo, model, snap)
        same = state.by_commit(sha)
        if same is not None and same.active:
            raise GitmodelError(f"commit {sha[:10]} is version {same.name} of {name} already; a commit holds one "
                                f"version (GTO's rule): commit the new model first, or pass --rev")
        git_remote = _push_plan(repo) if push else ""
        signed = should_sign(repo, sign)
        if declare is not None:
            models.declare(repo, declare)
        _create_tag(repo, tag, sha, version_message(snap, message), signed)
        result = TagResult(tag, Action.REGISTER, name, version, sha, declared=declare is not None,
                           warnings=warnings + _signature_warnings(repo, name, tag, signed), snapshot=snap,
                           signed=bool(signed))
    if push:
        _push(repo, tag, git_remote)
        result.pushed = True
    return result


def promote(repo: Repo, name: str, version: str, stage: str, *, message: str | None = None,
            push: bool = False, sign: bool | None = None) -> TagResult:
    """Assign `stage` to a version: `name#stage#N` on the version's commit."""
    grammar.check_name(name)
    check_stage(repo, stage)
    with _lock(repo):
        state = model_state(repo, name)
        if not state.versions:
            raise GitmodelError(f"model {name!r} has no versions", hint=f"create one with `gitmodel tag {name}`")
        v = find_version(state, version)
        if state.stages.get(stage) == v.name:
            raise GitmodelError(f"{name} {v.name} is in stage {stage} already; nothing to do")
        tag = TagName(Action.ASSIGN, name, stage=stage, counter=state.next_counter()).format()
        git_remote = _push_plan(repo) if push else ""
        signed = should_sign(repo, sign, stage)
        text = message.strip() if message and message.strip() else \
            f"Assigning stage {stage} to artifact {name} version {v.name}"
        _create_tag(repo, tag, v.commit, text + "\n", signed)
        result = TagResult(tag, Action.ASSIGN, name, v.name, v.commit, stage=stage, signed=bool(signed),
                           warnings=_signature_warnings(repo, name, tag, signed))
    if push:
        _push(repo, tag, git_remote)
        result.pushed = True
    return result


def deprecate(repo: Repo, name: str, version: str | None = None, *, stage: str | None = None,
              message: str | None = None, push: bool = False, sign: bool | None = None) -> TagResult:
    """GTO's `!` tags: unassign a stage (`stage`), deregister a version
    (`version`), or deprecate the whole model (neither)."""
    grammar.check_name(name)
    if stage is not None:
        grammar.check_name(stage, "stage name")
    with _lock(repo):
        state = model_state(repo, name)
        if not state.events:
            raise GitmodelError(f"model {name!r} has no version tags",
                                hint="see `gitmodel versions` for the models here")
        head = ""
        if stage is not None:
            if version is None:
                holder = state.stages.get(stage)
                if holder is None:
                    raise GitmodelError(f"no version of {name} is in stage {stage}",
                                        hint=f"see `gitmodel versions {name}`")
                v = state.versions[holder]
            else:
                v = find_version(state, version)
            if stage not in v.stages:
                raise GitmodelError(f"{name} {v.name} is not in stage {stage} now",
                                    hint=f"see `gitmodel history {name}`")
            tag = TagName(Action.UNASSIGN, name, stage=stage, counter=state.next_counter()).format()
            action, commit, vname = Action.UNASSIGN, v.commit, v.name
            head = f"Unassigning stage '{stage}' to artifact '{name}' version '{v.name}'"
        elif version is not None:
            check_version(version)
            v = find_version(state, version)  # refuses unknown and deregistered versions
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
        signed = should_sign(repo, sign, stage)
        text = message.strip() if message and message.strip() else head
        _create_tag(repo, tag, commit, text + "\n", signed)
        result = TagResult(tag, action, name, vname, commit, stage=stage, signed=bool(signed),
                           warnings=_signature_warnings(repo, name, tag, signed))
    if push:
        _push(repo, tag, git_remote)
        result.pushed = True
    return result
