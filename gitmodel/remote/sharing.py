"""Which repositories push to a remote.

Objects are content-addressed, so several repositories can share one remote,
and `gc -r` run in one of them would delete what only another one's refs
reach.  So every push records its repository on the remote
(`meta/repos/<id>.json`, through gitmodel.remote.layout), and `gc -r`
(gitmodel.maintenance.gc_remote) refuses while the remote holds the record
of any repository whose refs it cannot see.

A repository here is one clone, that is one cache: `<cache>/repository.json`
holds a random id made at its first push (kept once the remote has the
record), and the project it belongs to
(the oldest root commit of HEAD's history, found once).  Two clones of one
project are different repositories, but `gc -r` in one can see what the
other pushed to git when both name the same project and every git remote
the other one has is one of this clone's too: gc's `git ls-remote` check
then covers the other's pushed refs, as it covers a teammate's.  That is the
only sharing gc -r accepts; there is no flag to override it, because nothing
this clone can check would make deleting safe.

A record holds no secret: git remote URLs are reduced to host and path
(`github.com/team/proj`; credentials, ports, queries and `.git` dropped) or
a local path, and the description is the work tree's folder name and the
host name.
"""

from __future__ import annotations

import json
import math
import os
import re
import socket
import time
import uuid
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from gitmodel.git import runner as gitops
from gitmodel.platform import atomic
from gitmodel.remote.layout import Remote, is_repository_id
from gitmodel.repo import Repo

ID_FILE = "repository.json"  # in the cache root
FORMAT = 1
REFRESH = 86400.0  # a push rewrites an unchanged record once a day (its last-push time), not every time
MAX_RECORD = 64 * 1024  # a record is ~300 bytes; a bigger one is not ours
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_SCP = re.compile(r"^(?:[^@/:]+@)?([^/:]+):(.*)$")  # git's scp-like syntax: [user@]host:path


@dataclass(frozen=True)
class Record:
    """One repository that pushes to a remote, as its record says."""

    id: str
    project: str  # root commit, "" when unknown
    git_remotes: tuple[str, ...]  # normalised git remote URLs
    description: str
    pushed: float | None = None

    def body(self, now: float) -> bytes:
        return json.dumps({"format": FORMAT, "id": self.id, "project": self.project,
                           "git_remotes": list(self.git_remotes), "description": self.description,
                           "pushed": now}, indent=1).encode()


def parse(repo_id: str, raw: bytes | None) -> Record:
    """A record read from a remote (untrusted: anything that does not parse
    is a repository we know nothing about, which never counts as ours)."""
    unknown = Record(repo_id, "", (), f"an unreadable record (meta/repos/{repo_id}.json)")
    if raw is None or len(raw) > MAX_RECORD:
        return unknown
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        return unknown
    if not isinstance(data, dict):
        return unknown
    project = data.get("project")
    remotes = data.get("git_remotes")
    desc = data.get("description")
    pushed = data.get("pushed")
    # Git remotes are compared and shown in messages: a list of printable
    # strings, or the whole record is unknown (dropping one entry would make
    # the record look covered by fewer remotes than it names).
    if not isinstance(remotes, list) or len(remotes) > 100 or not all(
            isinstance(u, str) and u.isprintable() and 0 < len(u) <= 400 for u in remotes):
        return unknown
    return Record(
        repo_id,
        project if isinstance(project, str) and re.fullmatch(r"[0-9a-f]{40,64}", project) else "",
        tuple(remotes),
        # Shown in one line: printable, short.
        "".join(c for c in desc[:80] if c.isprintable()) if isinstance(desc, str) and desc else f"id {repo_id}",
        _when(pushed),
    )


def _when(value: object) -> float | None:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    try:
        f = float(value)
    except OverflowError:  # an integer of 400 digits
        return None
    return f if math.isfinite(f) else None


def normal_url(url: str, root: str) -> str:
    """A git remote URL reduced to what names the repository: `host/path`
    without user, password, port, query or `.git`; a local path made
    absolute and real.  ssh and https spellings of one repository agree."""
    u = url.strip()
    m = _SCHEME.match(u)
    if m and m.group(1).lower() != "file":
        parts = urlsplit(u)
        return _tidy(f"{(parts.hostname or '').lower()}/{unquote(parts.path).lstrip('/')}")
    if m:
        path = unquote(urlsplit(u).path)
    else:
        scp = _SCP.match(u)
        if scp and "/" not in scp.group(1) and not os.path.exists(os.path.join(root, u)):
            return _tidy(f"{scp.group(1).lower()}/{scp.group(2).lstrip('/')}")
        path = os.path.expanduser(u)
    return _tidy(os.path.realpath(os.path.join(root, path)))


