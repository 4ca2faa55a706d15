"""What each git hook does (the shims in hooks/ call `gitmodel hook NAME`).

- pre-push: upload the objects named by the pointers the pushed commits
  introduce (what the remote-tracking refs of that remote already hold is
  skipped), before git sends the refs; a failure stops the push.
- post-checkout (branch checkouts), post-merge, post-rewrite: make the
  workspace follow the pointers git just changed (`sync_workspace`).
- pre-commit: refuse a commit staging a pointer whose content is not in the
  cache; warn about tracked files changed since they were added.

Every hook does nothing in a repository where gitmodel is not set up (a
`core.hooksPath` shared by many repositories reaches those too).  The
functions here return reports; `gitmodel.commands.hook` prints them.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from gitmodel.config import CONFIG_DIR
from gitmodel.errors import GitmodelError, ObjectMissingError, PathError, PointerError, RemoteError, UnsafePathError
from gitmodel.git import runner as gitops
from gitmodel.humanize import plural
from gitmodel.progress import Progress
from gitmodel.repo import Repo
from gitmodel.store import manifest
from gitmodel.store import pointer as ptr
from gitmodel.workspace.checkout import checkout
from gitmodel.workspace.status import current_oids, objects_complete
from gitmodel.workspace.targets import Target, all_pointer_rels, load, read_manifest
from gitmodel.workspace.walk import scan, walk

if TYPE_CHECKING:
    import pygit2

SKIP_PUSH_ENV = "GITMODEL_SKIP_PUSH"


def enabled(repo: Repo) -> bool:
    """Whether gitmodel is set up here (hooks are no-ops elsewhere)."""
    return os.path.isdir(os.path.join(repo.root, CONFIG_DIR))


def is_null(sha: str) -> bool:
    return not sha or set(sha) == {"0"}


# -- pre-push ----------------------------------------------------------------

@dataclass
class RefUpdate:
    """One line git gives pre-push on stdin."""
    local_ref: str
    local_sha: str
    remote_ref: str
    remote_sha: str

    @classmethod
    def parse_lines(cls, text: str) -> list[RefUpdate]:
        out = []
        for line in text.splitlines():
            parts = line.split()
            if len(parts) == 4:
                out.append(cls(*parts))
            elif parts:
                raise GitmodelError(f"pre-push: unexpected input line {line[:120]!r} (expected "
                                    f"`<local ref> <local sha> <remote ref> <remote sha>`)")
        return out


@dataclass
class PrePushReport:
    skipped: bool = False  # GITMODEL_SKIP_PUSH
    pointers: int = 0  # distinct objects named by the pointers the pushed commits introduce
    uploaded: int = 0  # objects sent (a folder's files each count)
    uploaded_bytes: int = 0
    present: int = 0  # already on the remote
    remote: str = ""
    unreadable: list[str] = field(default_factory=list)  # pointer blobs that are not pointers


def pushed_pointers(repo: Repo, remote_name: str, updates: Sequence[RefUpdate]
                    ) -> tuple[dict[str, str], list[str]]:
    """({oid: pointer path}, [unreadable pointer messages]) for the pointer
    blobs reachable from the pushed commits but from none of the remote's
    remote-tracking refs (nor from what the remote's refs are now, where we
    have those commits): what git-lfs sends, found the same way."""
    import pygit2

    from gitmodel.git.revs import git

    g = git(repo)
    tips = [u.local_sha for u in updates if not is_null(u.local_sha)]
    if not tips:
        return {}, []
    have = [u.remote_sha for u in updates if not is_null(u.remote_sha) and _has_commit(g, u.remote_sha)]
    stdin = "".join(f"{t}\n" for t in tips) + "".join(f"^{h}\n" for h in have)
    proc = gitops.run(["rev-list", "--objects", "--stdin", "--not", f"--remotes={remote_name}"],
                      cwd=repo.root, input=stdin.encode())
    found: dict[str, str] = {}
    bad: list[str] = []
    for line in proc.stdout.decode("utf-8", "surrogateescape").splitlines():
        sha, _, path = line.partition(" ")
        if not path.endswith(ptr.SUFFIX):
            continue
        try:
            repo.check_rel(ptr.target_path(path), path, control=True)
        except UnsafePathError as e:
            bad.append(str(e))  # the push stops on it, as on a pointer that does not parse
            continue
        obj = g.get(sha)
        if not isinstance(obj, pygit2.Blob):
            continue  # a folder that happens to end in .gm
        try:
            p = ptr.loads(obj.data.decode("utf-8"), path)
        except (PointerError, UnicodeDecodeError) as e:
            bad.append(str(e) if isinstance(e, PointerError) else f"{path}: not UTF-8 text")
            continue
        found.setdefault(p.oid, ptr.target_path(path))
    return found, bad


def _has_commit(g: pygit2.Repository, sha: str) -> bool:
    try:
        return g.get(sha) is not None
    except ValueError:  # not a sha this repository's hash can name
        return False


def pre_push(repo: Repo, remote_name: str, updates: Sequence[RefUpdate],
             progress: Progress | None = None) -> PrePushReport:
    """Upload what the pushed commits' pointers name, to the default gitmodel
    remote.  Raises (one line) when that cannot be done, so git stops."""
    if os.environ.get(SKIP_PUSH_ENV) == "1":
        return PrePushReport(skipped=True)
    report = PrePushReport()
    if not enabled(repo):
        return report
    found, report.unreadable = pushed_pointers(repo, remote_name, updates)
    report.pointers = len(found)
    if not found:
        return report
    from gitmodel.remote import spec as remotes
    from gitmodel.transfer import push as transfer

    if not remotes.names(repo.config):
        raise RemoteError(f"the commits being pushed track {plural(len(found), 'object')} with gitmodel but no "
                          f"gitmodel remote is configured",
                          hint=f"add one with `gitmodel remote add NAME URL --default`, "
                               f"or push without them with `{SKIP_PUSH_ENV}=1 git push`")
    rep = transfer.push_oids(repo, list(found), progress=progress, strict=False)
    report.remote = f"{rep.remote} ({rep.url})"
    report.uploaded, report.uploaded_bytes, report.present = rep.uploaded, rep.uploaded_bytes, rep.present
    if rep.missing:
        label, oid = rep.missing[0]
        # push_oids names a folder's files `<manifest oid>/<path>`: show the tracked path instead.
        head, sep, rest = label.partition("/")
        shown = f"{found.get(head, head)}{sep}{rest}" if head in found else found.get(label, label)
        more = f" and {len(rep.missing) - 1} more" if len(rep.missing) > 1 else ""
        raise GitmodelError(
            f"{shown} ({oid}){more} is in neither the local cache nor remote '{rep.remote}', so the push was "
            f"stopped",
            hint=f"fetch it (`gitmodel fetch -r OTHER`) or `gitmodel add` it again, or push without it "
                 f"with `{SKIP_PUSH_ENV}=1 git push`")
    return report


# -- post-checkout, post-merge, post-rewrite ----------------------------------

@dataclass
class SyncReport:
    restored: int = 0  # files written from the cache
    unchanged: int = 0
    removed: list[str] = field(default_factory=list)  # files of artifacts no longer tracked (content in the cache)
    modified: list[str] = field(default_factory=list)  # unsaved changes, left alone
    not_in_cache: list[str] = field(default_factory=list)
    untracked: list[str] = field(default_factory=list)  # extra files in tracked folders, left alone
    fetched: int = 0
    fetch_error: str | None = None
    broken: list[str] = field(default_factory=list)  # pointers that cannot be read (merge conflicts), one line each


def sync_workspace(repo: Repo, old_rev: str | None, *, only: Sequence[str] | None = None, fetch: bool = True,
                   progress: Progress | None = None) -> SyncReport:
    """Make tracked files match the pointers now in the work tree, after git
    changed those pointers (a checkout, merge, rebase) or after `only` were
    rewritten (`gitmodel checkout --ours/--theirs`).

    A workspace file that differs from its new pointer is replaced only when
    its content is safe in the cache (typically: it is the previous branch's
    version); anything else is the user's unsaved work, left alone and
    listed.  Artifacts tracked at `old_rev` and no longer tracked are removed
    the same way, file by file, so that they do not linger as untracked
    files.  Missing objects are fetched first from the default remote when
    `[core] auto_fetch` is on (the default) and a remote is configured."""
    report = SyncReport()
    repo.require_init()
    with repo.lock:
        targets = _current_targets(repo, only, report)
        old = _pointers_at(repo, old_rev) if old_rev else {}
        if fetch:
            _auto_fetch(repo, targets, report, progress)
        for t in targets:
            _drop_deleted(repo, t, old.get(t.rel), report)
        if only is None:
            _remove_untracked(repo, {t.rel for t in targets}, old, report)
        if targets:
            done = checkout(repo, [t.rel for t in targets], cwd=repo.root, progress=progress)
            report.restored += done.restored
            report.unchanged += done.unchanged
            report.modified += done.skipped_modified
            report.not_in_cache += done.not_in_cache
            report.untracked += done.untracked
    return report


def _current_targets(repo: Repo, only: Sequence[str] | None, report: SyncReport) -> list[Target]:
    rels = list(only) if only is not None else [ptr.target_path(p) for p in all_pointer_rels(repo)]
    out = []
    for rel in rels:
        try:
            out.append(load(repo, rel))
        except (PointerError, PathError) as e:
            report.broken.append(str(e))  # one bad pointer must not stop the others
    return out


def _pointers_at(repo: Repo, rev: str) -> dict[str, ptr.Pointer]:
    from gitmodel.git.revs import pointers_at

    try:
        return pointers_at(repo, rev)
    except GitmodelError:
        return {}  # an unknown or unborn revision: nothing was tracked before


def _auto_fetch(repo: Repo, targets: Iterable[Target], report: SyncReport, progress: Progress | None) -> None:
    from gitmodel.remote import spec as remotes

    if not repo.config.get("core.auto_fetch", True):
        return
    try:
        if not remotes.names(repo.config):
            return
    except GitmodelError as e:  # a remote config that cannot be used: the checkout itself still happens
        report.fetch_error = str(e)
        return
    cache = repo.cache
    want: list[str] = []
    for t in targets:
        p = t.pointer
        if not cache.has(p.oid):
            want.append(p.oid)  # a manifest brings its files
        elif p.is_dir:
            try:
                entries = read_manifest(repo, t)
            except GitmodelError:
                continue
            if not objects_complete(repo, p.oid, entries):
                want.append(p.oid)
    if not want:
        return
    from gitmodel.transfer import fetch as transfer

    try:
        rep = transfer.fetch_oids(repo, want, progress=progress, strict=False)
    except GitmodelError as e:  # unreachable remote, bad credentials: the checkout itself still happens
        report.fetch_error = str(e)
        return
    report.fetched = rep.downloaded


def _regular_stat(path: str) -> os.stat_result | None:
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return st if stat.S_ISREG(st.st_mode) else None


def _drop_deleted(repo: Repo, t: Target, old: ptr.Pointer | None, report: SyncReport) -> None:
    """Remove the files of a tracked folder that the new pointer deleted,
    where they are exactly the old version's (safe in the cache), so they do
    not linger as untracked files.  (Files the new pointer changes are
    checkout's: it replaces any whose content the cache has.)"""
    cache = repo.cache
    p = t.pointer
    absp = repo.abspath(t.rel)
    if not p.is_dir or old is None or not old.is_dir or old.oid == p.oid or not os.path.isdir(absp) \
            or not cache.has(p.oid) or not cache.has(old.oid):
        return
    sc = repo.statcache
    if sc.dir_is_clean(absp, p.oid, scan(repo.root, absp, t.rel).sig):
        return
    files = walk(repo.root, absp, t.rel)
    want = {e.path for e in read_manifest(repo, t)}
    before = {e.path: e for e in cache.read_manifest(old, t.pointer_rel, t.rel)}
    considered = {path: st for path, st in files.items() if path in before and path not in want}
    doomed = [path for path, cur in current_oids(repo, absp, considered).items()
              if before[path].oid == cur and cache.has(cur)]
    report.removed += [f"{t.rel}/{path}" for path in doomed]
    _unlink_all(absp, doomed, keep_top=True)


def _unlink_all(top: str, rels: Iterable[str], keep_top: bool) -> None:
    """Remove files below `top`, then the folders that left empty."""
    folders: set[str] = set()
    for rel in rels:
        path = os.path.join(top, rel)
        os.unlink(path)
        folders.add(os.path.dirname(path))
    stop = top if keep_top else os.path.dirname(top)
    for folder in sorted(folders, key=len, reverse=True):
        while folder != stop and folder.startswith(top):
            try:
                os.rmdir(folder)
            except OSError:
                break  # not empty: something else lives there
            folder = os.path.dirname(folder)


def _remove_untracked(repo: Repo, now: set[str], old: dict[str, ptr.Pointer], report: SyncReport) -> None:
    """Artifacts the previous revision tracked and this one does not: remove
    what is exactly their old content (safe in the cache); leave the rest."""
    gone = [rel for rel in old if rel not in now and not os.path.lexists(repo.abspath(ptr.pointer_path(rel)))
            and not any(n == rel or n.startswith(rel + "/") or rel.startswith(n + "/") for n in now)]
    if not gone:
        return
    owned_by_git = set(gitops.tracked(repo.root, gone))
    cache = repo.cache
    for rel in gone:
        if rel in owned_by_git:
            continue  # git tracks this path itself now
        p = old[rel]
        absp = repo.abspath(rel)
        if not repo.inside(os.path.dirname(absp)):
            continue
        if not p.is_dir:
            st = _regular_stat(absp)
            if st is not None and current_oids(repo, absp, {"": st})[""] == p.oid and cache.has(p.oid):
                os.unlink(absp)
                report.removed.append(rel)
            continue
        if not os.path.isdir(absp) or not cache.has(p.oid):
            continue
        entries = {e.path: e for e in cache.read_manifest(p, ptr.pointer_path(rel), rel)}
        files = {path: st for path, st in walk(repo.root, absp, rel).items() if path in entries}
        doomed = [path for path, cur in current_oids(repo, absp, files).items()
                  if cur == entries[path].oid and cache.has(cur)]
        _unlink_all(absp, doomed, keep_top=False)
        report.removed += [f"{rel}/{path}" for path in doomed]


def orig_head(repo: Repo) -> str | None:
    """Where HEAD was before a merge or rebase (git's ORIG_HEAD)."""
    from gitmodel.git.revs import git

    try:
        return str(git(repo).revparse_single("ORIG_HEAD").id)
    except (KeyError, ValueError):
        return None
    except Exception:  # pygit2.GitError and friends: no ORIG_HEAD
        return None


def operation_in_progress(repo: Repo) -> bool:
    """A rebase stopped half-way: post-rewrite will run when it finishes."""
    return any(os.path.isdir(os.path.join(repo.git_dir, d)) for d in ("rebase-merge", "rebase-apply"))


# -- pre-commit ---------------------------------------------------------------

@dataclass
class PreCommitReport:
    missing: list[tuple[str, str]] = field(default_factory=list)  # (pointer path, what is not in the cache)
    broken: list[str] = field(default_factory=list)  # staged pointers that cannot be read
    modified: list[str] = field(default_factory=list)  # tracked files changed since `gitmodel add`

    def refusal(self) -> str | None:
        """The one line that stops the commit, or None."""
        if self.broken:
            more = f" (and {len(self.broken) - 1} more)" if len(self.broken) > 1 else ""
            return f"{self.broken[0]}{more}"
        if self.missing:
            path, what = self.missing[0]
            more = f" and {len(self.missing) - 1} more" if len(self.missing) > 1 else ""
            target = ptr.target_path(path)
            return (f"{path} is staged but {what} is not in the cache{more}, so a clone could never get it; "
                    f"run `gitmodel add {target}` (or `gitmodel fetch {target}`) before committing, "
                    f"or commit anyway with `git commit --no-verify`")
        return None


def staged_pointers(repo: Repo) -> list[tuple[str, str]]:
    """(path, blob sha) of pointer files added or changed in the index.

    Read with the `git` command, not pygit2: during `git commit -a` or
    `git commit PATH`, git points GIT_INDEX_FILE at a temporary index, and
    that is what is being committed."""
    proc = gitops.run(["diff", "--cached", "--raw", "-z", "--no-renames", "--no-abbrev", "--diff-filter=AMT",
                       "--", f"*{ptr.SUFFIX}"], cwd=repo.root)
    fields = proc.stdout.decode("utf-8", "surrogateescape").split("\0")
    out = []
    for head, path in zip(fields[0::2], fields[1::2]):
        parts = head.split()
        if len(parts) >= 4 and path.endswith(ptr.SUFFIX) and parts[1].startswith("100"):
            out.append((path, parts[3]))
    return out


def pre_commit(repo: Repo) -> PreCommitReport:
    from gitmodel.git.revs import git
    from gitmodel.workspace.status import MODIFIED, status

    report = PreCommitReport()
    if not enabled(repo):
        return report
    import pygit2

    g = git(repo)
    cache = repo.cache
    for path, sha in staged_pointers(repo):
        blob = g[sha]
        try:
            if not isinstance(blob, pygit2.Blob):
                raise PointerError(f"{path}: not a file in the index")
            repo.check_rel(ptr.target_path(path), path, control=True)
            p = ptr.loads(blob.data.decode("utf-8"), path)
        except UnicodeDecodeError:
            report.broken.append(f"{path}: not UTF-8 text; restore it with `git checkout HEAD -- {path}`")
            continue
        except (PointerError, UnsafePathError) as e:
            report.broken.append(str(e))
            continue
        if not cache.has(p.oid):
            report.missing.append((path, f"its {'manifest' if p.is_dir else 'object'} {p.oid}"))
        elif p.is_dir:
            try:
                entries = manifest.expand(cache.read_bytes, p.oid, f"manifest of {path}")[0]
            except ObjectMissingError:
                report.missing.append((path, "a tree of its manifest"))
                continue
            if not objects_complete(repo, p.oid, entries):
                n = len(cache.missing({e.oid for e in entries}))
                report.missing.append((path, f"{plural(n, 'file')} of its folder"))
    try:
        report.modified = [s.rel for s in status(repo, []) if s.state == MODIFIED]
    except GitmodelError:
        pass  # a broken pointer in the work tree: the staged check above is what matters
    return report
