"""What the cache holds, as a list: its loose objects, its packs (with their
index entries, or why the index cannot be read), the chunk lists of files
stored as chunks (`chunked/`) and the leftovers of interrupted writes (our
temp files, packs whose index never landed).

It describes the store, so it lives with it: gc decides from it what to
delete, fsck what to verify; neither walks the folders itself.  Foreign
files are ignored.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field

from gitmodel.errors import CorruptObjectError
from gitmodel.platform.atomic import TMP_PREFIX
from gitmodel.store import chunks as chunksmod
from gitmodel.store import oid as oidmod
from gitmodel.store import pack as packmod
from gitmodel.store.cache import Cache


@dataclass
class Stored:
    oid: str
    path: str  # the loose file (or temp file)
    size: int
    mtime: float


@dataclass
class StoredPack:
    packid: str
    pack: str  # path of the .pack
    idx: str  # path of the .idx
    size: int  # bytes of the .pack
    mtime: float  # of the .pack: its objects' age, for the grace period
    entries: list[tuple[str, int, int]]  # (oid, offset, size), from the index
    damaged: str = ""  # the index could not be read: why (entries is then empty)

    def objects(self) -> list[Stored]:
        return [Stored(o, self.pack, size, self.mtime) for o, _, size in self.entries]


@dataclass
class Inventory:
    loose: list[Stored] = field(default_factory=list)
    packs: list[StoredPack] = field(default_factory=list)
    temps: list[Stored] = field(default_factory=list)  # our temp files, and packs without an index
    # Chunk lists (store/chunks.py), by the oid of the file they stand for:
    # not objects (named by their file, not their own hash), so not in `objects`.
    lists: list[Stored] = field(default_factory=list)

    @property
    def objects(self) -> list[Stored]:
        """Every stored object, loose and packed (an object held twice is listed twice)."""
        return self.loose + [s for p in self.packs for s in p.objects()]


def scan_cache(cache: Cache) -> Inventory:
    """What the cache holds: loose objects, packs, and leftovers.  Foreign files are ignored."""
    inv = Inventory()
    for folder in (cache.root, cache.tmp):
        for entry in scandir(folder):
            if entry.name.startswith(TMP_PREFIX):
                _add_temp(inv.temps, entry)
    _scan_sharded(cache.objects, inv.loose, inv.temps)
    # Any file but a folder counts for chunk lists: `has_list` believes in a
    # symlink there too, and gc must refuse (it cannot read it), not ignore it.
    _scan_sharded(os.path.join(cache.root, chunksmod.FOLDER), inv.lists, inv.temps, regular_only=False)
    _scan_packs(cache.packs, inv)
    return inv


def _scan_sharded(base: str, found: list[Stored], temps: list[Stored], regular_only: bool = True) -> None:
    """`<base>/<algo>/<ab>/<cdef...>` files (objects, or chunk lists) into
    `found`, our temp files among them into `temps`."""
    for algo in scandir(base):
        if not algo.is_dir(follow_symlinks=False):
            continue
        for shard in scandir(algo.path):
            if not shard.is_dir(follow_symlinks=False):
                continue
            for entry in scandir(shard.path):
                try:
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue  # removed since the listing (another gc)
                if entry.name.startswith(TMP_PREFIX):
                    temps.append(Stored("", entry.path, st.st_size, st.st_mtime))
                    continue
                oid = f"{algo.name}:{shard.name}{entry.name}"
                if (stat.S_ISREG(st.st_mode) or not (regular_only or stat.S_ISDIR(st.st_mode))) \
                        and oidmod.is_valid(oid):
                    found.append(Stored(oid, entry.path, st.st_size, st.st_mtime))


def _scan_packs(folder: str, inv: Inventory) -> None:
    listing = {e.name: e for e in scandir(folder)}
    for name, entry in listing.items():
        if name.startswith(TMP_PREFIX):
            _add_temp(inv.temps, entry)
        elif name.startswith(packmod.PREFIX) and name.endswith(".pack") and name[:-5] + ".idx" not in listing:
            # A pack whose index was never written (a crash between the
            # two) or was deleted first by gc: nothing can read it.
            _add_temp(inv.temps, entry)
    for packid in (i for i in map(packmod.packid_of, listing) if i is not None):
        pack_path = os.path.join(folder, packmod.name_of(packid, "pack"))
        idx_path = os.path.join(folder, packmod.name_of(packid, "idx"))
        try:
            st = os.stat(pack_path)
            found = StoredPack(packid, pack_path, idx_path, st.st_size, st.st_mtime, [])
        except FileNotFoundError:
            # The index names objects nothing can read (and that `has` believes
            # in): damaged, for fsck to move aside.
            found = StoredPack(packid, pack_path, idx_path, 0, 0.0, [],
                               f"pack {pack_path} is missing; run `gitmodel fsck`")
        try:
            entries = packmod.read_index(idx_path)
        except FileNotFoundError:
            continue  # removed since the listing
        except CorruptObjectError as e:
            found.damaged = str(e)
        else:
            if not found.damaged:
                found.entries = entries
        inv.packs.append(found)


def _add_temp(temps: list[Stored], entry: os.DirEntry[str]) -> None:
    try:
        st = entry.stat(follow_symlinks=False)
    except FileNotFoundError:
        return
    temps.append(Stored("", entry.path, st.st_size, st.st_mtime))


def scandir(path: str) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(path) as it:
            return list(it)
    except (FileNotFoundError, NotADirectoryError):
        return []