def _tidy(s: str) -> str:
    s = s.rstrip("/")
    return s[:-len(".git")].rstrip("/") if s.endswith(".git") else s


def identity(repo: Repo) -> Record:
    """This repository's record (a new id until a push has kept one)."""
    return _identity(repo)[0]


def _identity(repo: Repo) -> tuple[Record, bytes | None]:
    """This repository's record, and what `<cache>/repository.json` must
    hold when it does not hold it yet (None: nothing to store)."""
    path = os.path.join(repo.cache.root, ID_FILE)
    stored: dict[str, object] = {}
    try:
        with open(path, "rb") as f:
            loaded = json.loads(f.read(MAX_RECORD))
        stored = loaded if isinstance(loaded, dict) else {}
    except (OSError, ValueError, RecursionError):
        pass  # absent or damaged: a new id (the old record then looks like another clone's: gc -r refuses)
    repo_id = stored.get("id")
    project = stored.get("project")
    if not isinstance(repo_id, str) or not is_repository_id(repo_id) or not isinstance(project, str):
        repo_id, project = uuid.uuid4().hex, ""
        stored = {}
    if not project:
        project = _root_commit(repo)
    keep = None
    if stored.get("id") != repo_id or stored.get("project") != project:
        keep = json.dumps({"id": repo_id, "project": project}).encode()
    remotes = sorted({normal_url(url, repo.root) for url in _git_remote_urls(repo)})
    me = Record(repo_id, project, tuple(remotes), f"{os.path.basename(repo.root)} on {socket.gethostname()}")
    return me, keep


def _git_remote_urls(repo: Repo) -> list[str]:
    """`remote.*.url` from git's config, read with one `git config` rather
    than through pygit2: a push with nothing new never loads pygit2
    otherwise, and its import costs more than the whole rest of that push."""
    proc = gitops.run(["config", "-z", "--get-regexp", r"^remote\..*\.url$"], cwd=repo.root, check=False)
    out = []
    for record in proc.stdout.decode("utf-8", "surrogateescape").split("\0"):
        _, _, url = record.partition("\n")
        if url:
            out.append(url)
    return out


def _root_commit(repo: Repo) -> str:
    """The oldest root of HEAD's history ("" before the first commit).  Run
    once per clone: the answer is stored."""
    proc = gitops.run(["rev-list", "--max-parents=0", "HEAD", "--"], cwd=repo.root, check=False)
    roots = proc.stdout.decode(errors="replace").split() if proc.returncode == 0 else []
    return min(roots) if roots else ""


def record(repo: Repo, r: Remote, now: float | None = None) -> None:
    """Record this repository on the remote, before a push uploads anything
    (so a gc -r that starts later sees it; one that started earlier keeps
    the new objects anyway: they are younger than its grace period).  An
    unchanged record is rewritten once a day, so a push with nothing new
    costs one small read here."""
    me, keep = _identity(repo)
    now = time.time() if now is None else now
    have = r.read_repository(me.id)
    old = parse(me.id, have) if have is not None else None
    if (old is None or (old.project, old.git_remotes, old.description) != (me.project, me.git_remotes, me.description)
            or old.pushed is None or not 0 <= now - old.pushed < REFRESH):
        r.write_repository(me.id, me.body(now))
    if keep is not None:
        # Kept only once the remote has the record: a push that fails
        # before leaves the cache as it was.
        try:
            atomic.write_atomic(os.path.join(repo.cache.root, ID_FILE), keep)
        except OSError:
            pass  # this run's id only: the next push makes another, and gc -r refuses on this one's record


def strangers(repo: Repo, r: Remote) -> tuple[Record, list[Record]]:
    """(this repository, the other repositories recorded on the remote whose
    pushed refs this clone cannot see)."""
    me = identity(repo)
    mine = set(me.git_remotes)
    out: list[Record] = []
    for repo_id, raw in r.repositories():
        if repo_id == me.id:
            continue
        rec = parse(repo_id, raw)
        if me.project and rec.project == me.project and rec.git_remotes and set(rec.git_remotes) <= mine:
            continue  # a clone of this project whose git remotes are all ours: `git ls-remote` sees its refs
        out.append(rec)
    return me, out
