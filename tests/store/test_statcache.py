"""The stat cache: (dev, ino, size, mtime_ns, ctime_ns) -> oid, git's
racily-clean rule, and that a damaged database only costs re-hashing."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from pathlib import Path

from gitmodel.store.statcache import RACY_NS, StatCache
from tests.support.store import oid_of, settle

OID = "xxh128:" + "ab" * 16


@dataclass(frozen=True)
class FakeStat:
    """The five fields the stat cache keys on (duck-typed os.stat_result)."""
    st_dev: int
    st_ino: int
    st_size: int
    st_mtime_ns: int
    st_ctime_ns: int


def old_stat(**kw: int) -> FakeStat:
    t = time.time_ns() - 10 * RACY_NS
    return replace(FakeStat(1, 2, 3, t, t), **kw)


def test_records_and_finds_an_old_stat(tmp_path: Path) -> None:
    sc = StatCache(str(tmp_path / "state.db"))
    st = old_stat()
    sc.record_many([(st, OID)])  # type: ignore[list-item]
    assert sc.lookup(st) == OID  # type: ignore[arg-type]
    sc.close()
    assert StatCache(str(tmp_path / "state.db")).lookup(st) == OID  # type: ignore[arg-type]


def test_any_changed_field_is_a_miss(tmp_path: Path) -> None:
    sc = StatCache(str(tmp_path / "state.db"))
    st = old_stat()
    sc.record_many([(st, OID)])  # type: ignore[list-item]
    for change in ({"st_dev": 9}, {"st_ino": 9}, {"st_size": 4}, {"st_mtime_ns": st.st_mtime_ns + 1},
                   {"st_ctime_ns": st.st_ctime_ns + 1}):
        assert sc.lookup(replace(st, **change)) is None, change  # type: ignore[arg-type]


def test_racily_clean_stats_are_not_recorded(tmp_path: Path) -> None:
    """A stat whose mtime (or ctime) is within the racy window of now could
    hide a change made in the same timestamp tick: it must not be trusted."""
    sc = StatCache(str(tmp_path / "state.db"))
    now = time.time_ns()
    racy_mtime = old_stat(st_mtime_ns=now)
    racy_ctime = old_stat(st_ino=3, st_ctime_ns=now)
    sc.record_many([(racy_mtime, OID), (racy_ctime, OID)])  # type: ignore[list-item]
    assert sc.lookup(racy_mtime) is None  # type: ignore[arg-type]
    assert sc.lookup(racy_ctime) is None  # type: ignore[arg-type]


def test_real_file_is_recorded_only_once_it_has_settled(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_bytes(b"data")
    sc = StatCache(str(tmp_path / "state.db"))
    sc.record_many([(f.stat(), oid_of(b"data"))])
    assert sc.lookup(f.stat()) is None
    settle()
    sc.record_many([(f.stat(), oid_of(b"data"))])
    assert sc.lookup(f.stat()) == oid_of(b"data")
    f.write_bytes(b"DATA")  # same size, new mtime/ctime
    assert sc.lookup(f.stat()) is None


def test_lookup_many_with_duplicates_and_many_entries(tmp_path: Path) -> None:
    sc = StatCache(str(tmp_path / "state.db"))
    stats = [old_stat(st_ino=i) for i in range(5000)]  # more than one SQL chunk
    sc.record_many([(s, f"xxh128:{i:032x}") for i, s in enumerate(stats)])  # type: ignore[misc]
    got = sc.lookup_many([stats[7], stats[4999], stats[7], old_stat(st_ino=10**6)])  # type: ignore[list-item]
    assert got == [f"xxh128:{7:032x}", f"xxh128:{4999:032x}", f"xxh128:{7:032x}", None]


def test_a_corrupt_database_is_rebuilt(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    db.write_bytes(b"this is not sqlite" * 100)
    sc = StatCache(str(db))
    st = old_stat()
    assert sc.lookup(st) is None  # type: ignore[arg-type]
    sc.record_many([(st, OID)])  # type: ignore[list-item]
    assert sc.lookup(st) == OID  # type: ignore[arg-type]


def test_commands_survive_a_corrupt_state_db(gm, repo: Path) -> None:
    (repo / "m.bin").write_bytes(b"m" * 100)
    assert gm("add", "m.bin").code == 0
    (repo / ".git" / "gitmodel" / "state.db").write_bytes(b"\0garbage" * 64)
    r = gm("status", "--json")
    assert r.code == 0 and '"unchanged"' in r.out, r
    r = gm("add", "m.bin")
    assert r.code == 0 and "unchanged m.bin" in r.out, r
