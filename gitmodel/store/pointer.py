"""Pointer files: the small text file committed in place of a large one.

    version gitmodel/1
    kind file
    oid xxh128:4f1c...
    size 104857600

One `key value` pair a line, known keys in a fixed order, unknown keys kept
(sorted, after the known ones) so that a newer gitmodel's additions survive a
rewrite by an older one.  A directory's pointer has `kind dir`, names the
manifest object, the total size and the file count (`files`).
The pointer for `models/clf.pkl` is `models/clf.pkl.gm`.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass, field

from gitmodel.errors import PointerError
from gitmodel.platform.plain import NotPlainError, read_plain
from gitmodel.store import oid as oidmod

SUFFIX = ".gm"
VERSION = "gitmodel/1"
KNOWN_KEYS = ("version", "kind", "oid", "size", "files")
MAX_SIZE = 1 << 62
MAX_POINTER_BYTES = 64 * 1024


@dataclass(frozen=True)
class Pointer:
    oid: str
    size: int
    kind: str = "file"  # "file" | "dir"
    files: int | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def is_dir(self) -> bool:
        return self.kind == "dir"

    def dumps(self) -> str:
        lines = [f"version {VERSION}", f"kind {self.kind}", f"oid {self.oid}", f"size {self.size}"]
        if self.is_dir:
            lines.append(f"files {self.files or 0}")
        lines += [f"{k} {self.extra[k]}" for k in sorted(self.extra)]
        return "\n".join(lines) + "\n"

    def same_content(self, other: Pointer | None) -> bool:
        return other is not None and (self.oid, self.size, self.kind) == (other.oid, other.size, other.kind)


def pointer_path(target: str) -> str:
    return target + SUFFIX


def target_path(pointer: str) -> str:
    return pointer[: -len(SUFFIX)]


# What git writes into a file both sides of a merge changed.
CONFLICT_MARKERS = ("<<<<<<< ", "=======", ">>>>>>> ", "||||||| ")


def conflict_message(where: str) -> str:
    target = target_path(where) if where.endswith(SUFFIX) else where
    return (f"{where}: merge conflict (both sides changed this pointer); keep one side with "
            f"`gitmodel checkout --ours {target}` or `gitmodel checkout --theirs {target}`")


def loads(text: str, where: str) -> Pointer:
    """Parse pointer text; `where` names the file in every error."""
    values: dict[str, str] = {}
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        key, sep, value = line.partition(" ")
        if not sep or not key or not value.strip() or not key.replace("_", "").replace("-", "").isalnum():
            if line.startswith(CONFLICT_MARKERS):
                raise PointerError(conflict_message(where))
            raise PointerError(f"{where}:{lineno}: not a `key value` line: {line[:80]!r}. "
                               f"Restore it with `git checkout -- {where}`")
        if key in values:
            raise PointerError(f"{where}:{lineno}: key {key!r} given twice")
        values[key] = value.strip()
    version = values.pop("version", None)
    if version is None:
        raise PointerError(f"{where}: not a gitmodel pointer (no `version` line). "
                           f"Restore it with `git checkout -- {where}`")
    if version != VERSION:
        raise PointerError(f"{where}: pointer format {version!r} is not one this gitmodel reads "
                           f"({VERSION})", hint="upgrade gitmodel")
    kind = values.pop("kind", "file")
    if kind not in ("file", "dir"):
        raise PointerError(f"{where}: unknown kind {kind!r} (expected file or dir)")
    if "oid" not in values:
        raise PointerError(f"{where}: no `oid` line")
    oid = oidmod.check(values.pop("oid"), where)
    size = _int(values.pop("size", None), "size", where)
    files = None
    if kind == "dir":
        files = _int(values.pop("files", None), "files", where)
    else:
        values.pop("files", None)
    return Pointer(oid=oid, size=size, kind=kind, files=files, extra=values)


def _int(value: str | None, key: str, where: str) -> int:
    if value is None:
        raise PointerError(f"{where}: no `{key}` line")
    if not (value.isascii() and value.isdigit()):  # str.isdigit alone accepts "²", which int() refuses
        raise PointerError(f"{where}: {key} {value[:40]!r} is not a non-negative whole number")
    digits = value.lstrip("0") or "0"
    # Judged by its length first: int() refuses more than 4300 digits (a
    # ValueError, not a message), and MAX_SIZE has 19.
    if len(digits) > len(str(MAX_SIZE)) or int(digits) > MAX_SIZE:
        raise PointerError(f"{where}: {key} {value[:40]} is implausibly large")
    return int(digits)


def read(path: str, where: str | None = None) -> Pointer:
    where = where or path
    try:
        # Never through a symlink: a committed `x.gm -> ~/.aws/credentials`
        # would otherwise be read, and quoted in the parse error; never
        # blocking on a FIFO named like a pointer (platform/plain.py).
        raw = read_plain(path, MAX_POINTER_BYTES + 1)
    except FileNotFoundError:
        raise PointerError(f"{where}: pointer file is missing") from None
    except NotPlainError as e:
        if stat.S_ISDIR(e.mode):
            raise PointerError(f"{where}: is a directory, not a pointer file") from None
        raise PointerError(f"{where}: is not a regular file, so not a pointer file",
                           hint=f"restore it with `git checkout -- {where}`") from None
    except OSError as e:
        if e.errno != errno.ELOOP:
            raise
        raise PointerError(f"{where}: is a symlink, not a pointer file",
                           hint=f"restore it with `git checkout -- {where}`") from None
    if len(raw) > MAX_POINTER_BYTES:
        raise PointerError(f"{where}: too large to be a pointer file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise PointerError(f"{where}: not UTF-8 text", hint=f"restore it with `git checkout -- {where}`") from None
    return loads(text, where)


def try_read(path: str, where: str | None = None) -> Pointer | None:
    """The pointer at `path`, or None when there is none (errors still raise)."""
    if not os.path.lexists(path):
        return None
    return read(path, where)
