"""Getting one artifact of another gitmodel repository: `gitmodel get`.

The source is a local path or a git URL; its workspace is never checked
out.  Its pointer and committed config are read in-process (a URL is cloned
bare and shallow into a temp folder first); the objects come from the
source's own cache when it is local, else from its default remote, verified
into a temporary cache (with `gitmodel.transfer.fetch.fetch_wanted`) and moved to
the destination in one rename.  `_clone` and `_committed_config` also serve
`gitmodel.api` for reading versions of a URL.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from gitmodel.config import CONFIG_DIR, CONFIG_FILE, Config
from gitmodel.errors import GitError, GitmodelError, ObjectMissingError, PathError, RemoteError
from gitmodel.git import revs
from gitmodel.git import runner as gitops
from gitmodel.platform import faults
from gitmodel.platform.atomic import SaveFile, write_atomic
from gitmodel.progress import Progress
from gitmodel.remote.spec import open_remote, redact, spec_from_config
from gitmodel.repo import Repo
from gitmodel.store import manifest
from gitmodel.store import pointer as ptr
from gitmodel.store.cache import Cache
from gitmodel.transfer.fetch import fetch_wanted
from gitmodel.transfer.wanted import Wanted


@dataclass
class GetReport:
    source: str  # the repository, credentials redacted
    path: str
    rev: str
    out: str
    kind: str
    files: int
    size: int
    oid: str
    downloaded: int  # objects fetched from the remote
    local: int  # objects taken from the source repository's own cache


def get(source: str, path: str, *, rev: str | None = None, out: str | None = None, remote: str | None = None,
        jobs: int | None = None, progress: Progress | None = None, cwd: str | None = None,
        choose: Callable[[Repo], tuple[str, str, Callable[[str], None]]] | None = None,
        versions: bool = False) -> GetReport:
    """Download one tracked artifact of another gitmodel repository (a local
    path or a git URL) at `rev`, without checking out its workspace.

    The source's pointer and committed config are read in-process (a URL is
    cloned bare and shallow into a temp folder first); the objects come from
    the source's own cache when it is local, else from its default remote,
    verified into a temporary cache beside OUT, and appear at OUT in one
    rename.  OUT must not exist.

    `choose(source repo) -> (path, revision, check)`: decides what is got,
    once the source is open and before any object is fetched (the
    registry's version references and signature checks:
    `gitmodel.registry.chosen`); it may raise to refuse, and `check(oid)`
    may refuse the oid the pointer names.  `versions`: the source's version tags are
    needed (a clone fetches every tag, and its committed config and allowed
    signers are put where the registry reads them)."""
    cwd = cwd or os.getcwd()
    rel = _artifact_rel(path) if choose is None else None
    target = os.path.abspath(os.path.join(cwd, out)) if out is not None else None
    into_folder = target is None or os.path.isdir(target)
    parent = (target if into_folder else os.path.dirname(target)) if target is not None else cwd
    if not os.path.isdir(parent):
        raise PathError(f"{parent}: no such folder for the output", hint="create it first")
    if rel is not None:
        _free(_out_path(parent, target, into_folder, rel))
    shown = redact(source)
    tmp = tempfile.mkdtemp(prefix=".gm-tmp-get-", dir=parent)
    try:
        src, config, base, local_cache = _open_source(source, rev, tmp, cwd, versions)
        at = rev or "HEAD"
        check: Callable[[str], None] | None = None
        if choose is not None:
            chosen, at, check = choose(src)
            rel = _artifact_rel(chosen)
            if at != (rev or "HEAD"):
                config = _committed_config(src, at, tmp) if src.bare else config
        assert rel is not None
        out_path = _out_path(parent, target, into_folder, rel)
        _free(out_path)
        pointer = revs.pointer_at(src, at, rel)
        if check is not None:
            check(pointer.oid)
        cache = Cache(os.path.join(tmp, "cache"))
        cache.ensure()
        want = Wanted()
        want.add(rel, pointer)
        local = 0
        if local_cache is not None:
            from gitmodel.remote.layout import Remote
            from gitmodel.remote.local import LocalBackend

            # The source's own cache has the local layout of a remote (objects/xxh128/..).
            here = Remote(LocalBackend("cache", local_cache, local_cache))
            rep = fetch_wanted(cache, here, want, 4, None, None, strict=False)
            local = rep.downloaded
        downloaded = 0
        if not _complete(cache, want):
            try:
                spec = spec_from_config(config, remote, base or tmp)
            except RemoteError as e:
                raise RemoteError(f"{shown}: {rel} is not in its local cache and {e.message}", hint=e.hint) from None
            if base is None and "://" not in spec.url and not os.path.isabs(os.path.expanduser(spec.url)):
                raise RemoteError(f"{shown}: its remote '{spec.name}' is a relative folder ({spec.display}), "
                                  f"which means nothing away from a clone",
                                  hint="clone the repository and run `gitmodel pull`, or pass -r with another remote")
            r = open_remote(spec)
            try:
                rep = fetch_wanted(cache, r, want, jobs or spec.jobs() or r.default_jobs, None, progress,
                                   strict=True)
                downloaded = rep.downloaded
            finally:
                r.close()
        faults.point("get:fetched")
        files = _materialize(cache, pointer, rel, os.path.join(tmp, "out"))
        os.rename(os.path.join(tmp, "out"), out_path)
        return GetReport(shown, rel, at, out_path, pointer.kind, files, pointer.size, pointer.oid, downloaded, local)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _out_path(parent: str, target: str | None, into_folder: bool, rel: str) -> str:
    return os.path.join(parent, posixpath.basename(rel)) if into_folder else str(target)


def _free(out_path: str) -> None:
    if os.path.lexists(out_path):
        raise PathError(f"{out_path} already exists", hint="remove it or choose another destination with -o OUT")


def _artifact_rel(path: str) -> str:
    rel = posixpath.normpath(path.replace(os.sep, "/"))
    if rel.startswith("/") or rel == "." or rel == ".." or rel.startswith("../"):
        raise PathError(f"{path}: give the artifact's path inside the repository (like models/clf.pkl)")
    return ptr.target_path(rel) if rel.endswith(ptr.SUFFIX) else rel


def _complete(cache: Cache, want: Wanted) -> bool:
    if cache.missing(want.files):
        return False
    for m in want.dirs:
        if not cache.has(m):
            return False
        try:
            entries = manifest.expand(cache.read_bytes, m, m)[0]
        except ObjectMissingError:
            return False
        if cache.missing(e.oid for e in entries):
            return False
    return True


def _open_source(source: str, rev: str | None, tmp: str, cwd: str, versions: bool = False
                 ) -> tuple[Repo, Config, str | None, str | None]:
    """(repo to read pointers from, its config, base for relative remote
    paths (None for a clone), its cache root when local).  `versions`: the
    registry will read it (see `get`), so a bare source is cloned too, its
    committed files beside its tags."""
    if source.startswith("file://"):
        source = unquote(urlsplit(source).path)
    local = os.path.abspath(os.path.join(cwd, source))
    if "://" not in source and os.path.isdir(local):
        try:
            root, git_dir, common = gitops.discover(local)
        except GitmodelError:
            root = git_dir = common = ""
        if root:
            repo = Repo(root, git_dir, common)
            return repo, repo.config, repo.root, repo.cache.root if os.path.isdir(repo.cache.objects) else None
        bare = os.path.isfile(os.path.join(local, "HEAD")) and os.path.isdir(os.path.join(local, "objects"))
        if bare and not versions:
            repo = Repo(local, local, local)  # a bare repository: read in place
            return repo, _committed_config(repo, rev, tmp), local, None
        if not bare:
            raise GitError(f"{source}: is not a git repository", hint="give a clone's path or a git URL")
    clone = os.path.join(tmp, "repo.git")
    repo = clone_source(source, None if versions else rev, clone, versions=versions)
    return repo, _committed_config(repo, rev if not versions else None, tmp), None, None


def clone_source(url: str, rev: str | None, dest: str, *, versions: bool = False) -> Repo:
    """A bare, shallow clone of `url` at `dest`, as a Repo.  `versions`:
    with every tag (each tagged commit shallow too: version tags and stage
    tags decide what a reference names, and their signatures are what is
    verified).  The clone's committed `.gitmodel/config.toml` and
    `.gitmodel/allowed_signers` (of what it checked out: `rev`, else the
    default branch) are written where the registry and `[security]` are
    read from a repository's own (a clone has no workspace)."""
    _clone(url, rev, dest)
    repo = Repo(dest, dest, dest)
    if versions:
        proc = gitops.run(["fetch", "--quiet", "--depth", "1", "origin", "+refs/tags/*:refs/tags/*"], cwd=dest,
                          env=gitops.env_for_remote(), check=False)
        if proc.returncode != 0:
            lines = proc.stderr.decode(errors="replace").strip().splitlines()
            raise GitError(f"cannot fetch the tags of {redact(url)}: {redact(lines[-1] if lines else '')}")
    tree = revs.resolve_commit(repo, "HEAD").tree
    os.makedirs(os.path.join(dest, CONFIG_DIR), exist_ok=True)
    for name in (CONFIG_FILE, "allowed_signers"):
        try:
            blob = tree[f"{CONFIG_DIR}/{name}"]
        except KeyError:
            continue
        data = getattr(blob, "data", None)  # a blob; a tree or link there is no such file
        if isinstance(data, bytes) and getattr(blob, "filemode", 0o100644) in (0o100644, 0o100755):
            write_atomic(os.path.join(dest, CONFIG_DIR, name), data, durable=False)
    return repo


