"""Observing a repository (no tests of its own), above all to prove that a
failed or refused command changed nothing: `before = repo_state(root)`, run
it, `assert_unchanged(root, before)`.  Deliberately independent of the code
under test: file bytes and hashes are re-derived here from scratch."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from tests.support.git import git
from tests.support.store import cache_oids, cache_root, oid_of


def tree_state(top: Path, skip_git: bool = True) -> dict[str, tuple[str, int, bytes]]:
    """{relpath: (type, mode, content)} for everything below `top` (its
    top-level .git left out unless skip_git=False)."""
    out: dict[str, tuple[str, int, bytes]] = {}
    for folder, dirs, files in os.walk(top):
        if skip_git and folder == str(top):
            dirs[:] = [d for d in dirs if d != ".git"]
        for name in dirs + files:
            p = os.path.join(folder, name)
            rel = os.path.relpath(p, top)
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", 0, os.readlink(p).encode())
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir", stat.S_IMODE(st.st_mode), b"")
            elif stat.S_ISREG(st.st_mode):
                try:
                    data = Path(p).read_bytes()
                except PermissionError:
                    data = b"<unreadable>"
                out[rel] = ("file", stat.S_IMODE(st.st_mode), data)
            else:
                out[rel] = ("other", stat.S_IMODE(st.st_mode), b"")
    return out


def file_contents(root: Path, rel: str = "") -> dict[str, bytes]:
    """{path below root/rel: bytes} of every file there (through symlinks;
    a dangling one reads as b"<dangling -> target>"), .git folders left out.
    Lighter than tree_state: content only, no modes or folders."""
    top = root / rel if rel else root
    out: dict[str, bytes] = {}
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames[:] = [d for d in dirnames if d != ".git"]
        for name in filenames:
            p = os.path.join(dirpath, name)
            try:
                data = Path(p).read_bytes()
            except FileNotFoundError:
                if not os.path.islink(p):
                    raise
                data = f"<dangling -> {os.readlink(p)}>".encode()
            out[os.path.relpath(p, top)] = data
    return out


def mtime_state(root: Path) -> tuple[object, ...]:
    """(every path's mtime, work tree and cache, not the rest of .git; git
    status; the cache's loose oids): equal before and after a command that
    must not even rewrite a file.  Left out: the cache lock (it records its
    holder) and the stat cache's sqlite files (checkpointed whenever an
    earlier in-process command's connection is collected)."""
    files = sorted((str(p.relative_to(root)), p.stat().st_mtime_ns if p.is_file() else 0) for p in root.rglob("*")
                   if (not str(p.relative_to(root)).startswith(".git")
                       or str(p.relative_to(root)).startswith(".git/gitmodel/"))
                   and p.name != "lock" and not p.name.startswith("state.db"))
    return tuple(files), git("status", "--porcelain", cwd=root), frozenset(cache_oids(root))


def index(root: Path) -> str:
    """The git index as `git ls-files --stage` shows it."""
    return git("ls-files", "--stage", cwd=root)


def cache_state(root: Path) -> dict[str, tuple[int, int, str]]:
    """Every file in the cache but the lock and the stat cache (hints, not
    content): {relpath: (size, mode, hash)}."""
    base = cache_root(root)
    out: dict[str, tuple[int, int, str]] = {}
    for folder, _dirs, files in os.walk(base):
        for name in files:
            p = os.path.join(folder, name)
            rel = os.path.relpath(p, base)
            if rel == "lock" or rel.startswith("state.db"):
                continue
            st = os.lstat(p)
            try:
                h = oid_of(Path(p).read_bytes()) if stat.S_ISREG(st.st_mode) else ""
            except PermissionError:
                h = "<unreadable>"
            out[rel] = (st.st_size, stat.S_IMODE(st.st_mode), h)
    return out


def repo_state(root: Path, remote: Path | None = None) -> dict[str, object]:
    """Work tree, index and cache (and a folder remote, if given): what a
    failed command must leave as it was."""
    snap: dict[str, object] = {
        "work tree": tree_state(root),
        "index": index(root),
        "cache": cache_state(root),
    }
    if remote is not None:
        snap["remote"] = tree_state(remote, skip_git=False)
    return snap


def assert_unchanged(root: Path, before: dict[str, object], remote: Path | None = None) -> None:
    """The repository (and remote) are as repo_state() saw them in `before`;
    the message names the part that changed."""
    after = repo_state(root, remote)
    for name in before:
        assert after[name] == before[name], f"the {name} changed"


def git_control_state(root: Path) -> dict[str, bytes]:
    """`.git` as far as no gitmodel command may write it: hooks, config,
    info, refs, bytes per file; left out are gitmodel's cache, what git
    itself writes when a command stages (objects, index, logs, FETCH_HEAD,
    ORIG_HEAD), and in config the
    one section gitmodel adds there, its readable-diff driver."""
    git_dir = root / ".git"
    out: dict[str, bytes] = {}
    for folder, _dirs, files in os.walk(git_dir):
        for name in files:
            p = Path(folder, name)
            rel = str(p.relative_to(git_dir))
            if rel.startswith(("gitmodel/", "logs/", "objects/")) or rel in ("index", "FETCH_HEAD", "ORIG_HEAD"):
                continue
            out[rel] = os.readlink(p).encode() if p.is_symlink() else p.read_bytes()
    if "config" in out:
        out["config"] = re.sub(rb'\[diff "gitmodel"\]\n\ttextconv = [^\n]*\n', b"", out["config"])
    return out


def outside_state(top: Path, *inside: str) -> dict[str, tuple[str, int, bytes]]:
    """Everything below `top` but the folders `inside` (the clone a hostile
    repository was cloned into), for "nothing was written outside the work
    tree".  Stat caches are left out: an in-process command's connection to
    another repository's may checkpoint it when collected."""
    return {rel: v for rel, v in tree_state(top, skip_git=False).items()
            if rel.split(os.sep, 1)[0] not in inside and not os.path.basename(rel).startswith("state.db")}
