"""Helpers shared by the tests/test_core_*.py files (no tests of its own).

Named test_core_* so that it belongs with the suite it serves; pytest puts
tests/ on sys.path, so the other files import it as `test_core_support`.
"""

from __future__ import annotations

import contextlib
import os
import random
import stat
import struct
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import xxhash

from tests.conftest import Result, git

TMP_PREFIX = ".gm-tmp-"


def cache_root(root: Path) -> Path:
    """The cache of the repository at `root` (its git common dir + /gitmodel)."""
    common = git("rev-parse", "--path-format=absolute", "--git-common-dir", cwd=root).strip()
    return Path(common) / "gitmodel"


class Packed(os.PathLike[str]):
    """A packed object.  Stands in for a loose object's Path where tests only
    read it: `read_bytes()` gives its bytes, and `os.fspath()` (so `stat`,
    `os.utime`) is its pack's path, the file that carries its age."""

    def __init__(self, pack: Path, offset: int, size: int) -> None:
        self.pack, self.offset, self.size = pack, offset, size

    def __fspath__(self) -> str:
        return str(self.pack)

    def __repr__(self) -> str:
        return f"Packed({self.pack.name}@{self.offset}+{self.size})"

    def read_bytes(self) -> bytes:
        with open(self.pack, "rb") as f:
            f.seek(self.offset)
            return f.read(self.size)

    def stat(self) -> os.stat_result:
        return self.pack.stat()


IDX_MAGIC = b"gitmodel-idx 1\n"
IDX_RECORD = struct.Struct("<16sQQ")


def decode_idx(data: bytes, where: object) -> list[tuple[str, int, int]]:
    """(oid, offset, size) of a pack index, decoded here from its documented
    layout (not by the code under test); a damaged index is an AssertionError."""
    body = data[len(IDX_MAGIC):-16]
    assert data.startswith(IDX_MAGIC) and not len(body) % IDX_RECORD.size, f"{where} is damaged"
    assert xxhash.xxh3_128_digest(data[:-16]) == data[-16:], f"{where} is damaged"
    return [("xxh128:" + d.hex(), off, size) for d, off, size in IDX_RECORD.iter_unpack(body)]


def flip_byte(path: Path, offset: int) -> None:
    """Damage one byte of a (read-only) cache file in place, keeping its mode."""
    mode = path.stat().st_mode
    os.chmod(path, 0o644)
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ 0xFF]))
    os.chmod(path, stat.S_IMODE(mode))


def pack_entries(idx: Path) -> list[tuple[str, int, int]]:
    return decode_idx(idx.read_bytes(), idx)


def packs(store: Path) -> dict[str, tuple[Path, Path | None]]:
    """Pack files of an object store (a cache or a folder remote):
    {pack id: (.pack path, .idx path or None when it has no index)}."""
    folder = store / "packs"
    out: dict[str, tuple[Path, Path | None]] = {}
    if not folder.is_dir():
        return out
    for f in folder.iterdir():
        if f.name.startswith("pack-") and f.suffix == ".pack":
            idx = f.with_suffix(".idx")
            out[f.stem[len("pack-"):]] = (f, idx if idx.exists() else None)
    return out


def store_objects(store: Path, packed: bool = True) -> dict[str, Path | Packed]:
    """Every object under its final name in an object store: {oid: where}.
    Temp files (`.gm-tmp-*`, wherever a crash left them) are not objects,
    nor is a pack without its index (invisible until the index is written).
    A loose copy wins over a packed one."""
    out: dict[str, Path | Packed] = {}
    if packed:
        for pack, idx in packs(store).values():
            if idx is not None:
                for oid, off, size in pack_entries(idx):
                    out.setdefault(oid, Packed(pack, off, size))
    base = store / "objects"
    if not base.is_dir():
        return out
    for algo in base.iterdir():
        for shard in algo.iterdir():
            for f in shard.iterdir():
                if f.name.startswith(TMP_PREFIX):
                    continue
                out[f"{algo.name}:{shard.name}{f.name}"] = f
    return out


def objects(root: Path, packed: bool = True) -> dict[str, Path | Packed]:
    """Every object in the repository's cache, loose and packed: {oid: where}
    (store_objects); `packed=False`: the loose ones only."""
    return store_objects(cache_root(root), packed)


def loose_objects(root: Path) -> dict[str, Path]:
    return {o: p for o, p in objects(root, packed=False).items() if isinstance(p, Path)}