def _clone(url: str, rev: str | None, dest: str) -> None:
    env = gitops.env_for_remote()
    attempts = [["--depth", "1"] + (["--branch", rev] if rev else []), []] if rev else [["--depth", "1"]]
    last = ""
    for extra in attempts:
        shutil.rmtree(dest, ignore_errors=True)
        proc = gitops.run(["clone", "--bare", "--quiet", *extra, "--", url, dest], env=env, check=False)
        if proc.returncode == 0:
            return
        lines = proc.stderr.decode(errors="replace").strip().splitlines()
        last = lines[-1] if lines else f"exit {proc.returncode}"
    raise GitError(f"cannot clone {redact(url)}: {redact(last)}", hint="check the URL and your access to it")


def _committed_config(repo: Repo, rev: str | None, tmp: str) -> Config:
    """The source's committed .gitmodel/config.toml at `rev`, as a Config."""
    folder = os.path.join(tmp, "config")
    os.makedirs(os.path.join(folder, CONFIG_DIR), exist_ok=True)
    tree = revs.resolve_commit(repo, rev or "HEAD").tree
    try:
        blob = tree[f"{CONFIG_DIR}/{CONFIG_FILE}"]
        data: bytes = getattr(blob, "data", b"")  # a blob; a tree there is no config
    except KeyError:
        data = b""
    with open(os.path.join(folder, CONFIG_DIR, CONFIG_FILE), "wb") as f:
        f.write(data)
    return Config(folder)


