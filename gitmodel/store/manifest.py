"""Directory manifests: the object a directory pointer names.

    gitmodel-manifest 1
    xxh128:<hex>\t<size>\t<mode>\t<relative/posix/path>

One line per file, sorted by path; mode is 644 or 755 (the executable bit,
the only permission git itself keeps).  Text rather than JSON because it
parses twice as fast for 20k entries and diffs line by line.  Paths holding a
tab or a newline are refused at add time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from gitmodel.errors import PointerError
from gitmodel.store import paths
from gitmodel.store.pointer import MAX_SIZE

HEADER = "gitmodel-manifest 1"
# Sizes in ASCII digits, at most as many as MAX_SIZE has: `\d` would take
# other scripts' digits, and int() refuses more than 4300 of them.
_LINE = re.compile(r"^(xxh128:[0-9a-f]{32})\t([0-9]{1,19})\t(644|755)\t([^\t\n]+)$", re.M)
# Files one manifest may list when no pointer says how many (fetch and push
# read manifests by oid): more than any folder gitmodel tracks, and a bound
# on what a stranger's manifest makes us allocate.
MAX_ENTRIES = 5_000_000
# The longest line a real entry takes: oid, size, mode, three tabs, a newline,
# and a path the file system can open (PATH_MAX, 4096 bytes).
MAX_LINE_BYTES = 64 + 4096


@dataclass(frozen=True, slots=True)
class Entry:
    path: str  # relative, posix separators
    oid: str
    size: int
    executable: bool = False


def check_relpath(path: str, where: str, dotgit: bool = True) -> None:
    """Refuse a manifest path that could escape its directory.

    Plain string tests rather than a split per path: this runs for every
    entry of every manifest read, 20k times for a 20k-file directory."""
    if (not path or path in (".", "..") or path[0] == "/" or path.startswith(("./", "../"))
            or path.endswith(("/", "/.", "/..")) or "//" in path or "/./" in path
            or "/../" in path or "\\" in path or "\0" in path):
        raise PointerError(f"{where}: unsafe path {path[:120]!r} in manifest")
    if dotgit and "git" in path.lower() and any(paths.is_dotgit(part) for part in path.split("/")):
        # A `.git` inside the work tree is a repository of its own whose
        # config git would obey (core.fsmonitor runs commands): never write
        # one, in any spelling a file system folds into `.git` (paths.is_dotgit).
        raise PointerError(f"{where}: unsafe path {path[:120]!r} in manifest (a .git folder)")


def dumps(entries: list[Entry]) -> bytes:
    entries = sorted(entries, key=lambda e: e.path)
    out = [HEADER]
    out += [f"{e.oid}\t{e.size}\t{'755' if e.executable else '644'}\t{e.path}" for e in entries]
    return ("\n".join(out) + "\n").encode("utf-8")


def max_bytes(files: int) -> int:
    """The largest manifest a folder of `files` files can have: a manifest
    object bigger than that is refused before it is read."""
    return len(HEADER) + 1 + files * MAX_LINE_BYTES


def loads(data: bytes, where: str, files: int | None = None) -> list[Entry]:
    """Parse a manifest.  `files`, when its pointer says, is how many entries
    it must list: one that lists more is refused before a line is parsed
    (counting newlines allocates nothing), as is any beyond MAX_ENTRIES."""
    limit = MAX_ENTRIES if files is None else files
    if data.count(b"\n") > limit + 1:  # the header's line, and entries
        said = f"its pointer says {files}" if files is not None else f"at most {MAX_ENTRIES:,} are read"
        raise PointerError(f"{where}: lists more than {limit:,} files ({said})")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise PointerError(f"{where}: manifest is not UTF-8") from None
    if not text.startswith(HEADER + "\n"):
        raise PointerError(f"{where}: not a gitmodel manifest (bad header)")
    body = text[len(HEADER) + 1:]
    rows = _LINE.findall(body)
    if len(rows) != body.count("\n") + (0 if body.endswith("\n") or not body else 1):
        for lineno, line in enumerate(body.split("\n"), 2):
            if line and not _LINE.match(line):
                raise PointerError(f"{where}:{lineno}: malformed manifest line")
    entries: list[Entry] = []
    seen: set[str] = set()
    dotgit = "git" in body.lower()  # one pass over the text, not one test per entry
    for oid, size, mode, path in rows:
        check_relpath(path, where, dotgit)
        if path in seen:
            raise PointerError(f"{where}: duplicate path {path!r} in manifest")
        seen.add(path)
        n = int(size)
        if n > MAX_SIZE:
            raise PointerError(f"{where}: size {size} of {path[:120]!r} is implausibly large")
        entries.append(Entry(path, oid, n, mode == "755"))
    # A path that is a file and also a folder of another cannot be checked
    # out.  One rpartition per entry, then the few distinct folders.
    folders = {p.rpartition("/")[0] for p in seen}
    for folder in list(folders):
        while folder:
            folder = folder.rpartition("/")[0]
            folders.add(folder)
    clash = folders & seen
    if clash:
        raise PointerError(f"{where}: {min(clash)!r} is both a file and a folder in manifest")
    if files is not None and len(entries) != files:
        raise PointerError(f"{where}: lists {len(entries):,} files, but its pointer says {files:,}")
    return entries
