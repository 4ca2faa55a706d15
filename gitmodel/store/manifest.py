"""Directory manifests: the object a directory pointer names, in one of two forms.

A flat manifest (every version before trees, still read everywhere):

    gitmodel-manifest 1
    xxh128:<hex>\t<size>\t<mode>\t<relative/posix/path>

One line per file, sorted by path; mode is 644 or 755 (the executable bit,
the only permission git itself keeps).  Text rather than JSON because it
parses twice as fast for 20k entries and diffs line by line.  Paths holding a
tab or a newline are refused at add time.

A tree (what `add` writes): one object per folder, naming its files and the
trees of its subfolders, the way git's trees do:

    gitmodel-tree 1
    xxh128:<hex>\t<size>\t<mode>\t<name>          a file of this folder
    xxh128:<hex>\t<size>\td<files>\t<name>        a subfolder: its tree, and the bytes and files below it

Why trees (docs/architecture.md, "A million files"): a changed file rewrites
its folder's tree and those above it, a few KiB, where a flat manifest of a
million files is 80 MB rewritten and pushed again; a walk compares one folder
at a time against one small object, so memory follows the largest folder,
not the file count.  Names sort as git sorts them (a subfolder as `name/`), so
the files a tree holds come out in the flat manifest's path order.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from gitmodel.errors import PointerError
from gitmodel.store import paths
from gitmodel.store.oid import of_bytes as oid_of
from gitmodel.store.pointer import MAX_SIZE

HEADER = "gitmodel-manifest 1"
TREE_HEADER = "gitmodel-tree 1"
HEADERS = (HEADER.encode() + b"\n", TREE_HEADER.encode() + b"\n")
# Sizes in ASCII digits, at most as many as MAX_SIZE has: `\d` would take
# other scripts' digits, and int() refuses more than 4300 of them.
_LINE = re.compile(r"^(xxh128:[0-9a-f]{32})\t([0-9]{1,19})\t(644|755)\t([^\t\n]+)$", re.M)
# Files one manifest may list when no pointer says how many (fetch and push
# read manifests by oid): more than any folder gitmodel tracks, and a bound
# on what a stranger's manifest makes us allocate.
MAX_ENTRIES = 5_000_000
_TREE_LINE = re.compile(r"^(xxh128:[0-9a-f]{32})\t([0-9]{1,19})\t(644|755|d[0-9]{1,10})\t([^\t\n/]+)$", re.M)
# Every subtree a tree names (gc's superset scan: lines it would refuse still count).
TREE_TOKEN = re.compile(rb"(xxh128:[0-9a-f]{32})\t[0-9]+\td[0-9]+\t")
# Levels of folders a tree may nest: far more than any data set has, and a
# bound on how deep a stranger's trees make a reader recurse.
MAX_DEPTH = 256
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


# -- trees ------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Subtree:
    name: str  # one path component
    oid: str  # its tree
    size: int  # bytes of every file below it
    files: int  # files below it (at least one: a folder without files is not tracked)


def is_manifest(data: bytes | memoryview) -> bool:
    """Whether an object's bytes start like a manifest of either form."""
    return bytes(data[:len(HEADERS[1])]) in HEADERS or bytes(data[:len(HEADERS[0])]) in HEADERS


def is_tree(data: bytes | memoryview) -> bool:
    return bytes(data[:len(HEADERS[1])]) == HEADERS[1]


def _sort_key(name: str, folder: bool) -> str:
    return name + "/" if folder else name


def dumps_tree(files: list[Entry], subtrees: list[Subtree]) -> bytes:
    """One folder's tree: `files` named by their names in it (no slash)."""
    rows = [(_sort_key(e.path, False), f"{e.oid}\t{e.size}\t{'755' if e.executable else '644'}\t{e.path}")
            for e in files]
    rows += [(_sort_key(t.name, True), f"{t.oid}\t{t.size}\td{t.files}\t{t.name}") for t in subtrees]
    rows.sort()
    return ("\n".join([TREE_HEADER] + [line for _, line in rows]) + "\n").encode("utf-8")