def _materialize(cache: Cache, pointer: ptr.Pointer, rel: str, dest: str) -> int:
    """Move verified objects out of the temporary cache into `dest` (a file,
    or a folder built in full), by rename where possible (packed objects are
    written out, chunked files rebuilt and verified)."""
    placed: dict[str, str] = {}

    def place(oid: str, target: str, executable: bool = False) -> None:
        if oid in placed:  # the same content twice: the object already moved
            shutil.copyfile(placed[oid], target)
        elif cache.is_chunked(oid):
            # Rebuilt from its chunks into a temp file beside the target,
            # which takes the name only once the whole file hashes to `oid`.
            cl = cache.chunks.read_list(oid)
            with SaveFile(os.path.dirname(target)) as f:
                cache.chunks.rebuild(cl, f.write, rel)
                f.commit(target)
            placed[oid] = target
        else:
            try:
                os.rename(cache.path(oid), target)
            except FileNotFoundError:  # packed (a small object): its bytes, checked again on the way out
                with open(target, "xb") as f:
                    f.write(cache.read_bytes(oid))
            placed[oid] = target
        os.chmod(target, 0o755 if executable else 0o644)

    if not pointer.is_dir:
        place(pointer.oid, dest)
        return 1
    entries = cache.read_manifest(pointer, ptr.pointer_path(rel), rel)
    os.mkdir(dest)
    for folder in sorted({posixpath.dirname(e.path) for e in entries} - {""}):
        os.makedirs(os.path.join(dest, folder), exist_ok=True)
    for e in entries:
        place(e.oid, os.path.join(dest, e.path), e.executable)
    return len(entries)
