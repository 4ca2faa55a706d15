"""A remote in a local or mounted folder (`/mnt/team/models`, `../store`).

An object is written to a temp file (`.gm-tmp-*`) in its own shard folder and
renamed to its final name once its bytes are on disk, so a reader never sees
half an object and a killed push leaves only temp files, which listings skip.

Durability is batched the way the cache batches it: small objects are
written without a per-file fsync, one syncfs flushes the whole batch, then
the batch is renamed and a second syncfs makes the renames durable.  A
per-file fsync costs ~1 ms here; 20,000 of them would dominate a push.
Large objects stream with in-kernel copies and get their own fsync.

`link` (per remote, `gitmodel remote modify NAME link copy`):
- `auto` (default): `hardlink` when the remote is on the cache's filesystem
  and the workspace never shares an inode with the cache (core.link is
  reflink or copy), else `reflink`.  This is git's own policy for
  `git clone /local/path`: objects are immutable and read-only, gitmodel
  never writes one in place, so a second name for the same inode is a
  faithful copy and costs no new inode (creating one costs ~50 us of kernel
  time here, the whole bill for 20,000 small objects).
- `reflink`: a copy-on-write clone where the filesystem can make one
  (btrfs, XFS), else a plain copy.  Remote and cache never share an inode.
- `copy`: always a plain copy.
- `hardlink`: always try a hard link first (even when the workspace links
  to the cache, so a root process writing into a read-only workspace file
  would change the remote's copy too).
"""

from __future__ import annotations

import errno
import os
import random
import threading
from collections.abc import Collection, Iterator

from gitmodel.platform import faults
from gitmodel.platform import atomic
from gitmodel.platform import copy
from gitmodel.store import oid as oidmod
from gitmodel.store import pack as packmod
from gitmodel.errors import ObjectMissingError, RemoteError
from gitmodel.remote.base import META, OBJECTS, PACKS, Remote, Sink

SMALL = 1 << 20  # below this: batched durability; above: fsync per object
BATCH_FILES = 4096  # publish a batch every so many small objects...
BATCH_BYTES = 256 << 20  # ...or bytes, so a killed push keeps most of its work
READ_CHUNK = 8 << 20
LINKS = ("auto", "reflink", "copy", "hardlink")
_NO_LINK = (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP)  # another filesystem, or links refused


