"""The textconv diff driver: what `git diff` and `git log -p` show for a
pointer file (`*.gm diff=gitmodel` in .gitattributes, and
`diff.gitmodel.textconv` in the clone's git config).

git hands the driver one side of the diff in a temporary file and diffs the
text it prints, so each fact gets a line of its own and a change shows as a
-/+ pair:

    gitmodel file: 1.2 MiB (1258291 bytes), oid 4f1c2a9b0d

    gitmodel folder: 3 files, 12.0 KiB (12288 bytes), manifest 9ab3c0e1f2
    a.txt  1 B  0cc175b9c0
    sub/b.txt  1 B  92eb5ffee6

A folder's file lines come from its manifest when the cache has it (one line
per file, sorted by path, so git shows files added, removed and changed);
without it, one line says so.  Anything that is not a pointer (conflict
markers, a hand-edited file) is printed as it is: a diff must never fail.
"""

from __future__ import annotations

from gitmodel.errors import GitmodelError
from gitmodel.humanize import human_size, plural
from gitmodel.repo import Repo
from gitmodel.store import manifest
from gitmodel.store import pointer as ptr
from gitmodel.store.oid import short


def _size(n: int) -> str:
    return f"{human_size(n)} ({n} bytes)"


def render(raw: bytes, repo: Repo | None) -> str:
    """The text git diffs for one pointer file's content."""
    try:
        p = ptr.loads(raw.decode("utf-8"), "pointer")
    except (GitmodelError, UnicodeDecodeError):
        return raw.decode("utf-8", "replace")
    extra = [f"{k} {v}" for k, v in sorted(p.extra.items())]
    if not p.is_dir:
        return "\n".join([f"gitmodel file: {_size(p.size)}, oid {short(p.oid)}", *extra]) + "\n"
    n = p.files or 0
    lines = [f"gitmodel folder: {plural(n, 'file')}, {_size(p.size)}, manifest {short(p.oid)}", *extra]
    if repo is None or not repo.cache.has(p.oid):
        lines.append(f"(file list not shown: manifest {short(p.oid)} is not in the cache; "
                     f"run `gitmodel fetch` to see it)")
        return "\n".join(lines) + "\n"
    try:
        entries = manifest.expand(repo.cache.read_bytes, p.oid, f"manifest {p.oid}")[0]
    except GitmodelError as e:  # corrupt in the cache: say so, and still diff the rest
        lines.append(f"(file list not shown: {e})")
        return "\n".join(lines) + "\n"
    lines += [f"{e.path}  {human_size(e.size)}  {short(e.oid)}{'  executable' if e.executable else ''}"
              for e in entries]
    return "\n".join(lines) + "\n"


def textconv(path: str) -> str:
    """Read the file git gives the driver and render it."""
    with open(path, "rb") as f:
        raw = f.read(ptr.MAX_POINTER_BYTES + 1)
    if len(raw) > ptr.MAX_POINTER_BYTES:
        with open(path, "rb") as f:
            return f.read().decode("utf-8", "replace")  # not a pointer: show it as it is
    try:
        repo: Repo | None = Repo.discover()
    except GitmodelError:
        repo = None  # outside a work tree (a bare repository): no cache, no file lists
    return render(raw, repo)
