"""Object stores as the tests see them (no tests of its own): a repository's
cache and a folder remote share one layout (objects/<algo>/<xx>/<rest>,
packs/pack-<id>.pack|idx), read here from its documented form and not by
the code under test; hashes are re-derived from the bytes."""

from __future__ import annotations

import os
import stat
import struct
import time
from collections.abc import Callable
from pathlib import Path

import xxhash

from tests.support.files import write
from tests.support.git import git

TMP_PREFIX = ".gm-tmp-"
DAY = 86400.0


def cache_root(root: Path) -> Path:
    """The cache of the repository at `root` (its git common dir + /gitmodel)."""
    common = git("rev-parse", "--path-format=absolute", "--git-common-dir", cwd=root).strip()
    return Path(common) / "gitmodel"


def object_path(root: Path, oid: str) -> Path:
    """Where the cache of the repository at `root` keeps `oid` loose."""
    hexd = oid.split(":", 1)[1]
    return cache_root(root) / "objects" / "xxh128" / hexd[:2] / hexd[2:]


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


def loose_oids(store: Path) -> set[str]:
    """The oids of an object store's loose objects (a cache or a folder remote)."""
    return set(store_objects(store, packed=False))


def objects(root: Path, packed: bool = True) -> dict[str, Path | Packed]:
    """Every object in the repository's cache, loose and packed: {oid: where}
    (store_objects); `packed=False`: the loose ones only."""
    return store_objects(cache_root(root), packed)


def loose_objects(root: Path) -> dict[str, Path]:
    """The loose objects in the repository's cache: {oid: path}."""
    return {o: p for o, p in objects(root, packed=False).items() if isinstance(p, Path)}


def cache_oids(root: Path) -> set[str]:
    """The oids of the loose objects in the repository's cache."""
    return loose_oids(cache_root(root))


def hash_file(path: Path) -> str:
    return "xxh128:" + xxhash.xxh3_128_hexdigest(path.read_bytes())


def oid_of(data: bytes) -> str:
    return "xxh128:" + xxhash.xxh3_128_hexdigest(data)


def bad_objects(base: Path) -> list[str]:
    """Objects of a store whose bytes do not hash to their name (must always be empty)."""
    return [oid for oid, p in store_objects(base).items() if oid_of(p.read_bytes()) != oid]


def assert_objects_sound(root: Path) -> dict[str, Path | Packed]:
    """Every object under its final name hashes to that name and is read-only."""
    found = objects(root)
    for oid, path in found.items():
        assert oid_of(path.read_bytes()) == oid, f"object {path} does not hash to its name"
        assert not os.stat(path).st_mode & 0o222, f"object {path} is writable"
    return found


def temps(base: Path) -> list[Path]:
    """Temp files (`.gm-tmp-*`) anywhere below `base`."""
    return [Path(d) / f for d, _, fs in os.walk(base) for f in fs if f.startswith(TMP_PREFIX)]


def age(paths: list[Path] | dict[str, Path], days: float) -> None:
    """Make files look `days` old (mtime), as gc's grace period sees them."""
    when = time.time() - days * DAY
    for p in (paths.values() if isinstance(paths, dict) else paths):
        os.utime(p, (when, when), follow_symlinks=False)


def age_cache(root: Path, days: float = 30) -> None:
    age(objects(root), days)


def settle() -> None:
    """Wait until files written so far are past the stat cache's racy window,
    so that what is hashed now is also recorded (git's racily-clean rule
    refuses to trust a stat taken too close to the file's last change)."""
    from gitmodel.store import statcache

    time.sleep(statcache.RACY_NS / 1e9 + 0.05)


def pointer_fields(path: Path) -> list[tuple[str, str]]:
    return [tuple(line.split(" ", 1)) for line in path.read_text().splitlines()]  # type: ignore[misc]


def pointer_oid(path: Path) -> str:
    """The oid a pointer file names (its `oid` field, read from the text)."""
    return dict(pointer_fields(path))["oid"]


def write_with_oid(root: Path, rel: str, data: bytes) -> str:
    """write(root, rel, data); the oid those bytes have once added."""
    write(root, rel, data)
    return oid_of(data)


def folder_files(read: Callable[[str], bytes], oid: str, prefix: str = "") -> tuple[dict[str, str], set[str]]:
    """A folder manifest's files ({path: oid}) and the manifest objects it
    is made of (the root's oid, and the trees below it), read through
    `read(oid)` from the documented forms (docs/architecture.md): a flat
    `gitmodel-manifest 1`, or a `gitmodel-tree 1` per folder whose
    subfolder lines have the mode `d<files>`."""
    lines = read(oid).decode().splitlines()
    files: dict[str, str] = {}
    trees = {oid}
    for line in lines[1:]:
        o, _, mode, name = line.split("\t")
        if lines[0] == "gitmodel-tree 1" and mode.startswith("d"):
            more, below = folder_files(read, o, f"{prefix}{name}/")
            files.update(more)
            trees |= below
        else:
            files[prefix + name] = o
    return files, trees