def loads_tree(data: bytes, where: str, files: int | None = None) -> tuple[list[Entry], list[Subtree]]:
    """Parse one tree: (its files, by name; its subfolders).  `files`, when
    known, bounds what it may hold (its own files plus what its subtrees
    say), checked before a line is parsed and after."""
    limit = MAX_ENTRIES if files is None else files
    if data.count(b"\n") > limit + 1:
        raise PointerError(f"{where}: lists more than {limit:,} entries")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise PointerError(f"{where}: manifest is not UTF-8") from None
    if not text.startswith(TREE_HEADER + "\n"):
        raise PointerError(f"{where}: not a gitmodel tree (bad header)")
    body = text[len(TREE_HEADER) + 1:]
    rows = _TREE_LINE.findall(body)
    if len(rows) != body.count("\n") + (0 if body.endswith("\n") or not body else 1):
        for lineno, line in enumerate(body.split("\n"), 2):
            if line and not _TREE_LINE.match(line):
                raise PointerError(f"{where}:{lineno}: malformed tree line")
    out: list[Entry] = []
    subs: list[Subtree] = []
    seen: set[str] = set()
    dotgit = "git" in body.lower()
    total = 0
    for oid, size, mode, name in rows:
        check_relpath(name, where, dotgit)
        if name in seen:
            raise PointerError(f"{where}: duplicate name {name!r} in tree")
        seen.add(name)
        n = int(size)
        if n > MAX_SIZE:
            raise PointerError(f"{where}: size {size} of {name[:120]!r} is implausibly large")
        if mode[0] == "d":
            count = int(mode[1:])
            if count < 1:
                raise PointerError(f"{where}: subfolder {name[:120]!r} holds no files")
            subs.append(Subtree(name, oid, n, count))
            total += count
        else:
            out.append(Entry(name, oid, n, mode == "755"))
            total += 1
        if total > limit:
            raise PointerError(f"{where}: holds more than {limit:,} files")
    if files is not None and total != files:
        raise PointerError(f"{where}: holds {total:,} files, but {files:,} are said")
    return out, subs


def expand(read: Callable[[str], bytes], oid: str, where: str, files: int | None = None
           ) -> tuple[list[Entry], list[tuple[str, int]]]:
    """Every file a manifest of either form names, with its path relative to
    the folder (in path order), and the trees below the root with their
    depth (1: a subfolder of the root; push sends the deepest first).
    `read(oid)` returns an object's verified bytes (raising when it is not
    there); `files` is the pointer's count, which the whole must match."""
    data = read(oid)
    if not is_tree(data):
        return loads(data, where, files), []
    entries: list[Entry] = []
    trees: list[tuple[str, int]] = []

    # Each tree's count is checked against what its parent (or the pointer)
    # says, so the whole is bounded by the root's count, however a stranger
    # nests or repeats subtrees.
    def visit(data: bytes, prefix: str, said: int | None, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise PointerError(f"{where}: folders nest deeper than {MAX_DEPTH} levels")
        own, subs = loads_tree(data, f"{where} ({prefix.rstrip('/') or 'top'})", said)
        # (sorted as one list: a file `a.txt` comes before folder `a`'s files)
        rows: list[tuple[str, Entry | Subtree]] = [(_sort_key(e.path, False), e) for e in own]
        rows += [(_sort_key(t.name, True), t) for t in subs]
        rows.sort(key=lambda r: r[0])
        for _, item in rows:
            if isinstance(item, Entry):
                entries.append(Entry(prefix + item.path, item.oid, item.size, item.executable))
                continue
            trees.append((item.oid, depth + 1))
            before = len(entries)
            visit(read(item.oid), f"{prefix}{item.name}/", item.files, depth + 1)
            if sum(e.size for e in entries[before:]) != item.size:
                raise PointerError(f"{where}: {prefix}{item.name} says {item.size:,} bytes, "
                                   f"but its tree holds {sum(e.size for e in entries[before:]):,}")

    visit(data, "", files, 0)
    return entries, trees


def build(entries: list[Entry]) -> tuple[bytes, list[tuple[str, bytes]]]:
    """The trees of a folder whose files are `entries` (paths relative to
    it): (the root tree, every tree below it with its folder (`a/b/`), each
    before the ones above it, which is the order they are stored in)."""
    below: list[tuple[str, bytes]] = []

    def tree(prefix: str, items: list[Entry]) -> tuple[bytes, int, int]:
        own: list[Entry] = []
        groups: dict[str, list[Entry]] = {}
        for e in items:
            name, slash, rest = e.path[len(prefix):].partition("/")
            if slash:
                groups.setdefault(name, []).append(e)
            else:
                own.append(Entry(name, e.oid, e.size, e.executable))
        subs = []
        for name, group in groups.items():
            data, size, count = tree(f"{prefix}{name}/", group)
            below.append((f"{prefix}{name}/", data))
            subs.append(Subtree(name, oid_of(data), size, count))
        return dumps_tree(own, subs), sum(e.size for e in items), len(items)

    root, _, _ = tree("", entries)
    return root, below