class LocalRemote(Remote):
    kind = "local"
    default_jobs = 4  # a local disk gains little from more; a network mount a little

    def __init__(self, name: str, display: str, root: str, link: str = "auto",
                 workspace_links: bool = True) -> None:
        """`workspace_links`: the repository's checkout may hard- or symlink
        workspace files to cache objects (then `auto` never hardlinks)."""
        super().__init__(name, display)
        if link not in LINKS:
            raise RemoteError(f"remote '{name}': link = {link!r} is not one of {', '.join(LINKS)}; "
                              f"fix it with `gitmodel remote modify {name} link reflink`")
        self.root = os.path.abspath(root)
        self.objects = os.path.join(self.root, OBJECTS)
        self.packs = os.path.join(self.root, PACKS)
        self.link = ("reflink" if workspace_links else "hardlink") if link == "auto" else link
        self._faults = bool(os.environ.get("GITMODEL_FAULT"))
        self._mu = threading.Lock()
        self._pending: list[tuple[str, str]] = []  # (temp, final) waiting for the batch flush
        self._pending_bytes = 0
        self._large_done = False  # published objects not yet made durable by a syncfs
        self._shards_ready = False

    @property
    def identity(self) -> str:
        return f"local:{self.root}"

    def path(self, oid: str) -> str:
        # Plain concatenation: this runs once per object, 20,000 times for a dataset.
        return f"{self.objects}/{oid[:6]}/{oid[7:9]}/{oid[9:]}" if oid[6] == ":" else \
            os.path.join(self.objects, oidmod.relpath(oid))

    # -- checks ---------------------------------------------------------------
    def _require_root(self) -> None:
        if not os.path.isdir(self.root):
            raise RemoteError(f"{self.where}: the folder {self.root} does not exist; create it, mount it, "
                              f"or fix the URL with `gitmodel remote modify {self.name} url PATH`")

    def _ensure_shards(self) -> None:
        """Create the root (when its parent exists) and all 256 shard folders once."""
        if self._shards_ready:
            return
        with self._mu:
            if self._shards_ready:
                return
            if not os.path.isdir(self.root):
                if not os.path.isdir(os.path.dirname(self.root)):
                    self._require_root()
                os.makedirs(self.root, exist_ok=True)
            base = os.path.join(self.objects, oidmod.ALGO)
            if not os.path.isdir(os.path.join(base, "ff")):
                for i in range(256):
                    os.makedirs(os.path.join(base, f"{i:02x}"), exist_ok=True)
            if not os.access(base, os.W_OK):
                raise RemoteError(f"{self.where}: permission denied writing to {base}; "
                                  f"fix its permissions or use another remote (-r NAME)")
            self._shards_ready = True

    # -- queries --------------------------------------------------------------
    def exists_many(self, oids: Collection[str], jobs: int) -> set[str]:
        if not os.path.isdir(self.root):
            if os.path.isdir(os.path.dirname(self.root)):
                return set()  # a new remote: the first push creates the folder
            self._require_root()
        if len(oids) > 1024:
            # A stat per object, or a listing of the 256 shard folders: list when
            # the remote (estimated from one shard) holds fewer than ~4x what we ask.
            shard = os.path.join(self.objects, oidmod.ALGO, f"{random.randrange(256):02x}")
            if len(_listdir(shard)) * 256 < 4 * len(oids):
                have = set(self.list_oids())
                return {o for o in oids if o in have}
        exists, path = os.path.exists, self.path
        return {o for o in oids if exists(path(o))}

    def list_oids(self) -> Iterator[str]:
        self._require_root()
        for algo in _listdir(self.objects):
            for shard in _listdir(os.path.join(self.objects, algo)):
                prefix = f"{algo}:{shard}"
                for name in _listdir(os.path.join(self.objects, algo, shard)):
                    if not name.startswith(atomic.TMP_PREFIX) and oidmod.is_valid(prefix + name):
                        yield prefix + name

    # -- writing --------------------------------------------------------------
    def put(self, oid: str, path: str, size: int) -> None:
        self._ensure_shards()
        final = self.path(oid)
        if self.link == "hardlink" and self._try_hardlink(path, final):
            return
        tmp = atomic.tmp_name(os.path.dirname(final))
        try:
            if self.link == "reflink":
                if copy.reflink(path, tmp):
                    os.chmod(tmp, 0o444)
                    self._defer(tmp, final, 0)
                    return
                self.link = "copy"  # no clones on this filesystem: one failed try, not one per object
            fd = os.open(path, os.O_RDONLY)
            try:
                size = os.fstat(fd).st_size  # the file's, not the caller's idea of it
                data = _read_all(fd, size) if size < SMALL else None
            finally:
                os.close(fd)
            if data is not None:
                self.put_bytes(oid, data)
                return
            _copy_durable(path, tmp, size)
            faults.point("remote:local-before-rename")
            os.replace(tmp, final)
            self._large_done = True
        except BaseException:
            atomic.unlink_quiet(tmp)
            raise

    def put_bytes(self, oid: str, data: bytes) -> None:
        self._ensure_shards()
        final = self.path(oid)
        tmp = atomic.tmp_name(os.path.dirname(final))
        try:
            atomic.write_new(tmp, data)
            if self._faults:
                faults.point("remote:local-temp-written")
            self._defer(tmp, final, len(data))
        except BaseException:
            atomic.unlink_quiet(tmp)
            raise

    def _try_hardlink(self, src: str, final: str) -> bool:
        """A hard link is complete the moment it exists (it is the same,
        finished inode), so it goes straight to the final name; one syncfs
        at flush makes the batch durable."""
        try:
            os.link(src, final)
            self._large_done = True  # something to make durable at flush
            return True
        except FileExistsError:
            return True  # another push put it there first
        except OSError as e:
            if e.errno in _NO_LINK:
                self.link = "reflink"  # another filesystem: remember, do not retry per object
                return False
            raise

    def _defer(self, tmp: str, final: str, size: int) -> None:
        with self._mu:
            self._pending.append((tmp, final))
            self._pending_bytes += size
            full = len(self._pending) >= BATCH_FILES or self._pending_bytes >= BATCH_BYTES
        if full:
            self.flush()

    def flush(self) -> None:
        with self._mu:
            batch, self._pending, self._pending_bytes = self._pending, [], 0
            large, self._large_done = self._large_done, False
        if not batch and not large:
            return
        try:
            if batch:
                atomic.syncfs(self.objects)  # every temp's bytes on disk before any rename
                while batch:
                    tmp, final = batch[-1]
                    os.replace(tmp, final)
                    batch.pop()
                faults.point("remote:local-published")
            atomic.syncfs(self.objects)  # the renames themselves
        except BaseException:
            for tmp, _ in batch:
                atomic.unlink_quiet(tmp)
            raise

    def close(self) -> None:
        """Unpublished temps of a failed push are removed, not left as litter."""
        with self._mu:
            batch, self._pending = self._pending, []
        for tmp, _ in batch:
            atomic.unlink_quiet(tmp)

    # -- reading --------------------------------------------------------------
    def local_file(self, oid: str) -> str | None:
        path = self.path(oid)
        return path if os.path.exists(path) else None

    def get(self, oid: str, sink: Sink) -> None:
        try:
            fd = os.open(self.path(oid), os.O_RDONLY)
        except FileNotFoundError:
            self._require_root()
            raise ObjectMissingError(f"object {oid} is not on {self.where}") from None
        try:
            size = os.fstat(fd).st_size
            if size < SMALL:
                sink.write(os.read(fd, size + 1))
                return
            buf = bytearray(READ_CHUNK)
            view = memoryview(buf)
            while n := os.readv(fd, [buf]):
                sink.write(view[:n])
        finally:
            os.close(fd)

    def delete(self, oid: str) -> None:
        atomic.unlink_quiet(self.path(oid))

    def list_stats(self) -> Iterator[tuple[str, int, float]]:
        self._require_root()
        for algo in _listdir(self.objects):
            for shard in _listdir(os.path.join(self.objects, algo)):
                prefix = f"{algo}:{shard}"
                try:
                    it = os.scandir(os.path.join(self.objects, algo, shard))
                except (FileNotFoundError, NotADirectoryError):
                    continue
                with it:
                    for entry in it:
                        if entry.name.startswith(atomic.TMP_PREFIX) or not oidmod.is_valid(prefix + entry.name):
                            continue
                        try:
                            st = entry.stat(follow_symlinks=False)
                        except FileNotFoundError:
                            continue  # deleted while listing
                        yield prefix + entry.name, st.st_size, st.st_mtime

    # -- packs ----------------------------------------------------------------
    def _pack_path(self, packid: str, ext: str) -> str:
        return os.path.join(self.packs, packmod.name_of(packid, ext))

    def list_packs(self) -> list[str]:
        if not os.path.isdir(self.root) and os.path.isdir(os.path.dirname(self.root)):
            return []  # a new remote: the first push creates the folder
        self._require_root()
        return packmod.list_ids(self.packs)

    def read_pack_index(self, packid: str) -> bytes:
        try:
            with open(self._pack_path(packid, "idx"), "rb") as f:
                return f.read()
        except FileNotFoundError:
            raise ObjectMissingError(f"pack {packid} is not on {self.where}") from None

    def put_pack(self, packid: str, pack_path: str, idx_data: bytes) -> None:
        """The pack under a temp name (a hard link when `link` allows, else a
        durable in-kernel copy), renamed, then its index written atomically:
        a pack without its index does not count, so a killed upload is redone."""
        self._ensure_shards()
        os.makedirs(self.packs, exist_ok=True)
        idx_path = self._pack_path(packid, "idx")
        if os.path.exists(idx_path):
            return  # complete already (another clone pushed the same objects)
        tmp = atomic.tmp_name(self.packs)
        try:
            self._place_pack(pack_path, tmp)
            os.replace(tmp, self._pack_path(packid, "pack"))
        finally:
            atomic.unlink_quiet(tmp)
        atomic.fsync_dir(self.packs)  # the pack's name is durable before the index names it
        faults.point("remote:pack-before-index")
        atomic.write_atomic(idx_path, idx_data, mode=0o444)

    def _place_pack(self, src: str, tmp: str) -> None:
        if self.link == "hardlink":
            try:
                os.link(src, tmp)  # the cache's pack is complete, durable and never written again
                return
            except OSError as e:
                if e.errno not in _NO_LINK:
                    raise
                self.link = "reflink"
        if self.link == "reflink" and copy.reflink(src, tmp):
            fd = os.open(tmp, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            os.chmod(tmp, 0o444)
            return
        _copy_durable(src, tmp, os.stat(src).st_size)

    def get_range(self, packid: str, offset: int, size: int) -> bytes:
        try:
            fd = os.open(self._pack_path(packid, "pack"), os.O_RDONLY)
        except FileNotFoundError:
            self._require_root()
            raise ObjectMissingError(f"pack {packid} is not on {self.where}") from None
        try:
            parts = []
            while size > 0:  # a short read is the pack's end: the caller's hash check refuses it
                chunk = os.pread(fd, min(size, READ_CHUNK), offset)
                if not chunk:
                    break
                parts.append(chunk)
                offset += len(chunk)
                size -= len(chunk)
            return parts[0] if len(parts) == 1 else b"".join(parts)
        finally:
            os.close(fd)

    def delete_pack(self, packid: str) -> None:
        atomic.unlink_quiet(self._pack_path(packid, "idx"))  # first: the pack stops counting
        atomic.unlink_quiet(self._pack_path(packid, "pack"))

    def list_pack_stats(self) -> Iterator[tuple[str, str, int, float]]:
        try:
            it = os.scandir(self.packs)
        except (FileNotFoundError, NotADirectoryError):
            return
        with it:
            for entry in it:
                named = packmod.split_name(entry.name)
                if named is None:
                    continue
                try:
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                yield *named, st.st_size, st.st_mtime

    def _meta_path(self, name: str) -> str:
        if not name or name.startswith("/") or ".." in name.split("/"):
            raise ValueError(f"bad meta name {name!r}")
        return os.path.join(self.root, META, name)

    def read_meta(self, name: str) -> bytes | None:
        try:
            with open(self._meta_path(name), "rb") as f:
                return f.read()
        except FileNotFoundError:
            if not os.path.isdir(self.root) and os.path.isdir(os.path.dirname(self.root)):
                return None  # a new remote: the first push creates the folder
            self._require_root()
            return None

    def write_meta(self, name: str, data: bytes, exclusive: bool = False) -> bool:
        self._require_root()
        path = self._meta_path(name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        if not exclusive:
            atomic.write_atomic(path, data)
            return True
        # Complete content under a temp name, then link(2): creating the final
        # name is atomic and fails if it exists, even on most network filesystems.
        tmp = atomic.tmp_name(os.path.dirname(path))
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                os.write(fd, data)
                os.fsync(fd)
            finally:
                os.close(fd)
            try:
                os.link(tmp, path)
            except FileExistsError:
                return False
            atomic.fsync_dir(os.path.dirname(path))
            return True
        finally:
            atomic.unlink_quiet(tmp)

    def delete_meta(self, name: str) -> None:
        atomic.unlink_quiet(self._meta_path(name))


def _listdir(path: str) -> list[str]:
    try:
        return sorted(os.listdir(path))
    except (FileNotFoundError, NotADirectoryError):
        return []


def _read_all(fd: int, size: int) -> bytes:
    data = os.read(fd, size + 1)
    if len(data) <= size:
        return data
    parts = [data]  # it grew since the stat: read to the end
    while chunk := os.read(fd, READ_CHUNK):
        parts.append(chunk)
    return b"".join(parts)


def _copy_durable(src: str, dst: str, size: int) -> None:
    """In-kernel copy, asking the kernel to start writeback as each chunk
    lands so the final fsync has little left to wait for."""
    sfd = os.open(src, os.O_RDONLY)
    try:
        dfd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
        try:
            def on_chunk(offset: int, length: int) -> None:
                copy.start_writeback(dfd, offset, length)

            copied = copy.copy_fd(sfd, dfd, size, on_chunk)
            if copied != size:
                raise RemoteError(f"{src} is shorter than its recorded size ({copied} of {size} bytes); "
                                  f"run `gitmodel fsck`")
            os.fsync(dfd)
        finally:
            os.close(dfd)
    finally:
        os.close(sfd)
