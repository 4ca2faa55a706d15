"""Packs on a remote (pack.py): what their indexes say the remote holds,
which local packs a push sends whole, and how fetch reads them back (whole
and verified, or by byte ranges)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import partial

from gitmodel.errors import CorruptObjectError, ObjectMissingError
from gitmodel.platform import atomic
from gitmodel.remote.spec import Remote
from gitmodel.remote.workers import parallel, retrying
from gitmodel.store import pack as packmod
from gitmodel.store.cache import Cache

PACK_CHUNK = 16 << 20  # a whole pack is downloaded in ranges of this size (bounded memory)
SPAN_MAX = 8 << 20  # objects of one pack read together in one range request, up to this size...
SPAN_GAP = 64 << 10  # ...when fewer than this many unwanted bytes lie between them

PackEntry = tuple[str, int, int]  # (oid, offset, size) in one pack


class RemotePacks:
    """The objects in a remote's packs, from their indexes (listed and read
    once, on first use).  An index never changes and is named by its own
    content, so each one read is kept under `<cache>/remotes/<name>/packs/`
    and a later push or fetch reads it from there instead of the remote."""

    def __init__(self, r: Remote, folder: str | None) -> None:
        self.r = r
        self.folder = folder  # where indexes are kept (None: not kept)
        self.entries: dict[str, list[PackEntry]] = {}  # pack id -> its objects
        self._where: dict[str, tuple[str, int, int]] | None = None  # oid -> (pack id, offset, size)
        self.ids: list[str] = []
        self.damaged: dict[str, str] = {}  # pack id -> why its index cannot be used

    def index(self, packid: str) -> list[PackEntry]:
        """One pack's objects (a kept index, or the remote's, checked and kept)."""
        if packid in self.entries:
            return self.entries[packid]
        kept = os.path.join(self.folder, packmod.name_of(packid, "idx")) if self.folder else None
        data = None
        if kept is not None:
            try:
                with open(kept, "rb") as f:
                    data = f.read()
                entries = self._decode(packid, data)
            except (OSError, CorruptObjectError):
                data = None
        if data is None:
            data = self.r.read_pack_index(packid)
            entries = self._decode(packid, data)
            if kept is not None:
                try:
                    os.makedirs(os.path.dirname(kept), exist_ok=True)
                    atomic.write_atomic(kept, data, durable=False)  # a hint: a torn one is read again
                except OSError:
                    pass
        self.entries[packid] = entries
        return entries

    def _decode(self, packid: str, data: bytes) -> list[PackEntry]:
        where = f"pack-{packid}.idx on {self.r.where}"
        try:
            entries = list(packmod.decode_index(data, where))
            if packmod.encode_index(entries)[0] == packid:  # the index of the pack it is named for
                return entries
        except CorruptObjectError:
            pass
        raise CorruptObjectError(f"the pack index {where} is damaged",
                                 hint="delete it there and push again "
                                      "from a clone that has the pack, then run `gitmodel fsck -r`")

    def load(self, jobs: int, strict: bool = True) -> dict[str, tuple[str, int, int]]:
        """oid -> (pack id, offset, size) for every object in the remote's packs.
        A damaged index is an error when `strict` (push, fetch), else it is
        left out and named in `damaged` (fsck and gc report it)."""
        if self._where is None:
            self.ids = self.r.list_packs()

            def read(packid: str) -> None:
                try:
                    self.index(packid)
                except ObjectMissingError:
                    pass  # removed by a remote gc since the listing
                except CorruptObjectError as e:
                    self.damaged[packid] = str(e)

            parallel([i for i in self.ids if i not in self.entries], read, jobs)
            where: dict[str, tuple[str, int, int]] = {}
            for packid in self.ids:
                for o, off, size in self.entries.get(packid, ()):
                    where.setdefault(o, (packid, off, size))
            self._where = where
        if strict and self.damaged:
            raise CorruptObjectError(next(iter(self.damaged.values())))
        return self._where


def remote_has(r: Remote, packs: RemotePacks, ask: list[str], jobs: int) -> set[str]:
    """Which of `ask` the remote holds, in a pack (its indexes) or loose
    (batched existence checks for the rest only)."""
    if not ask:
        return set()
    packed = packs.load(jobs)
    rest = [o for o in ask if o not in packed]
    return {o for o in ask if o in packed} | (r.exists_many(rest, jobs) if rest else set())


def _spans(items: Iterable[PackEntry]) -> list[list[PackEntry]]:
    """Objects of one pack grouped into ranges worth one request each:
    neighbours close together, up to SPAN_MAX bytes."""
    out: list[list[PackEntry]] = []
    start = end = 0
    for item in sorted(items, key=lambda e: e[1]):
        _, off, size = item
        if out and off - end <= SPAN_GAP and off + size - start <= SPAN_MAX:
            out[-1].append(item)
            end = max(end, off + size)
        else:
            out.append([item])
            start, end = off, off + size
    return out


def spans_of(located: Iterable[tuple[str, tuple[str, int, int]]]) -> list[tuple[str, list[PackEntry]]]:
    """(pack id, span) for objects located in remote packs (oid, (pack id, offset, size))."""
    by_pack: dict[str, list[PackEntry]] = {}
    for o, (packid, off, size) in located:
        by_pack.setdefault(packid, []).append((o, off, size))
    return [(p, span) for p, items in by_pack.items() for span in _spans(items)]


def read_span(r: Remote, packid: str, span: list[PackEntry]) -> Iterator[tuple[str, memoryview]]:
    """Each object of a span with its bytes as the remote sent them (cut
    short when the pack is: the caller's hash check refuses those)."""
    start = span[0][1]
    end = max(off + size for _, off, size in span)
    data = memoryview(retrying(lambda: r.get_range(packid, start, end - start)))
    for o, off, size in span:
        yield o, data[off - start:off - start + size]


@dataclass
class LocalPack:
    packid: str
    path: str  # the .pack file in the cache
    idx_data: bytes
    entries: list[PackEntry]
    size: int


def plan_packs(cache: Cache, send: list[str], remote_ids: set[str]) -> tuple[list[LocalPack], list[str]]:
    """Split what to send into whole local packs and single objects.  A pack
    goes whole when the remote lacks it and at least half of its objects are
    to be sent (one file instead of many; the rest cost little); otherwise
    its objects go one by one, read out of it."""
    by_pack: dict[str, list[str]] = {}
    for o in send:
        loc = cache.locate(o)
        if loc is not None:
            by_pack.setdefault(loc.pack, []).append(o)
    if not by_pack:
        return [], send
    whole: list[LocalPack] = []
    going: set[str] = set()
    for path, oids in by_pack.items():
        idx_path = path[:-len(".pack")] + ".idx"
        packid = packmod.packid_of(os.path.basename(idx_path))
        if packid is None or packid in remote_ids:
            continue
        with open(idx_path, "rb") as f:
            idx_data = f.read()
        entries = list(packmod.decode_index(idx_data, idx_path))
        if 2 * len(oids) >= len(entries):
            whole.append(LocalPack(packid, path, idx_data, entries, os.stat(path).st_size))
            going.update(o for o, _, _ in entries)
    return whole, [o for o in send if o not in going]


def download_pack(cache: Cache, r: Remote, packid: str, entries: list[PackEntry]) -> int:
    """A whole remote pack into a temp file in the cache, in ranges; every
    object's hash checked; then installed (pack before index).  Returns the
    bytes received.  Nothing unverified is ever installed."""
    size = max((off + n for _, off, n in entries), default=0)
    tmp = atomic.tmp_name(cache.tmp)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
        done = 0
        try:
            while done < size:
                chunk = retrying(partial(r.get_range, packid, done, min(PACK_CHUNK, size - done)))
                if not chunk:
                    break  # the pack is cut short: the check below names what is missing
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view):]
                done += len(chunk)
            os.fsync(fd)
        finally:
            os.close(fd)
        bad = packmod.verify(tmp, sorted(entries, key=lambda e: e[1]))  # in file order: one pass
        if bad:
            more = f" and {len(bad) - 1} more" if len(bad) > 1 else ""
            raise CorruptObjectError(f"object {bad[0]}{more} from {r.where} (pack {packid}) is corrupt; "
                                     f"it was not stored. Run `gitmodel fsck -r` on the remote side")
        cache.add_pack(tmp, packmod.encode_index(entries)[1])
        return done
    finally:
        atomic.unlink_quiet(tmp)  # installed (renamed away) or refused
