"""Helpers shared by the tests/test_safety_*.py files (no tests of its own).

Named test_safety_* so that it belongs with the suite it serves; pytest puts
tests/ on sys.path, so the other files import it as `test_safety_support`.
Deliberately independent of the core suite's helpers: these checks are the
safety net under everyone's code, so they re-derive what they trust (hashes,
file bytes) from scratch.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import time
from pathlib import Path

import xxhash

from tests.conftest import GITMODEL, Result, git
from tests.support.store import Packed, flip_byte, pack_entries, packs, read_only, tree_state  # noqa: F401 (re-exported)
from tests.support.store import store_objects as core_store_objects

TMP_PREFIX = ".gm-tmp-"
DAY = 86400.0


def oid_of(data: bytes) -> str:
    return "xxh128:" + xxhash.xxh3_128_hexdigest(data)


def cache_root(root: Path) -> Path:
    common = git("rev-parse", "--path-format=absolute", "--git-common-dir", cwd=root).strip()
    return Path(common) / "gitmodel"


def object_path(root: Path, oid: str) -> Path:
    hexd = oid.split(":", 1)[1]
    return cache_root(root) / "objects" / "xxh128" / hexd[:2] / hexd[2:]


def store_objects(base: Path, packed: bool = True) -> dict[str, Path | Packed]:
    """Every object under its final name below an object store root (a cache
    or a folder remote), loose and packed: {oid: where}.  Temp files are not
    objects, nor is a pack without its index."""
    return core_store_objects(base, packed)


def objects(root: Path, packed: bool = True) -> dict[str, Path | Packed]:
    return store_objects(cache_root(root), packed)


def bad_objects(base: Path) -> list[str]:
    """Objects whose bytes do not hash to their name (must always be empty)."""
    return [oid for oid, p in store_objects(base).items() if oid_of(p.read_bytes()) != oid]


def temps(base: Path) -> list[Path]:
    return [Path(d) / f for d, _, fs in os.walk(base) for f in fs if f.startswith(TMP_PREFIX)]


def age(paths: list[Path] | dict[str, Path], days: float) -> None:
    """Make files look `days` old (mtime), as gc's grace period sees them."""
    when = time.time() - days * DAY
    for p in (paths.values() if isinstance(paths, dict) else paths):
        os.utime(p, (when, when), follow_symlinks=False)


def age_cache(root: Path, days: float = 30) -> None:
    age(objects(root), days)


# -- snapshots: proving a failed command changed nothing ---------------------------

def cache_state(root: Path) -> dict[str, tuple[int, int, str]]:
    """Every file in the cache but the lock and the stat cache (hints, not
    content): {relpath: (size, mode, hash)}."""
    base = cache_root(root)
    out: dict[str, tuple[int, int, str]] = {}
    for folder, _dirs, files in os.walk(base):
        for name in files:
            p = os.path.join(folder, name)
            rel = os.path.relpath(p, base)
            if rel == "lock" or rel.startswith("state.db"):
                continue
            st = os.lstat(p)
            try:
                h = oid_of(Path(p).read_bytes()) if stat.S_ISREG(st.st_mode) else ""
            except PermissionError:
                h = "<unreadable>"
            out[rel] = (st.st_size, stat.S_IMODE(st.st_mode), h)
    return out


def snapshot(root: Path, remote: Path | None = None) -> dict[str, object]:
    snap: dict[str, object] = {
        "work tree": tree_state(root),
        "index": git("ls-files", "--stage", cwd=root),
        "cache": cache_state(root),
    }
    if remote is not None:
        snap["remote"] = tree_state(remote, skip_git=False)
    return snap


def assert_unchanged(before: dict[str, object], after: dict[str, object]) -> None:
    for name in before:
        assert after[name] == before[name], f"the {name} changed"


def assert_one_line_error(r: Result, *needles: str, code: int = 1) -> str:
    """An expected failure: the exit code, one line on stderr, no traceback."""
    assert r.code == code, r
    lines = r.err.strip().splitlines()
    assert len(lines) == 1, r
    assert "Traceback" not in r.err + r.out, r
    for needle in needles:
        assert needle in lines[0], (needle, r)
    return lines[0]


# -- running the CLI in special conditions --------------------------------------------

def run_cli(args: list[str], cwd: Path, env: dict[str, str] | None = None, preexec: object = None,
            timeout: float = 120) -> Result:
    """The CLI as a real subprocess, with an optional preexec_fn (resource
    limits, dropped capabilities)."""
    kwargs: dict[str, object] = {}
    if preexec is not None:
        kwargs["preexec_fn"] = preexec
    proc = subprocess.run([*GITMODEL, *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=timeout, **kwargs)  # type: ignore[call-overload]
    return Result(proc.returncode, proc.stdout, proc.stderr)


def without_permission_override() -> None:
    """preexec_fn: drop CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from the
    child's bounding set, so that root obeys permission bits after exec (a
    chmod 000 file is then unreadable, as it is for everyone else), while
    staying root for everything else (HOME, git's ownership checks)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH (linux/capability.h)
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


# Folders unwritable even for root: the core suite's helper (chmod, or chattr +i as root).
immutable = read_only


def copy_repo(src: Path, dst: Path) -> Path:
    """A byte-for-byte copy of a repository (cache included: it is in .git)."""
    shutil.copytree(src, dst, symlinks=True)
    return dst
