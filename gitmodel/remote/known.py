"""The local record of what a remote holds (`<cache>/remotes/<name>/known`):
a hint that lets a push with nothing new ask the remote nothing."""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Iterable

LIST_PREFIX = "list "  # a line `list <oid>`: the remote holds that chunk list


class KnownObjects:
    """Objects known to be on one remote: `<cache>/remotes/<name>/known`, one
    oid a line, appended after each confirmed upload, download or existence
    check.  A hint that saves asking the remote; never a reason to delete
    anything.  Dropped when the remote's URL or endpoint changes.

    Chunk lists the remote holds (chunked files complete there) are lines
    `list <oid>`: never taken for an object of that oid (the remote has no
    such object), and skipped as torn lines by a reader that predates them."""

    def __init__(self, cache_root: str, name: str, identity: str) -> None:
        from gitmodel.remote.spec import check_name

        # The name becomes a path that forget() removes whole: a name from a
        # committed config such as '/home/you' must never get this far.
        self.dir = os.path.join(cache_root, "remotes", check_name(name))
        self.path = os.path.join(self.dir, "known")
        self.identity = identity
        self._set: set[str] | None = None
        self._lists: set[str] = set()
        self._stale = False
        self._mu = threading.Lock()

    def load(self) -> set[str]:
        if self._set is not None:
            return self._set
        try:
            with open(os.path.join(self.dir, "identity"), encoding="utf-8") as f:
                same = f.read().strip() == self.identity
        except FileNotFoundError:
            same = False
        self._stale = not same  # reset on the first write, not before anything is known
        self._set = set()
        self._lists = set()
        if same:
            try:
                with open(self.path, "rb") as fb:
                    lines = fb.read().decode("ascii", "replace").split("\n")
                # A line torn by a crash is not an oid and is simply ignored.
                self._set = {x for x in lines if len(x) == 39 and x.startswith("xxh128:")}
                n = len(LIST_PREFIX)
                self._lists = {x[n:] for x in lines if len(x) == n + 39 and x.startswith(LIST_PREFIX + "xxh128:")}
            except FileNotFoundError:
                pass
        return self._set

    def _reset(self) -> None:
        from gitmodel.platform.atomic import write_atomic

        try:
            os.makedirs(self.dir, exist_ok=True)
            write_atomic(self.path, b"", durable=False)
            write_atomic(os.path.join(self.dir, "identity"), self.identity.encode() + b"\n", durable=False)
        except OSError:
            pass  # a read-only cache still pushes; it only asks the remote more

    def __contains__(self, oid: str) -> bool:
        return oid in self.load()

    def has_list(self, oid: str) -> bool:
        """Whether the remote is known to hold the chunk list of `oid`."""
        self.load()
        return oid in self._lists

    def add(self, oids: Iterable[str]) -> None:
        known = self.load()
        with self._mu:
            new = [o for o in oids if o not in known]
            known.update(new)
            self._append(new)

    def add_lists(self, oids: Iterable[str]) -> None:
        """Chunk lists confirmed on the remote (uploaded, downloaded or asked)."""
        self.load()
        with self._mu:
            new = [o for o in oids if o not in self._lists]
            self._lists.update(new)
            self._append([LIST_PREFIX + o for o in new])

    def _append(self, new: list[str]) -> None:
        """Lines onto the record (the caller holds the lock)."""
        if new:
            if self._stale:
                self._reset()
                self._stale = False
            try:
                # One O_APPEND write per batch: concurrent writers never interleave within it.
                fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                try:
                    os.write(fd, ("\n".join(new) + "\n").encode())
                finally:
                    os.close(fd)
            except OSError:
                pass

    def forget(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)
        self._set = set()
        self._lists = set()

    def follow_remote_gc(self, marker: bytes | None) -> None:
        """A remote gc run from any clone may have deleted objects this record
        lists, and a push that trusted it would then skip them: drop the record
        whenever the remote's gc marker differs from the one seen when the
        record was started."""
        seen_path = os.path.join(self.dir, "gc-seen")
        try:
            with open(seen_path, "rb") as f:
                seen = f.read()
        except FileNotFoundError:
            seen = b""
        if seen == (marker or b""):
            return
        from gitmodel.platform.atomic import write_atomic

        self.forget()
        try:
            os.makedirs(self.dir, exist_ok=True)
            write_atomic(seen_path, marker or b"", durable=False)
        except OSError:
            pass
