"""`gitmodel hook NAME [ARGS]`: what the installed git hooks run.

Arguments come from git; under the pre-commit framework (which passes none)
they come from its PRE_COMMIT_* environment variables instead.  pre-push and
pre-commit fail with one line (git then stops); the post-* hooks print what
they did and always exit 0, because git cannot undo a checkout or a merge
and their exit status would only become the git command's.
"""

from __future__ import annotations

import os
import sys

from gitmodel.commands.output import SHOWN, human_size, listing, plural
from gitmodel.commands.progress import TerminalProgress
from gitmodel.errors import GitmodelError, NotARepositoryError
from gitmodel.git.hooks import HOOKS
from gitmodel.repo import Repo
from gitmodel.sync import hookrun


def _say(line: str) -> None:
    print(f"gitmodel: {line}", file=sys.stderr)


def _listing(paths: list[str]) -> None:
    for line in listing(paths):
        print(line, file=sys.stderr)


def print_sync(rep: hookrun.SyncReport) -> None:
    """What a workspace sync did, for people (stderr: git shows hooks' stderr)."""
    if rep.fetched:
        _say(f"fetched {plural(rep.fetched, 'object')} from the remote")
    if rep.fetch_error:
        _say(f"could not fetch missing objects: {rep.fetch_error}")
    if rep.restored:
        _say(f"{plural(rep.restored, 'file')} checked out to match the pointers")
    if rep.removed:
        _say(f"{plural(len(rep.removed), 'file')} no longer tracked removed (the content stays in the cache)")
    for line in rep.broken:
        _say(line)
    if rep.modified:
        _say(f"{plural(len(rep.modified), 'file')} with unsaved changes left as they are; keep a change with "
             f"`gitmodel add PATH`, or discard it with `gitmodel checkout --force PATH`:")
        _listing(rep.modified)
    if rep.not_in_cache:
        _say(f"{plural(len(rep.not_in_cache), 'file')} not in the cache; run `gitmodel pull` to get them:")
        _listing(rep.not_in_cache)
    if rep.untracked:
        _say(f"{plural(len(rep.untracked), 'file')} in tracked folders but not in their pointers left alone "
             f"(`gitmodel add` the folder to record them)")


def _pre_push(repo: Repo, args: list[str]) -> int:
    if args:
        remote = args[0]
        text = sys.stdin.read()
    else:  # the pre-commit framework: one ref, from its environment
        env = os.environ
        remote = env.get("PRE_COMMIT_REMOTE_NAME", "")
        local = env.get("PRE_COMMIT_TO_REF") or env.get("PRE_COMMIT_LOCAL_BRANCH")
        remote_sha = env.get("PRE_COMMIT_FROM_REF") or "0" * 40
        text = f"{local} {local} - {remote_sha}\n" if local else ""
    updates = hookrun.RefUpdate.parse_lines(text)
    progress = TerminalProgress("gitmodel: uploading")
    try:
        rep = hookrun.pre_push(repo, remote, updates, progress)
    finally:
        progress.close()
    if rep.skipped:
        _say(f"{hookrun.SKIP_PUSH_ENV}=1: objects not uploaded; run `gitmodel push` to upload them")
        return 0
    for line in rep.unreadable:
        _say(f"warning: skipped a pointer that cannot be read: {line}")
    if rep.pointers:
        _say(f"{plural(rep.uploaded, 'object')} uploaded ({human_size(rep.uploaded_bytes)}), "
             f"{rep.present} already on {rep.remote}")
    return 0


def _post(repo: Repo, name: str, args: list[str]) -> int:
    env = os.environ
    if name == "post-checkout":
        prev, new, flag = (args + ["", "", ""])[:3] if args else (
            env.get("PRE_COMMIT_FROM_REF", ""), env.get("PRE_COMMIT_TO_REF", ""),
            env.get("PRE_COMMIT_CHECKOUT_TYPE", ""))
        if flag != "1" or (prev == new and not hookrun.is_null(prev)):
            return 0  # a file checkout, or a new branch at the same commit: no pointer moved
        if hookrun.operation_in_progress(repo):
            return 0  # a rebase checking out its base: post-rewrite runs when it is done
        old = None if hookrun.is_null(prev) else prev
    else:
        kind = (args[:1] or [env.get("PRE_COMMIT_REWRITE_COMMAND", "")])[0]
        if name == "post-rewrite" and kind == "amend":
            return 0  # an amended commit: the work tree did not change
        old = hookrun.orig_head(repo)
    progress = TerminalProgress("gitmodel: checking out")
    try:
        rep = hookrun.sync_workspace(repo, old, progress=progress)
    finally:
        progress.close()
    print_sync(rep)
    return 0


def _pre_commit(repo: Repo) -> int:
    rep = hookrun.pre_commit(repo)
    for rel in rep.modified[:SHOWN]:
        _say(f"warning: {rel} changed since it was added; this commit keeps the version added before "
             f"(run `gitmodel add {rel}` to record the change)")
    refusal = rep.refusal()
    if refusal:
        raise GitmodelError(refusal)
    return 0


def run(name: str, args: list[str]) -> int:
    if name not in HOOKS:
        raise GitmodelError(f"unknown hook {name!r}; gitmodel has {', '.join(HOOKS)}")
    try:
        repo = Repo.discover()
    except NotARepositoryError:
        return 0  # a bare repository: no work tree, nothing of ours to do
    if not hookrun.enabled(repo):
        return 0
    if name == "pre-push":
        return _pre_push(repo, args)
    if name == "pre-commit":
        return _pre_commit(repo)
    try:
        return _post(repo, name, args)
    except GitmodelError as e:
        _say(f"{name}: {e}")
    except OSError as e:
        _say(f"{name}: {e}")
    except Exception as e:  # a bug must still not turn a finished checkout into a failed one
        _say(f"{name}: unexpected {type(e).__name__}: {e}. This is a bug; rerun with GITMODEL_DEBUG=1 "
             f"for the traceback and report it")
        if os.environ.get("GITMODEL_DEBUG") == "1":
            raise
    return 0
