"""Which file, at which commit, a caller chose, and whether signatures
vouch for it: what `gitmodel.load`, `gitmodel.open` and `gitmodel get`
decide before they read or write a byte of the artifact.

A caller names a version reference (`clf@v1.0.0`, `clf@latest`,
`clf#prod`), or a path plus an optional revision (which may itself be a
version reference: `load("models/clf.pkl", rev="clf@v1.0.0")`).

Verification (`gitmodel.registry.signing.verify_ref`) runs when asked for
(`verify=True`, a pinned allowed-signers file), and always when the
reference's stage has `require_signature = true`: a committed requirement
no caller turns off.  Once verified, the
file is read at the commit the verification named, never re-resolved, so
what is read is what was vouched for.  A choice that is not a version
reference (a workspace path, a path at HEAD) has no tag to carry a
signature: asking to verify it is refused.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, replace

from gitmodel.errors import GitmodelError
from gitmodel.progress import Progress
from gitmodel.registry import resolve as refs
from gitmodel.registry import state as registry
from gitmodel.registry.signing import SignatureError, Verification, verification_required, verify_ref
from gitmodel.repo import Repo
from gitmodel.transfer import get as transfer
from gitmodel.transfer.get import GetReport


@dataclass(frozen=True)
class Chosen:
    rel: str  # the artifact's repository-relative path
    at: str | None  # the commit (or revision) to read it at; None: the workspace
    target: str | None  # the version reference that decides it, if any
    verification: Verification | None = None  # set when signatures were checked (and passed)
    by_model: bool = False  # rel is the model's file (the reference named a model, not a path)
    oid: str | None = None  # verified: the artifact's oid as the signed version tag names it

    def check_oid(self, oid: str) -> None:
        """SignatureError unless `oid` (what the commit's pointer names) is
        the oid the signed version tag names, when it names one for `rel`:
        the bytes read are then the bytes that were signed for, not only
        some file of a signed commit."""
        if self.oid is not None and oid != self.oid and self.verification is not None:
            raise SignatureError(f"{self.target}: {self.rel} at {self.verification.commit[:10]} is {oid}, not the "
                                 f"{self.oid} its signed version tag names",
                                 hint="the commit and the tag disagree: ask who tagged it (`gitmodel show`)")


def locate(repo: Repo, ref: str, rev: str | None, cwd: str | None) -> Chosen:
    """The file and revision `ref` (+ `rev`) names, nothing checked yet."""
    vref = refs.parse(ref)
    if vref is not None and rev is None:
        state = registry.model_state(repo, vref.model)
        if state.events:
            version = refs.pick(state, vref, ref)
            model = registry.model_for(repo, state, version)
            if model is None:
                raise GitmodelError(f"{ref}: cannot tell which file model {vref.model} is",
                                    hint=f"declare it with `gitmodel model add {vref.model} PATH`")
            return Chosen(model.path, version.commit, ref, by_model=True)
    rel = repo.relpath(ref, cwd) if cwd is not None else ref.strip("/")
    return Chosen(rel, rev, rev if rev is not None and refs.parse(rev) is not None else None)


def verify(repo: Repo, chosen: Chosen, *, allowed_signers: str | None = None, why: str | None = None) -> Chosen:
    """`chosen`, verified and pinned to the verified commit; SignatureError
    (one line) when signatures do not vouch for it.  `why`: what asked for
    verification, said when there is no version to verify."""
    if chosen.verification is not None:
        return chosen
    if chosen.target is None:
        where = f" at {chosen.at}" if chosen.at else " in the workspace"
        raise SignatureError(f"{chosen.rel}{where} is not a version reference, so no signed tag vouches for it"
                             + (f" ({why})" if why else ""),
                             hint="name a version: NAME@v1.2.0, NAME@latest or NAME#STAGE")
    v = verify_ref(repo, chosen.target, allowed_signers=allowed_signers).check()
    # The signed version tag's snapshot names the model's file and its oid:
    # trusted over a declaration (which any later commit can change).
    version = registry.model_state(repo, v.model).versions.get(v.version)
    snap = version.snapshot if version is not None else None
    rel, oid = chosen.rel, None
    if snap is not None and snap.artifact.oid is not None:
        if chosen.by_model:
            rel = snap.artifact.path
        if snap.artifact.path == rel:
            oid = snap.artifact.oid
    return Chosen(rel, v.commit, chosen.target, v, chosen.by_model, oid)


def choose(repo: Repo, ref: str, rev: str | None = None, *, cwd: str | None = None, verify_it: bool = False,
           allowed_signers: str | None = None, head: bool = False) -> Chosen:
    """`locate`, then verification when asked (`verify_it=True`) or when the
    reference's stage requires it (always).  `head`: a path with
    no revision is read at HEAD (a repository without a workspace)."""
    chosen = locate(repo, ref, rev, cwd)
    if head and chosen.at is None:
        chosen = replace(chosen, at="HEAD")
    required = chosen.target is not None and verification_required(repo, chosen.target)
    if verify_it or required or allowed_signers is not None:  # a pinned file means the caller wants it used
        chosen = verify(repo, chosen, allowed_signers=allowed_signers)
    return chosen


def get(source: str, ref: str, *, rev: str | None = None, verify_it: bool = False,
        allowed_signers: str | None = None, out: str | None = None, remote: str | None = None,
        jobs: int | None = None, progress: Progress | None = None, cwd: str | None = None
        ) -> tuple[GetReport, Verification | None]:
    """`gitmodel get SOURCE REF`: `transfer.get.get`, with the artifact
    chosen (and verified, in the source's clone, against its committed
    allowed signers or the pinned `allowed_signers` file) by `choose` before
    any object is fetched or OUT written.  Returns what was got, and the
    verification when signatures were checked."""
    pinned = os.path.abspath(os.path.join(cwd or os.getcwd(), allowed_signers)) if allowed_signers else None

    verified: list[Verification] = []

    def pick(src: Repo) -> tuple[str, str, Callable[[str], None]]:
        # A path names a file of the source: from its root, not from cwd.
        chosen = choose(src, ref, rev, verify_it=verify_it, allowed_signers=pinned, head=True)
        if chosen.verification is not None:
            verified.append(chosen.verification)
        return chosen.rel, chosen.at or "HEAD", chosen.check_oid

    versions = refs.parse(ref) is not None or (rev is not None and refs.parse(rev) is not None)
    report = transfer.get(source, ref, rev=rev, out=out, remote=remote, jobs=jobs, progress=progress, cwd=cwd,
                          choose=pick, versions=versions)
    return report, (verified[0] if verified else None)


__all__ = ["Chosen", "choose", "get", "locate", "verify"]
