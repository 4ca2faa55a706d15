"""The stat cache: (device, inode, size, mtime_ns, ctime_ns) -> oid.

It lets status and re-add skip reading files that have not changed.  It is
only ever a hint for skipping work: a miss costs a re-hash, never a wrong
answer, and a damaged database is thrown away and rebuilt.

Git's racily-clean rule: a file whose mtime is within RACY_NS of the moment
we looked at it could still be changed in the same timestamp tick without
its stat changing, so it is not recorded and will be hashed again next time.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterable, Sequence

import xxhash

RACY_NS = 100_000_000  # well above any kernel timestamp tick (1-10 ms)
CHUNK = 4000  # below SQLite's bound on host parameters

_SCHEMA = """
CREATE TABLE IF NOT EXISTS state (
    dev INTEGER NOT NULL, ino INTEGER NOT NULL, size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL, ctime_ns INTEGER NOT NULL, oid TEXT NOT NULL,
    PRIMARY KEY (dev, ino)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dirs (
    path TEXT PRIMARY KEY, oid TEXT NOT NULL, sig TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS complete (oid TEXT PRIMARY KEY) WITHOUT ROWID;
"""


def folder_signature(files: dict[str, os.stat_result], subfolders: Iterable[tuple[str, str | None]]
                     ) -> str | None:
    """The signature of one walked folder: its own files' names and stats,
    and its subfolders' names and signatures; None while any file below it
    is racy (the racily-clean rule, above)."""
    cutoff = time.time_ns() - RACY_NS
    rows = [(name, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_mode)
            for name, st in files.items()]
    subs = sorted(subfolders)
    if any(r[4] >= cutoff or r[5] >= cutoff for r in rows) or any(sig is None for _, sig in subs):
        return None
    rows.sort()
    return xxhash.xxh3_128_hexdigest(repr((rows, subs)).encode("utf-8", "surrogateescape"))


class StatCache:
    def __init__(self, path: str) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            try:
                self._db = self._open()
            except sqlite3.DatabaseError:
                # Corrupt or not a database: it only ever held hints.
                for suffix in ("", "-wal", "-shm"):
                    try:
                        os.unlink(self.path + suffix)
                    except OSError:  # absent, or a folder in its place: the fallback below
                        pass
                try:
                    self._db = self._open()
                except sqlite3.DatabaseError:
                    # Still unusable (say a folder sits at its name): work
                    # without hints for this run rather than fail the command.
                    self._db = self._open(":memory:")
        return self._db

    def _open(self, path: str | None = None) -> sqlite3.Connection:
        db = sqlite3.connect(path or self.path, timeout=30, isolation_level=None)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=OFF")  # a lost update only costs a re-hash
            db.executescript(_SCHEMA)
            db.execute("SELECT count(*) FROM state LIMIT 1").fetchone()
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    def lookup_many(self, stats: Sequence[os.stat_result]) -> list[str | None]:
        out: list[str | None] = [None] * len(stats)
        if not stats:
            return out
        by_key: dict[tuple[int, int], list[int]] = {}
        for i, st in enumerate(stats):
            by_key.setdefault((st.st_dev, st.st_ino), []).append(i)
        devs: dict[int, list[int]] = {}
        for dev, ino in by_key:
            devs.setdefault(dev, []).append(ino)
        try:
            db = self._conn()
            for dev, inos in devs.items():
                for start in range(0, len(inos), CHUNK):
                    part = inos[start:start + CHUNK]
                    q = (f"SELECT ino, size, mtime_ns, ctime_ns, oid FROM state "
                         f"WHERE dev = ? AND ino IN ({','.join('?' * len(part))})")
                    for ino, size, mtime, ctime, oid in db.execute(q, (dev, *part)):
                        for i in by_key[(dev, ino)]:
                            st = stats[i]
                            if (st.st_size, st.st_mtime_ns, st.st_ctime_ns) == (size, mtime, ctime):
                                out[i] = oid
        except sqlite3.DatabaseError:
            self._reset()
            return [None] * len(stats)
        return out

    def lookup(self, st: os.stat_result) -> str | None:
        return self.lookup_many([st])[0]

    def record_many(self, items: Iterable[tuple[os.stat_result, str]]) -> None:
        cutoff = time.time_ns() - RACY_NS
        rows = [(st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns, oid)
                for st, oid in items if st.st_mtime_ns < cutoff and st.st_ctime_ns < cutoff]
        if not rows:
            return
        try:
            db = self._conn()
            db.execute("BEGIN")
            db.executemany("INSERT OR REPLACE INTO state VALUES (?, ?, ?, ?, ?, ?)", rows)
            db.execute("COMMIT")
        except sqlite3.OperationalError:
            # Locked for longer than the timeout or read-only: skip the hint.
            self._rollback()
        except sqlite3.DatabaseError:
            self._reset()

    # -- whole folders ------------------------------------------------------
    # A folder whose every file has the same stat as when it was last found
    # to match a tree still matches it: one signature over the walk replaces
    # the manifest parse and the per-file lookups on the hot path of
    # `status`.  Rows are kept for every subfolder of a tracked folder (its
    # path -> its tree), so one changed file costs the trees on its way.

    def dir_is_clean(self, path: str, oid: str, sig: str | None) -> bool:
        if sig is None:
            return False
        try:
            row = self._conn().execute("SELECT oid, sig FROM dirs WHERE path = ?", (path,)).fetchone()
        except sqlite3.DatabaseError:
            self._reset()
            return False
        return row is not None and tuple(row) == (oid, sig)

    def set_dir_clean(self, path: str, oid: str, sig: str | None) -> None:
        self.set_dirs_clean([(path, oid, sig)])

    def set_dirs_clean(self, rows: Iterable[tuple[str, str, str | None]]) -> None:
        """Record (folder, tree, signature) rows in one transaction; a racy
        folder (signature None) is not recorded."""
        self._write_many("INSERT OR REPLACE INTO dirs VALUES (?, ?, ?)", [r for r in rows if r[2] is not None])

    def _write_many(self, sql: str, rows: Sequence[tuple[str | None, ...]]) -> None:
        if not rows:
            return
        try:
            db = self._conn()
            db.execute("BEGIN")
            db.executemany(sql, rows)
            db.execute("COMMIT")
        except sqlite3.OperationalError:
            self._rollback()  # locked or read-only: only hints are lost
        except sqlite3.DatabaseError:
            self._reset()

    # -- manifests whose every object is known to be in the cache ----------
    # Only gc and fsck remove objects, and they clear this table.

    def is_complete(self, oid: str) -> bool:
        try:
            return self._conn().execute("SELECT 1 FROM complete WHERE oid = ?", (oid,)).fetchone() is not None
        except sqlite3.DatabaseError:
            self._reset()
            return False

    def set_complete(self, oid: str) -> None:
        self._write("INSERT OR IGNORE INTO complete VALUES (?)", (oid,))

    def set_complete_many(self, oids: Iterable[str]) -> None:
        self._write_many("INSERT OR IGNORE INTO complete VALUES (?)", [(o,) for o in oids])

    def dirs_under(self, path: str) -> dict[str, tuple[str, str]]:
        """The folder rows of `path` and every folder below it: {folder: (tree, signature)}."""
        try:
            # ('/' + 1 is '0': the range holds exactly the paths below `path/`.)
            rows = self._conn().execute("SELECT path, oid, sig FROM dirs WHERE path = ? OR (path >= ? AND path < ?)",
                                        (path, path + "/", path + "0")).fetchall()
        except sqlite3.DatabaseError:
            self._reset()
            return {}
        return {p: (o, sig) for p, o, sig in rows}

    def clear_complete(self) -> None:
        self._write("DELETE FROM complete", ())

    def forget(self, oid: str) -> None:
        """Drop every hint that names `oid` (fsck found it corrupt): a
        workspace file hard-linked to it has the same stat as before, and
        must be hashed again, not trusted."""
        self._write("DELETE FROM state WHERE oid = ?", (oid,))
        self._write("DELETE FROM dirs WHERE oid = ?", (oid,))

    def _write(self, sql: str, args: tuple[str, ...]) -> None:
        try:
            self._conn().execute(sql, args)
        except sqlite3.OperationalError:
            pass  # locked or read-only: only a hint is lost
        except sqlite3.DatabaseError:
            self._reset()

    def _rollback(self) -> None:
        if self._db is not None:
            try:
                self._db.execute("ROLLBACK")
            except sqlite3.DatabaseError:
                pass

    def _reset(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
        for suffix in ("", "-wal", "-shm"):
            try:
                os.unlink(self.path + suffix)
            except OSError:
                pass

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
