"""Directory manifests: the object a directory pointer names.

    gitmodel-manifest 1
    xxh128:<hex>\t<size>\t<mode>\t<relative/posix/path>

One line per file, sorted by path; mode is 644 or 755 (the executable bit,
the only permission git itself keeps).  Text rather than JSON because it
parses twice as fast for 20k entries and diffs line by line.  Paths holding a
tab or a newline are refused at add time.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import oid as oidmod
from .errors import PointerError

HEADER = "gitmodel-manifest 1"


@dataclass(frozen=True, slots=True)
class Entry:
    path: str  # relative, posix separators
    oid: str
    size: int
    executable: bool = False


def check_relpath(path: str, where: str) -> None:
    """Refuse a manifest path that could escape its directory.

    Plain string tests rather than a split per path: this runs for every
    entry of every manifest read, 20k times for a 20k-file directory."""
    if (not path or path in (".", "..") or path[0] == "/" or path.startswith(("./", "../"))
            or path.endswith(("/", "/.", "/..")) or "//" in path or "/./" in path
            or "/../" in path or "\\" in path or "\0" in path):
        raise PointerError(f"{where}: unsafe path {path[:120]!r} in manifest")


def dumps(entries: list[Entry]) -> bytes:
    entries = sorted(entries, key=lambda e: e.path)
    out = [HEADER]
    out += [f"{e.oid}\t{e.size}\t{'755' if e.executable else '644'}\t{e.path}" for e in entries]
    return ("\n".join(out) + "\n").encode("utf-8")


def loads(data: bytes, where: str) -> list[Entry]:
    try:
        lines = data.decode("utf-8").split("\n")
    except UnicodeDecodeError:
        raise PointerError(f"{where}: manifest is not UTF-8") from None
    if not lines or lines[0] != HEADER:
        raise PointerError(f"{where}: not a gitmodel manifest (bad header)")
    entries: list[Entry] = []
    seen: set[str] = set()
    for lineno, line in enumerate(lines[1:], 2):
        if not line:
            continue
        parts = line.split("\t", 3)
        if len(parts) != 4 or not parts[1].isdigit() or parts[2] not in ("644", "755"):
            raise PointerError(f"{where}:{lineno}: malformed manifest line")
        oid, size, mode, path = parts
        oidmod.check(oid, f"{where}:{lineno}")
        check_relpath(path, f"{where}:{lineno}")
        if path in seen:
            raise PointerError(f"{where}:{lineno}: duplicate path {path!r} in manifest")
        seen.add(path)
        entries.append(Entry(path, oid, int(size), mode == "755"))
    return entries