def hash_file(path: Path) -> str:
    return "xxh128:" + xxhash.xxh3_128_hexdigest(path.read_bytes())


def oid_of(data: bytes) -> str:
    return "xxh128:" + xxhash.xxh3_128_hexdigest(data)


def assert_objects_sound(root: Path) -> dict[str, Path | Packed]:
    """Every object under its final name hashes to that name and is read-only."""
    found = objects(root)
    for oid, path in found.items():
        assert oid_of(path.read_bytes()) == oid, f"object {path} does not hash to its name"
        assert not os.stat(path).st_mode & 0o222, f"object {path} is writable"
    return found


def tree_state(top: Path, skip_git: bool = True) -> dict[str, tuple[str, int, bytes]]:
    """{relpath: (type, mode, content)} for everything below `top`."""
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


def worktree(root: Path) -> dict[str, tuple[str, int, bytes]]:
    """Everything in the work tree outside .git: {relpath: (type, mode, content)}."""
    return tree_state(root)


def index(root: Path) -> str:
    """The git index as `git ls-files --stage` shows it."""
    return git("ls-files", "--stage", cwd=root)


def cache_listing(root: Path) -> dict[str, tuple[int, int]]:
    """Every file in the cache except the lock and the stat cache (hints):
    {relpath: (size, mode)}."""
    base = cache_root(root)
    out: dict[str, tuple[int, int]] = {}
    for folder, _dirs, files in os.walk(base):
        for name in files:
            p = os.path.join(folder, name)
            rel = os.path.relpath(p, base)
            if rel == "lock" or rel.startswith("state.db"):
                continue
            st = os.lstat(p)
            out[rel] = (st.st_size, stat.S_IMODE(st.st_mode))
    return out


def snapshot(root: Path) -> tuple[object, ...]:
    """Work tree, index and cache, to prove a failed command changed nothing."""
    return worktree(root), index(root), cache_listing(root)


def assert_unchanged(root: Path, before: tuple[object, ...]) -> None:
    after = snapshot(root)
    names = ("work tree", "index", "cache")
    for name, b, a in zip(names, before, after):
        assert a == b, f"the {name} changed"


def assert_one_line_error(r: Result, *needles: str, code: int = 1) -> str:
    """An expected failure: the exit code, exactly one line on stderr, no traceback."""
    assert r.code == code, r
    lines = r.err.strip().splitlines()
    assert len(lines) == 1, r
    assert "Traceback" not in r.err and "Traceback" not in r.out, r
    for needle in needles:
        assert needle in lines[0], (needle, r)
    return lines[0]


def settle() -> None:
    """Wait until files written so far are past the stat cache's racy window,
    so that what is hashed now is also recorded (git's racily-clean rule
    refuses to trust a stat taken too close to the file's last change)."""
    from gitmodel.store import statcache

    time.sleep(statcache.RACY_NS / 1e9 + 0.05)


def pointer_fields(path: Path) -> list[tuple[str, str]]:
    return [tuple(line.split(" ", 1)) for line in path.read_text().splitlines()]  # type: ignore[misc]


@contextlib.contextmanager
def read_only(*folders: Path) -> Iterator[None]:
    """Make folders truly unwritable, even for root (whom permission bits do
    not stop): chmod for a normal user, the immutable attribute for root."""
    if os.geteuid() != 0:
        modes = [f.stat().st_mode for f in folders]
        for f in folders:
            f.chmod(0o555)
        try:
            yield
        finally:
            for f, m in zip(folders, modes):
                f.chmod(stat.S_IMODE(m))
        return
    import pytest

    done: list[Path] = []
    try:
        for f in folders:
            r = subprocess.run(["chattr", "+i", str(f)], capture_output=True)
            if r.returncode != 0:
                pytest.skip(f"running as root and cannot make {f} immutable: {r.stderr!r}")
            done.append(f)
        yield
    finally:
        for f in done:
            subprocess.run(["chattr", "-i", str(f)], check=True)


def write_files(root: Path, folder: str, n: int, seed: int, most: int = 3000) -> dict[str, bytes]:
    """`n` files of 1..most random bytes (reproducible from `seed`) under
    root/folder, named f000.bin, f001.bin, ...; returns rel path -> bytes."""
    rnd = random.Random(seed)
    files = {f"{folder}/f{i:03}.bin": rnd.randbytes(rnd.randrange(1, most)) for i in range(n)}
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return files
