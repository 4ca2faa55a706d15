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
- `hardlink`: try a hard link first even when core.link is `hardlink`
  (never when it is `symlink`: a symlink does not show in the link count).

Whatever the mode, an object is hard-linked only while the cache's file has
no other name (st_nlink == 1), and checkout's hardlink mode
(gitmodel/platform/links.py) keeps the same rule: an inode then has at most
two names, the cache's and one other (a remote's or a workspace file's).  So
one in-place write to a workspace file (a root process, a `chmod +w`) can
damage the cache's copy, never the remote's too: at least one independent
copy survives.  Otherwise (an object already linked into the workspace) the
remote gets a clone or a copy.

Anyone who can write the folder can put a FIFO, a device, a socket or a
folder where an object belongs.  Reads open with O_NONBLOCK and check the
opened file (fstat) before reading a byte: such an entry is one line
(RemoteError), never a read that blocks while the repository is locked;
listings skip it.
"""

from __future__ import annotations

import errno
import os
import stat as statmod
import threading
from collections.abc import Collection, Iterator

from gitmodel.errors import RemoteError
from gitmodel.platform import atomic, copy, faults
from gitmodel.remote.base import Backend, KeyMissingError, Sink, Stat

SMALL = 1 << 20  # below this: batched durability; above: fsync per object
BATCH_FILES = 4096  # publish a batch every so many small objects...
BATCH_BYTES = 256 << 20  # ...or bytes, so a killed push keeps most of its work
READ_CHUNK = 8 << 20
LINKS = ("auto", "reflink", "copy", "hardlink")
_NO_LINK = (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP)  # another filesystem, or links refused


class LocalBackend(Backend):
    kind = "local"
    default_jobs = 4  # a local disk gains little from more; a network mount a little
    # A stat costs about what listing four names does, and stats run one after another.
    probe_limit = 1024
    keys_per_probe = 4.0
    probes_overlap = False

    def __init__(self, name: str, display: str, root: str, link: str = "auto",
                 workspace_links: bool = True, workspace_symlinks: bool = False) -> None:
        """`workspace_links`: the repository's checkout may hard- or symlink
        workspace files to cache objects (then `auto` never hardlinks).
        `workspace_symlinks`: it symlinks them; a symlink does not show in
        the object's link count, so then nothing hard-links, `hardlink` or not."""
        super().__init__(name, display)
        if link not in LINKS:
            raise RemoteError(f"remote '{name}': link = {link!r} is not one of {', '.join(LINKS)}",
                              hint=f"fix it with `gitmodel remote modify {name} link reflink`")
        self.root = os.path.abspath(root)
        self.link = ("reflink" if workspace_links else "hardlink") if link == "auto" else link
        if workspace_symlinks and self.link == "hardlink":
            self.link = "reflink"
        self._faults = bool(os.environ.get("GITMODEL_FAULT"))
        self._clones = True  # until a clone fails on this filesystem
        self._mu = threading.Lock()
        self._pending: list[tuple[str, str]] = []  # (temp, final) waiting for the batch flush
        self._pending_bytes = 0
        self._large_done = False  # published files not yet made durable by a syncfs
        self._folders: set[str] = set()  # folders known to exist and be writable

    @property
    def identity(self) -> str:
        return f"local:{self.root}"

    def path(self, key: str) -> str:
        return f"{self.root}/{key}"

    # -- checks ---------------------------------------------------------------
    def _require_root(self) -> None:
        if not os.path.isdir(self.root):
            raise RemoteError(f"{self.where}: the folder {self.root} does not exist",
                              hint=f"create it, mount it, "
                                   f"or fix the URL with `gitmodel remote modify {self.name} url PATH`")

    def _is_new(self) -> bool:
        """The root is not there yet but its parent is: a new remote, which
        the first push creates.  A missing parent is an error (an unmounted
        share, a typo), never silently created."""
        if os.path.isdir(self.root):
            return False
        if os.path.isdir(os.path.dirname(self.root)):
            return True
        self._require_root()
        return False

    def _folder_for(self, final: str) -> str:
        """The folder of `final`, created once (the root only when its parent exists)."""
        folder = os.path.dirname(final)
        if folder in self._folders:
            return folder
        if not os.path.isdir(self.root):
            self._is_new()  # raises when the parent is missing too
        os.makedirs(folder, exist_ok=True)
        if not os.access(folder, os.W_OK):
            raise RemoteError(f"{self.where}: permission denied writing to {folder}",
                              hint="fix its permissions or use another remote (-r NAME)")
        with self._mu:
            self._folders.add(folder)
        return folder

    # -- writing --------------------------------------------------------------
    # Content is written through the platform's one atomic-write primitive
    # (atomic.SaveFile: a temp file in the destination folder, renamed only
    # when complete).  Small files skip its per-file fsync and are renamed by
    # the batch in flush(); links and clones are not writes and go around it.
    def put_file(self, key: str, path: str, size: int, *, sync: bool = False) -> None:
        final = self.path(key)
        folder = self._folder_for(final)
        if self.link == "hardlink" and not sync and self._try_hardlink(path, final):
            return
        if self.link in ("hardlink", "reflink") and self._place(path, final, folder, sync):
            return
        if self.link == "reflink":
            self.link = "copy"  # no clones on this filesystem: one failed try, not one per object
        if not sync:
            fd = os.open(path, os.O_RDONLY)
            try:
                size = os.fstat(fd).st_size  # the file's, not the caller's idea of it
                data = _read_all(fd, size) if size < SMALL else None
            finally:
                os.close(fd)
            if data is not None:
                self.put_bytes(key, data)
                return
        with atomic.SaveFile(folder, 0o444) as f, open(path, "rb") as src:
            size = os.fstat(src.fileno()).st_size

            def on_chunk(offset: int, length: int) -> None:
                copy.start_writeback(f.fd, offset, length)  # the final fsync has little left to wait for

            copied = copy.copy_fd(src.fileno(), f.fd, size, on_chunk)
            if copied != size:
                raise RemoteError(f"{path} is shorter than its recorded size ({copied} of {size} bytes)",
                                  hint="run `gitmodel fsck`")
            # Synced: the folder now, before anything that names this key is
            # written; else the syncfs at flush covers the rename.
            f.commit(final, fault="remote:local-before-rename", sync_folder=sync)
        if not sync:
            self._large_done = True

    def _place(self, src: str, final: str, folder: str, sync: bool) -> bool:
        """A hard link or clone of the cache's file under a temp name, then
        published (at once when `sync`, else with the batch).  False when
        this filesystem makes neither."""
        tmp = atomic.tmp_name(folder)
        try:
            if self.link == "hardlink" and self._try_hardlink(src, tmp):
                pass  # the cache's file is complete, durable and never written again
            elif self._clones and copy.reflink(src, tmp):  # a clone shares no inode
                os.chmod(tmp, 0o444)
                if sync:
                    _fsync_path(tmp)
            else:
                self._clones = False  # one failed clone, not one per object (each costs an inode)
                return False
            if not sync:
                self._defer(tmp, final, 0)
                tmp = ""
                return True
            faults.point("remote:local-before-rename")
            os.replace(tmp, final)
            tmp = ""
            atomic.fsync_dir(folder)
            return True
        finally:
            if tmp:
                atomic.unlink_quiet(tmp)

    def put_bytes(self, key: str, data: bytes, *, sync: bool = False, exclusive: bool = False) -> bool:
        final = self.path(key)
        folder = self._folder_for(final)
        if not sync and not exclusive:
            # The hot path (thousands of small objects): no fsync, no fchmod;
            # one syncfs before and after the batch's renames makes them durable.
            f = atomic.SaveFile(folder, 0o444, durable=False, umask=True)
            try:
                f.write(data)
                f.close()
                if self._faults:
                    faults.point("remote:local-temp-written")
            except BaseException:
                f.abort()
                raise
            self._defer(f.tmp, final, len(data))
            return True
        with atomic.SaveFile(folder, 0o444) as f:
            f.write(data)
            if self._faults:
                faults.point("remote:local-temp-written")
            if not exclusive:
                f.commit(final)
                return True
            # link(2) creates the final name atomically and fails if it exists,
            # even on most network filesystems (a rename would replace it).
            f.close()
            try:
                os.link(f.tmp, final)
            except FileExistsError:
                return False
            atomic.fsync_dir(folder)
            return True  # leaving the block removes the temp name; `final` keeps the inode

    def _try_hardlink(self, src: str, dest: str) -> bool:
        """A hard link is complete the moment it exists (it is the same,
        finished inode), so an object goes straight to its final name; one
        syncfs at flush makes the batch durable.

        Only a cache file with no other name is linked (see the module's
        docstring): one a workspace file or another remote shares already
        gets a clone or a copy, so no write to one name reaches three."""
        try:
            if os.stat(src).st_nlink > 1:
                return False
            os.link(src, dest)
            self._large_done = True  # something to make durable at flush
            return True
        except FileExistsError:
            # Another push put it there first (content-addressed: the same
            # bytes), unless what holds the name is not an object file.
            return _is_file(dest)
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
                atomic.syncfs(self.root)  # every temp's bytes on disk before any rename
                while batch:
                    tmp, final = batch[-1]
                    try:
                        os.replace(tmp, final)
                    except IsADirectoryError:  # a folder where the object belongs: one line, not a traceback
                        raise RemoteError(f"{self.where}: {final} is a folder, not an object file",
                                          hint="remove it from the remote folder") from None
                    batch.pop()
                faults.point("remote:local-published")
            atomic.syncfs(self.root)  # the renames themselves
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
    def _open(self, key: str) -> int:
        """A read-only descriptor of the key's regular file.  O_NONBLOCK: a
        FIFO in the object's place opens at once instead of waiting for a
        writer; fstat then refuses it (and a device, a folder) before any read."""
        path = self.path(key)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | _NOCTTY)
        except (FileNotFoundError, NotADirectoryError):
            self._is_new()  # a missing folder (not a missing key) is the user's to fix
            raise KeyMissingError(f"{key} is not on {self.where}") from None
        except OSError as e:  # ENXIO (a socket), EACCES, ELOOP...
            raise RemoteError(f"{self.where}: cannot read {key} ({e.strerror or e})",
                              hint="fix or remove that entry in the remote folder") from None
        try:
            mode = os.fstat(fd).st_mode
        except BaseException:
            os.close(fd)
            raise
        if not statmod.S_ISREG(mode):
            os.close(fd)
            raise RemoteError(f"{self.where}: {key} is {_kind(mode)}, not an object file",
                              hint="remove it from the remote folder")
        return fd

    def local_file(self, key: str) -> str | None:
        """The key's path for in-kernel copies: a regular file only (anything
        else is read through `get`, which refuses it)."""
        path = self.path(key)
        return path if _is_file(path) else None

    def get(self, key: str, sink: Sink) -> None:
        fd = self._open(key)
        try:
            size = os.fstat(fd).st_size
            if size < SMALL:
                sink.write(_read_all(fd, size))
                return
            buf = bytearray(READ_CHUNK)
            view = memoryview(buf)
            while n := os.readv(fd, [buf]):
                sink.write(view[:n])
        finally:
            os.close(fd)

    def get_range(self, key: str, offset: int, size: int) -> bytes:
        fd = self._open(key)
        try:
            parts = []
            while size > 0:  # a short read is the value's end
                chunk = os.pread(fd, min(size, READ_CHUNK), offset)
                if not chunk:
                    break
                parts.append(chunk)
                offset += len(chunk)
                size -= len(chunk)
            return parts[0] if len(parts) == 1 else b"".join(parts)
        finally:
            os.close(fd)

    def stat(self, key: str) -> Stat | None:
        try:
            st = os.stat(self.path(key))
        except (FileNotFoundError, NotADirectoryError):
            return None
        if not statmod.S_ISREG(st.st_mode):
            return None  # not an object file: absent, so a push writes the real one over it
        return Stat(key, st.st_size, st.st_mtime)

    def exists_many(self, keys: Collection[str], jobs: int) -> set[str]:
        if self._is_new():
            return set()  # a new remote: the first push creates the folder
        # A regular file, not merely a name: a FIFO or folder in an object's
        # place must not make push skip the upload (one stat either way).
        isfile, root = os.path.isfile, self.root
        return {k for k in keys if isfile(f"{root}/{k}")}

    def list(self, prefix: str, limit: int | None = None) -> Iterator[Stat]:
        if self._is_new():
            return
        folder, _, start = prefix.rpartition("/")
        yield from self._walk(folder, start, limit)

    def _walk(self, folder: str, start: str, limit: int | None) -> Iterator[Stat]:
        """Files below `<root>/<folder>` whose names start with `start`, temps skipped."""
        try:
            it = os.scandir(f"{self.root}/{folder}" if folder else self.root)
        except (FileNotFoundError, NotADirectoryError):
            return
        below: list[str] = []
        count = 0
        with it:
            for entry in it:
                name = entry.name
                if not name.startswith(start) or name.startswith(atomic.TMP_PREFIX):
                    continue
                key = f"{folder}/{name}" if folder else name
                try:
                    if entry.is_dir(follow_symlinks=False):
                        below.append(key)
                        continue
                    st = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue  # deleted while listing
                if not statmod.S_ISREG(st.st_mode):
                    continue  # a FIFO, device, socket or symlink is not an object (reads refuse it too)
                yield Stat(key, st.st_size, st.st_mtime)
                count += 1
                if limit is not None and count >= limit:
                    return
        for sub in sorted(below):
            for st_ in self._walk(sub, "", None if limit is None else limit - count):
                yield st_
                count += 1
                if limit is not None and count >= limit:
                    return

    def delete(self, key: str) -> None:
        atomic.unlink_quiet(self.path(key))


_NOCTTY = getattr(os, "O_NOCTTY", 0)  # a terminal device must not become our controlling tty


def _is_file(path: str) -> bool:
    try:
        return statmod.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def _kind(mode: int) -> str:
    for test, name in ((statmod.S_ISDIR, "a folder"), (statmod.S_ISFIFO, "a FIFO"), (statmod.S_ISSOCK, "a socket"),
                       (statmod.S_ISCHR, "a character device"), (statmod.S_ISBLK, "a block device")):
        if test(mode):
            return name
    return "not a regular file"


def _fsync_path(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _read_all(fd: int, size: int) -> bytes:
    data = os.read(fd, size + 1)
    if len(data) <= size:
        return data
    parts = [data]  # it grew since the stat: read to the end
    while chunk := os.read(fd, READ_CHUNK):
        parts.append(chunk)
    return b"".join(parts)

