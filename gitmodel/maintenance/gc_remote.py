"""Remote gc: delete the objects and packs of a remote that nothing this
clone knows of can reach.

Reachability is gitmodel.gc's, widened by every ref of every git remote
(`git ls-remote`: a clone that has not fetched them all is refused) and by
manifests read from the remote itself.  A chunked file's chunks are reached
through the remote's own chunk list (chunked/...): another clone may have
pushed a list of the same file that names other chunks (other delta bases,
another zstd), so the cache's list says nothing about the remote's and every
list gc keeps is read from the remote (a read that fails stops gc).
Unreachable, old lists go before any object, as in the cache.  A lock object
on the remote keeps two gcs apart.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

from gitmodel.errors import GitmodelError
from gitmodel.git import revs
from gitmodel.git import runner as gitops
from gitmodel.maintenance.gc import (
    DAY,
    DEFAULT_KEEP_DAYS,
    OID_TOKEN,
    GcRefusedError,
    GcReport,
    Reachable,
    check_keep_days,
    expand_lists,
    reachable,
    refuse_if_shallow,
    refuse_if_unsafe,
)
from gitmodel.platform import faults
from gitmodel.progress import Progress
from gitmodel.remote.layout import GC_MARKER
from gitmodel.repo import Repo
from gitmodel.store import manifest
from gitmodel.store import oid as oidmod

if TYPE_CHECKING:
    from gitmodel.remote.spec import Remote

LOCK_NAME = "locks/gc.json"
LAST_GC_NAME = GC_MARKER  # pushes read it and drop their record of what the remote holds
LOCK_TTL = 30 * 60.0  # seconds; renewed while gc runs, so only a dead holder's lock expires
LOCK_RENEW = 5 * 60.0
LS_REMOTE_TIMEOUT = 120.0  # seconds for a git remote to list its refs


def unfetched_git_refs(repo: Repo) -> tuple[list[str], list[str]]:
    """Compare every git remote's refs (`git ls-remote`) with what this clone
    has: (refs it has not fetched, extra commits to count as roots).

    A branch must match its remote-tracking ref and a tag the local tag;
    any other ref (pull requests, notes) must name a commit we have, which
    then counts as reachable."""
    g = revs.git(repo)
    stale: list[str] = []
    roots: list[str] = []
    env_remotes = gitops.run(["remote"], cwd=repo.root).stdout.decode().split()
    for name in env_remotes:
        proc = _ls_remote(repo, name)
        for line in proc.splitlines():
            sha, _, ref = line.partition("\t")
            if not ref or ref == "HEAD" or ref.endswith("^{}"):
                continue
            if ref.startswith("refs/heads/"):
                local = f"refs/remotes/{name}/{ref[len('refs/heads/'):]}"
            elif ref.startswith("refs/tags/"):
                local = ref
            else:
                if sha in g:
                    roots.append(sha)
                else:
                    stale.append(f"{name} {ref}")
                continue
            try:
                have = str(g.references[local].target)
            except KeyError:
                have = ""
            if have != sha:
                stale.append(f"{name} {ref}")
    return stale, roots


def _ls_remote(repo: Repo, name: str) -> str:
    env = gitops.env_for_remote()
    try:
        proc = gitops.run(["ls-remote", name], cwd=repo.root, env=env, timeout=LS_REMOTE_TIMEOUT, check=False)
    except gitops.GitTimeoutError:
        raise GcRefusedError(f"nothing deleted: the git remote '{name}' did not answer `git ls-remote`",
                             hint="check the network and run `gitmodel gc -r` again") from None
    if proc.returncode != 0:
        lines = proc.stderr.decode(errors="replace").strip().splitlines()
        from gitmodel.remote.spec import redact

        raise GcRefusedError(f"nothing deleted: cannot list the refs of the git remote '{name}' "
                             f"({redact(lines[-1]) if lines else 'exit ' + str(proc.returncode)}); "
                             f"remote gc must see every ref that may name its objects")
    return proc.stdout.decode(errors="surrogateescape")


class RemoteLock:
    """A lock object on the remote (`locks/gc.json`): who holds it, since
    when, until when.  Taken with an exclusive create where the store offers
    one; a lock past its expiry, or held by a process on this host that no
    longer exists, is taken over."""

    def __init__(self, remote: Remote, command: str = "gitmodel gc") -> None:
        import socket
        import uuid

        self.remote = remote
        self.token = uuid.uuid4().hex
        self.info = {"holder": command, "host": socket.gethostname(), "pid": os.getpid(), "token": self.token}
        self.renewed = 0.0

    def _body(self) -> bytes:
        import json

        now = time.time()
        self.renewed = now
        return json.dumps({**self.info, "created": now, "expires": now + LOCK_TTL}).encode()

    def _current(self) -> dict[str, Any] | None:
        import json

        raw = self.remote.read_meta(LOCK_NAME)
        if raw is None:
            return None
        try:
            data = json.loads(raw)
            return data if isinstance(data, dict) else {}
        except ValueError:
            return {}  # torn or foreign: treated as expired

    def _stale(self, cur: dict[str, Any]) -> bool:
        import socket

        try:
            if float(cur.get("expires", 0)) < time.time():
                return True
        except (TypeError, ValueError):
            return True
        if cur.get("host") == socket.gethostname() and isinstance(cur.get("pid"), int):
            try:
                os.kill(cur["pid"], 0)
            except ProcessLookupError:
                return True
            except PermissionError:
                return False
        return False

    def acquire(self) -> None:
        if self.remote.write_meta(LOCK_NAME, self._body(), exclusive=True):
            return self._confirm()
        cur = self._current()
        if cur is not None and not self._stale(cur):
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(float(cur.get("expires", 0))))
            raise GitmodelError(
                f"{self.remote.where} is locked by {cur.get('holder', '?')} (pid {cur.get('pid', '?')} on "
                f"{cur.get('host', '?')}) until {when}", hint="wait for it to finish, then run the command again")
        # Expired or dead: replace it, then make sure we won any race for it.
        self.remote.delete_meta(LOCK_NAME)
        if not self.remote.write_meta(LOCK_NAME, self._body(), exclusive=True):
            raise GitmodelError(f"{self.remote.where}: another gitmodel gc took the lock first",
                                hint="wait for it to finish, then run the command again")
        self._confirm()

    def _confirm(self) -> None:
        cur = self._current()
        if not cur or cur.get("token") != self.token:
            raise GitmodelError(f"{self.remote.where}: another gitmodel gc took the lock at the same time",
                                hint="wait for it to finish, then run the command again")

    def renew(self) -> None:
        if time.time() - self.renewed > LOCK_RENEW:
            self._confirm()
            self.remote.write_meta(LOCK_NAME, self._body())

    def release(self) -> None:
        cur = self._current()
        if cur is not None and cur.get("token") == self.token:
            self.remote.delete_meta(LOCK_NAME)


def gc_remote(repo: Repo, remote: str | None, *, dry_run: bool = False, keep_days: float = DEFAULT_KEEP_DAYS,
              now: float | None = None, progress: Progress | None = None, jobs: int | None = None) -> GcReport:
    """Delete remote objects that nothing this clone knows of can reach.

    Refused unless this clone has fetched every ref of every git remote
    (others' pushed work names objects too); objects younger than the grace
    period are kept (others' work not yet pushed to git).  Holds a lock on
    the remote, and the local record of what the remote holds is dropped
    before the first deletion."""
    from gitmodel.remote.known import KnownObjects
    from gitmodel.remote.spec import from_repo

    check_keep_days(keep_days)
    repo.require_init()
    refuse_if_shallow(repo)
    stale, roots = unfetched_git_refs(repo)
    if stale:
        name = stale[0].split(" ", 1)[0]
        more = f" and {len(stale) - 1} more" if len(stale) > 1 else ""
        raise GcRefusedError(f"nothing deleted: this clone's refs do not match the git remote '{name}' "
                             f"({stale[0].split(' ', 1)[1]}{more})", hint="run `git fetch --all --tags` first")
    r = from_repo(repo, remote)
    report = GcReport(dry_run, keep_days, r.where)
    lock = RemoteLock(r)
    try:
        refuse_if_shared(repo, r)  # before the lock: a refusal leaves the remote exactly as it was
        if not dry_run:
            lock.acquire()
        try:
            with repo.lock:
                reach, _ = reachable(repo, roots)
            report.warnings = reach.warnings
            if not dry_run and not list(gitops.run(["remote"], cwd=repo.root).stdout.split()):
                report.warnings.append("this repository has no git remote: only its own refs were considered")
            _expand_from_remote(r, reach)
            cutoff = (time.time() if now is None else now) - keep_days * DAY
            lists = {oid: (mtime, size) for oid, size, mtime in r.list_lists()}
            doomed_lists = sorted(expand_lists(reach, lists, cutoff, lambda oid, _: _remote_list(r, oid)))
            report.reachable = len(reach.oids)
            refuse_if_unsafe(reach)
            faults.point("gc:enumerated")
            doomed: list[tuple[str, int]] = []
            for oid, size, mtime in r.list_stats():
                if oid in reach.oids:
                    report.kept += 1
                elif mtime > cutoff:
                    report.kept_young += 1
                else:
                    doomed.append((oid, size))
            # Dead packs add their objects to the report, not to `doomed`.
            report.deleted = [(o, lists[o][1]) for o in doomed_lists] + doomed
            report.lists_deleted = list(doomed_lists)
            dead_packs = _dead_packs(r, reach, cutoff, report, os.path.join(repo.cache.root, "remotes", r.name))
            if dry_run or not (doomed or dead_packs or doomed_lists):
                return report
            # Before the first deletion: the record says "on the remote" and
            # push trusts it to skip uploads.
            KnownObjects(repo.cache.root, r.name, r.identity).forget()
            faults.point("gc:before-delete")
            if progress:
                progress.add_total(len(doomed), sum(s for _, s in doomed))
            for oid in doomed_lists:  # first: a list on the remote always names chunks that are there
                r.delete_list(oid)
                faults.point("gc:list-deleted")
                lock.renew()
            for oid, size in doomed:
                r.delete(oid)
                faults.point("gc:object-deleted")
                lock.renew()
                if progress:
                    progress.advance(1, size)
            for packid in dead_packs:
                r.delete_pack(packid)  # index first: its objects stop counting before the bytes go
                faults.point("gc:pack-deleted")
                lock.renew()
            # When the last deletion happened: another clone's record of what
            # the remote holds is stale if it is older than this.
            import json

            r.write_meta(LAST_GC_NAME, json.dumps({"time": time.time(),
                                                   "deleted": len(doomed) + len(doomed_lists)}).encode())
        finally:
            if not dry_run:
                lock.release()
    finally:
        r.close()
    return report


def refuse_if_shared(repo: Repo, r: Remote) -> None:
    """Refuse a remote that another repository pushes to, unless this clone
    sees that repository's pushed refs (gitmodel.remote.sharing): what only
    its refs reach would look unreachable here.  A repository that first
    pushes after this read uploads objects younger than the grace period,
    which gc keeps."""
    from gitmodel.remote import sharing

    me, others = sharing.strangers(repo, r)
    if not others:
        return
    n = len(others)
    first = others[0]
    if me.project and all(o.project == me.project for o in others):
        unseen = sorted({u for o in others for u in o.git_remotes} - set(me.git_remotes))
        clones = "another clone of this repository pushes" if n == 1 else f"{n} other clones of this repository push"
        if unseen:
            raise GcRefusedError(
                f"nothing deleted: {clones} to {r.where} ({first.description}) "
                f"through a git remote this clone lacks ({unseen[0]}{' and more' if len(unseen) > 1 else ''})",
                hint="add it (`git remote add NAME URL`), run `git fetch --all --tags`, then `gitmodel gc -r` again")
        raise GcRefusedError(
            f"nothing deleted: {clones} to {r.where} ({first.description}) "
            f"without a git remote, so their commits are invisible here",
            hint="give that clone a git remote this clone has too and push again from it, or delete its record "
                 f"meta/repos/{first.id}.json on the remote if that clone is gone (docs/remotes.md)")
    what = "another repository pushes" if n == 1 else f"{n} other repositories push"
    raise GcRefusedError(
        f"nothing deleted: {what} to {r.where} too ({first.description}), and objects only its refs reach "
        f"would look unreachable here",
        hint="remote gc needs a remote that one repository uses: give each repository its own remote or prefix, "
             "or delete the record of one that is gone under meta/repos/ (docs/remotes.md)")


def _dead_packs(r: Remote, reach: Reachable, cutoff: float, report: GcReport, record_dir: str) -> list[str]:
    """Remote packs to delete: those none of whose objects is reachable, and
    whose files are older than the grace period.  A pack with one reachable
    object is kept whole (a pack is never rewritten in place).  A pack left
    without its index by a killed upload is a temp file (deleted when as old);
    a pack whose index is damaged is kept, with a warning."""
    from gitmodel.errors import CorruptObjectError, ObjectMissingError
    from gitmodel.remote.packs import RemotePacks

    files: dict[str, dict[str, tuple[int, float]]] = {}
    for packid, ext, size, mtime in r.list_pack_stats():
        files.setdefault(packid, {})[ext] = (size, mtime)
    packs = RemotePacks(r, os.path.join(record_dir, "packs"))
    dead: list[str] = []
    for packid, have in sorted(files.items()):
        young = max(m for _, m in have.values()) > cutoff
        if "idx" not in have:
            if not young:
                dead.append(packid)
                report.temps.append((f"packs/pack-{packid}.pack", have["pack"][0]))
            continue
        try:
            entries = packs.index(packid)
        except ObjectMissingError:
            continue  # deleted meanwhile
        except CorruptObjectError as e:
            report.warnings.append(f"{e} (kept)")
            continue
        if any(o in reach.oids for o, _, _ in entries):
            report.kept += len(entries)
        elif young:
            report.kept_young += len(entries)
        else:
            dead.append(packid)
            report.deleted += [(o, n) for o, _, n in entries]
    return dead


def _remote_list(r: Remote, oid: str) -> bytes:
    """A chunk list as the remote holds it (gc reads every token in it)."""
    from gitmodel.errors import ObjectMissingError

    data = r.get_list(oid, None)
    if data is None:
        raise ObjectMissingError(f"it is listed on {r.where} but could not be read")
    return data


def _expand_from_remote(r: Remote, reach: Reachable) -> None:
    """Manifests the cache lacks are read (verified, not stored) from the
    remote itself; one it lacks too stays unknown and stops gc."""
    todo = list(reach.unknown_manifests)
    done: set[str] = set()
    while todo:
        moid = todo.pop()
        if moid in done:
            continue
        done.add(moid)
        sink = _Bytes()
        try:
            r.get(moid, sink)
        except GitmodelError:
            continue
        data = b"".join(sink.parts)
        if oidmod.of_bytes(data) != moid:
            continue
        where = reach.unknown_manifests.pop(moid, moid)
        if manifest.is_manifest(data):
            reach.manifests += 1
            reach.oids.update(t.decode() for t in OID_TOKEN.findall(data))
            for t in manifest.TREE_TOKEN.findall(data):  # the trees below it, read the same way
                sub = t.decode()
                if sub not in reach.unknown_manifests and sub not in done:
                    reach.unknown_manifests[sub] = where
                    todo.append(sub)


class _Bytes:
    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data: bytes | memoryview) -> None:
        self.parts.append(bytes(data))

