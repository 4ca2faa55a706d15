"""Crash consistency: kill `add`, `checkout`, `push`, `pull` and `gc` at many
points, then check that nothing was lost and that a rerun completes.

Each scenario is a repository state (built once, copied per trial) and one
command.  A trial crashes that command in one of five ways:

- `fault-kill`:      GITMODEL_FAULT=<point>: SIGKILL at a named step;
- `fault-interrupt`: the same point, GITMODEL_FAULT_MODE=interrupt (Ctrl-C there);
- `random-kill`:     SIGKILL to the process after a random delay;
- `random-int`:      SIGINT to its process group after a random delay (a
                     terminal's Ctrl-C reaches git children too);

then asserts the invariants:

1. every object under its final name, in the cache and on a folder remote,
   hashes to that name (no object corrupt; none that a reference needs lost);
2. every user file is intact byte for byte or, for checkout, either absent
   (not yet restored) or complete: never half-written under its name; a
   user's modified file is either still there or its content is in the cache;
3. write order: a pointer on disk names objects that exist; a manifest on the
   remote names files that are on the remote;
4. the same command, run again, completes, and the result is what a clean run
   gives (status unchanged, fsck clean, remote complete).

Figures (points tried and survived, objects and files lost) are printed at
the end of the module; `python tests/safety/crash_report.py` runs more random trials
and prints the same figures without pytest.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import stat
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.cli import GITMODEL, Result, gm_run
from tests.support.files import write_files
from tests.support.git import commit_without_hooks, git
from tests.support.state import tree_state
from tests.support.store import (
    age,
    bad_objects,
    cache_root,
    decode_idx,
    folder_files,
    objects,
    oid_of,
    pointer_oid,
    store_objects,
    temps,
)

HOWS_FAULT = ("fault-kill", "fault-interrupt")
HOWS_RANDOM = ("random-kill", "random-int")
RANDOM_TRIALS = int(os.environ.get("GITMODEL_CRASH_TRIALS", "2"))  # per scenario and signal in pytest


# -- figures --------------------------------------------------------------------------

@dataclass
class Figures:
    tried: Counter[str] = field(default_factory=Counter)  # "scenario/how" -> trials
    survived: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)  # how the crashed process ended
    points: set[str] = field(default_factory=set)  # distinct named points crashed at
    objects_lost: int = 0  # objects needed by a reference but gone, or corrupt under their name
    files_lost: int = 0  # user files whose bytes are neither in the workspace nor in the cache
    failures: list[str] = field(default_factory=list)

    def summary(self) -> str:
        total, ok = sum(self.tried.values()), sum(self.survived.values())
        fault = sum(v for k, v in self.tried.items() if "/fault-" in k)
        rand = total - fault
        return (f"crash harness: {total} crashes tried ({fault} at {len(self.points)} named points x kill/interrupt, "
                f"{rand} at random delays), {ok} survived; objects lost: {self.objects_lost}, "
                f"files lost: {self.files_lost}; outcomes: {dict(sorted(self.outcomes.items()))}")


FIGURES = Figures()


# -- the shared data ------------------------------------------------------------------

def user_files(n: int = 60) -> dict[str, bytes]:
    """Fixed content (seeded), so every trial starts from the same bytes."""
    from gitmodel.store import cache

    rnd = random.Random(8)
    files = {f"data/f{i:03}.bin": rnd.randbytes(rnd.randrange(1, 4000)) for i in range(n)}
    files["data/sub/deep.txt"] = b"deep\n"
    files["data/same.bin"] = files["data/f000.bin"]  # a duplicate inside one batch
    files["m.bin"] = rnd.randbytes(5000)
    files["big.bin"] = rnd.randbytes(cache.SMALL + 4321)  # the streaming path
    return files


PATHS = ["data", "m.bin", "big.bin"]


def cli(root: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    """In-process CLI (fast) for setup, reruns and checks."""
    old = {k: os.environ.get(k) for k in (env or {})}
    os.environ.update(env or {})
    try:
        return gm_run(list(args), cwd=root)
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def ok(r: Result) -> Result:
    assert r.code == 0, r
    return r


def init_repo(root: Path) -> Path:
    root.mkdir(parents=True)
    git("init", "-q", cwd=root)
    ok(cli(root, "init"))
    return root


def read_pointers(root: Path) -> dict[str, tuple[str, bool]]:
    """{pointer path: (oid, is_dir)} of the pointer files in a work tree."""
    from gitmodel.store import pointer

    out = {}
    for p in root.rglob("*.gm"):
        if ".git" in p.relative_to(root).parts:
            continue
        ptr = pointer.read(str(p))  # a torn pointer would raise here: invariant 3
        out[str(p.relative_to(root))] = (ptr.oid, ptr.is_dir)
    return out


def referenced(root: Path, cache_objs: dict[str, Path]) -> set[str]:
    """Objects the pointers on disk need: each must exist (write order)."""
    need: set[str] = set()
    for oid, is_dir in read_pointers(root).values():
        need.add(oid)
        if is_dir and oid in cache_objs:
            # A tree the cache holds names only trees it holds (written bottom-up).
            files, trees = folder_files(lambda o: cache_objs[o].read_bytes(), oid)
            need.update(files.values())
            need |= trees
    return need


def status_states(root: Path) -> list[str]:
    r = ok(cli(root, "status", "--json"))
    return [s["state"] for s in json.loads(r.out)]


def user_view(root: Path, files: dict[str, bytes]) -> dict[str, bytes | None]:
    out: dict[str, bytes | None] = {}
    for rel in files:
        try:
            out[rel] = (root / rel).read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            out[rel] = None
    return out


def unfinished(root: Path, rel: str) -> bool:
    """A file checkout was creating under its own name when it was stopped
    (links.Placer.place_bytes: packed objects): it has no permission bits
    until its bytes are in, status and a rerun treat it as not restored."""
    try:
        st = os.lstat(root / rel)
    except (FileNotFoundError, NotADirectoryError):
        return False
    return stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == 0


# -- scenarios -----------------------------------------------------------------------------

@dataclass
class World:
    base: Path  # the trial's folder (copy of the template)
    cwd: Path  # where the command runs
    files: dict[str, bytes]  # what the user's files hold after a complete run
    facts: dict[str, object] = field(default_factory=dict)

    @property
    def store(self) -> Path:
        return self.base / "store"


@dataclass
class Scenario:
    name: str
    args: list[str]
    points: list[str]
    build: Callable[[Path], World]  # builds the template in a folder
    after_crash: Callable[[World], tuple[int, int]]  # asserts; returns (objects lost, files lost)
    final: Callable[[World], None]  # after the rerun
    env: dict[str, str] = field(default_factory=dict)
    rerun_code: int = 0


# add -------------------------------------------------------------------------------------

def build_add(base: Path, link: str | None = None) -> World:
    root = init_repo(base / "repo")
    files = user_files()
    write_files(root, files)
    return World(base, root, files, {"link": link})


def after_add(w: World) -> tuple[int, int]:
    cache = cache_root(w.cwd)
    have = objects(w.cwd)
    corrupt = bad_objects(cache)
    assert not corrupt, f"objects do not hash to their names: {corrupt}"
    missing = referenced(w.cwd, have) - set(have)
    assert not missing, f"pointers written before their objects: {sorted(missing)[:3]}"
    view = user_view(w.cwd, w.files)
    lost = [rel for rel, data in w.files.items() if view[rel] != data and oid_of(data) not in have]
    damaged = [rel for rel, data in w.files.items() if view[rel] != data]
    assert not damaged, f"user files damaged by the crash: {damaged[:5]}"
    return len(corrupt) + len(missing), len(lost)


def final_add(w: World) -> None:
    assert status_states(w.cwd) == ["unchanged"] * 3
    assert user_view(w.cwd, w.files) == w.files
    ok(cli(w.cwd, "fsck"))
    assert not bad_objects(cache_root(w.cwd))
    if w.facts.get("link") == "hardlink":
        # Linked to the cache, unless the killed run's temp link had already
        # given the object a second name: an inode gets at most two
        # (gitmodel/platform/links.py), so then the file is a copy.
        obj = os.stat(objects(w.cwd)[oid_of(w.files["m.bin"])])
        assert (w.cwd / "m.bin").stat().st_ino == obj.st_ino or obj.st_nlink == 2


# checkout --force ---------------------------------------------------------------------

EDIT = ("data/f003.bin", b"the user's unsaved experiment " * 40)


def build_checkout(base: Path) -> World:
    root = init_repo(base / "repo")
    files = user_files()
    write_files(root, files)
    ok(cli(root, "add", *PATHS))
    commit_without_hooks(root, "tracked", allow_empty=False)
    shutil.rmtree(root / "data" / "sub")
    for i in range(10, 60):
        (root / f"data/f{i:03}.bin").unlink()
    (root / "m.bin").unlink()
    (root / EDIT[0]).write_bytes(EDIT[1])
    os.chmod(root / "big.bin", 0o644)
    (root / "big.bin").write_bytes(b"big, edited " * 200_000)  # saved aside on the streaming path
    return World(base, root, files, {"edits": {EDIT[0]: EDIT[1], "big.bin": b"big, edited " * 200_000}})


def after_checkout(w: World) -> tuple[int, int]:
    have = objects(w.cwd)
    corrupt = bad_objects(cache_root(w.cwd))
    assert not corrupt
    edits: dict[str, bytes] = w.facts["edits"]  # type: ignore[assignment]
    view = user_view(w.cwd, w.files)
    lost = 0
    for rel, data in w.files.items():
        now = view[rel]
        if rel in edits:
            assert now in (edits[rel], data), f"{rel}: neither the user's edit nor the version checked out"
            if now != edits[rel] and oid_of(edits[rel]) not in have:
                lost += 1
        else:
            assert now in (None, data) or unfinished(w.cwd, rel), \
                f"{rel}: half-written or wrong content under the user's name"
    assert not lost, "a modified file was replaced before its content was saved"
    return len(corrupt), lost


def final_checkout(w: World) -> None:
    assert user_view(w.cwd, w.files) == w.files
    have = objects(w.cwd)
    edits: dict[str, bytes] = w.facts["edits"]  # type: ignore[assignment]
    for data in edits.values():
        assert have[oid_of(data)].read_bytes() == data
    assert status_states(w.cwd) == ["unchanged"] * 3
    ok(cli(w.cwd, "fsck"))


# gc ------------------------------------------------------------------------------------

def build_gc(base: Path) -> World:
    root = init_repo(base / "repo")
    files = user_files(30)
    write_files(root, files)
    ok(cli(root, "add", *PATHS))
    commit_without_hooks(root, "v1", allow_empty=False)
    garbage = []
    for i in range(25):  # versions replaced before any commit: unreachable
        data = f"draft {i} ".encode() * (i + 1)
        (root / "draft.bin").write_bytes(data)
        ok(cli(root, "add", "draft.bin"))
        garbage.append(oid_of(data))
    # A folder added (one pack) and dropped before any commit: a dead pack.
    scratch = {f"scratch/s{i:02}.bin": f"scratch {i} ".encode() * 50 for i in range(20)}
    write_files(root, scratch)
    ok(cli(root, "add", "scratch"))
    garbage.append(pointer_oid(root / "scratch.gm"))  # its manifest
    ok(cli(root, "remove", "scratch"))
    shutil.rmtree(root / "scratch")
    garbage += [oid_of(d) for d in scratch.values()]
    # A folder whose pack keeps 3 files of 20 after an edit: rewritten by gc.
    mix = {f"mix/x{i:02}.bin": f"mix {i} ".encode() * 60 for i in range(20)}
    write_files(root, mix)
    ok(cli(root, "add", "mix"))
    garbage.append(pointer_oid(root / "mix.gm"))  # the first manifest
    for rel in list(mix)[3:]:
        (root / rel).unlink()
        garbage.append(oid_of(mix.pop(rel)))
    v2 = dict(files)
    v2.update(mix)
    v2["data/f001.bin"] = b"second version"
    v2["draft.bin"] = b"the kept draft"
    write_files(root, {"data/f001.bin": v2["data/f001.bin"], "draft.bin": v2["draft.bin"]})
    ok(cli(root, "add", "data", "draft.bin", "mix"))
    commit_without_hooks(root, "v2", allow_empty=False)
    age(objects(root), 30)  # only reachability protects anything now (packs: by their mtime)
    cache = cache_root(root)
    stale = [cache / "tmp" / ".gm-tmp-1-stale", root / "data" / ".gm-tmp-2-stale"]
    for p in stale:
        p.write_bytes(b"leftover")
    age(stale, 30)
    reach = set(objects(root)) - set(garbage)
    return World(base, root, v2, {"reachable": reach, "garbage": set(garbage),
                                  "work": tree_state(root)})


def after_gc(w: World) -> tuple[int, int]:
    have = set(objects(w.cwd))
    corrupt = bad_objects(cache_root(w.cwd))
    assert not corrupt
    reach: set[str] = w.facts["reachable"]  # type: ignore[assignment]
    gone = reach - have
    assert not gone, f"gc deleted reachable objects: {sorted(gone)[:3]}"
    work = {k: v for k, v in tree_state(w.cwd).items() if ".gm-tmp-" not in k}
    before = {k: v for k, v in w.facts["work"].items() if ".gm-tmp-" not in k}  # type: ignore[union-attr]
    assert work == before, "gc changed the work tree"
    return len(corrupt) + len(gone), 0


def final_gc(w: World) -> None:
    have = set(objects(w.cwd))
    assert have == w.facts["reachable"]
    # A pack rewrite that was killed may leave its young temp file (gc takes
    # it once it is past the grace period); nothing else.
    packs_dir = cache_root(w.cwd) / "packs"
    assert not [t for t in temps(cache_root(w.cwd)) if t.parent != packs_dir]
    assert not [p for p in tree_state(w.cwd) if ".gm-tmp-" in p]
    assert status_states(w.cwd) == ["unchanged"] * 5
    ok(cli(w.cwd, "fsck"))


# push ------------------------------------------------------------------------------------

def build_push(base: Path, link: str = "copy") -> World:
    root = init_repo(base / "repo")
    files = user_files()
    write_files(root, files)
    ok(cli(root, "add", *PATHS))
    ok(cli(root, "remote", "add", "origin", "../store", "--default"))
    ok(cli(root, "remote", "modify", "origin", "link", link))
    commit_without_hooks(root, "tracked", allow_empty=False)
    (base / "store").mkdir()
    return World(base, root, files, {"cache": tree_state(cache_root(root) / "objects", skip_git=False)})


def remote_manifests_complete(store: Path) -> int:
    """Objects missing below a manifest that is on the remote (must be 0)."""
    objs = store_objects(store)
    return _missing_below(objs, lambda o: objs[o].read_bytes())


def _missing_below(objs: Mapping[str, object], read: Callable[[str], bytes]) -> int:
    """Objects missing below every manifest or tree in `objs`: a tree on a
    remote names only what is there (push sends them deepest first)."""
    missing = 0
    for oid in objs:
        data = read(oid)
        if data.startswith((b"gitmodel-manifest 1\n", b"gitmodel-tree 1\n")):
            for line in data.decode().splitlines()[1:]:
                missing += line.split("\t")[0] not in objs
    return missing


def after_push(w: World) -> tuple[int, int]:
    corrupt = bad_objects(w.store) + bad_objects(cache_root(w.cwd))
    assert not corrupt, f"corrupt objects: {corrupt}"
    incomplete = remote_manifests_complete(w.store)
    assert not incomplete, "a manifest reached the remote before its files"
    assert tree_state(cache_root(w.cwd) / "objects", skip_git=False) == w.facts["cache"], "push changed the cache"
    assert user_view(w.cwd, w.files) == w.files
    return len(corrupt) + incomplete, 0


def final_push(w: World) -> None:
    ok(cli(w.cwd, "fsck", "-r", "origin"))
    assert set(store_objects(w.store)) == set(objects(w.cwd))


# pull ------------------------------------------------------------------------------------

def build_pull(base: Path) -> World:
    w = build_push(base)
    ok(cli(w.cwd, "push"))
    clone = base / "clone"
    git("clone", "-q", str(w.cwd), str(clone))
    return World(base, clone, w.files)


def after_pull(w: World) -> tuple[int, int]:
    corrupt = bad_objects(cache_root(w.cwd)) + bad_objects(w.store)
    assert not corrupt
    view = user_view(w.cwd, w.files)
    half = [rel for rel, data in w.files.items() if view[rel] not in (None, data) and not unfinished(w.cwd, rel)]
    assert not half, f"half-written files under users' names: {half[:3]}"
    return len(corrupt), 0


def final_pull(w: World) -> None:
    assert user_view(w.cwd, w.files) == w.files
    assert status_states(w.cwd) == ["unchanged"] * 3
    ok(cli(w.cwd, "fsck"))


# gc of a remote ------------------------------------------------------------------------------

def build_gc_remote(base: Path) -> World:
    w = build_push(base)
    root = w.cwd
    drafts = []
    for i in range(15):  # pushed, then replaced before any commit: garbage on the remote
        data = f"remote draft {i} ".encode() * (i + 1)
        (root / "draft.bin").write_bytes(data)
        ok(cli(root, "add", "draft.bin"))
        drafts.append(oid_of(data))
    ok(cli(root, "push"))
    (root / "draft.bin").write_bytes(b"kept")
    ok(cli(root, "add", "draft.bin"))
    ok(cli(root, "push"))
    commit_without_hooks(root, "final", allow_empty=False)
    age(store_objects(w.store), 30)
    reach = set(store_objects(w.store)) - set(drafts)
    return World(base, root, w.files, {"reachable": reach})


def after_gc_remote(w: World) -> tuple[int, int]:
    corrupt = bad_objects(w.store)
    assert not corrupt
    reach: set[str] = w.facts["reachable"]  # type: ignore[assignment]
    gone = reach - set(store_objects(w.store))
    assert not gone, f"remote gc deleted reachable objects: {sorted(gone)[:3]}"
    return len(corrupt) + len(gone), 0


def final_gc_remote(w: World) -> None:
    assert set(store_objects(w.store)) == w.facts["reachable"]
    assert not (w.store / "meta" / "locks" / "gc.json").exists()
    ok(cli(w.cwd, "fsck", "-r", "origin"))


SCENARIOS = {s.name: s for s in [
    Scenario("add", ["add", *PATHS],
             ["cache:pack-filled", "pack:before-index",
              "cache:temps-written", "cache:object-renamed", "cache:large-before-rename", "add:objects-stored",
              "add:manifest-stored", "fsutil:before-rename", "add:pointer-written", "add:before-stage"],
             build_add, after_add, final_add),
    Scenario("add-hardlink", ["add", *PATHS],
             ["add:pointer-written", "fsutil:place-before-rename", "add:before-stage"],
             lambda b: build_add(b, "hardlink"), after_add, final_add, env={"GITMODEL_LINK": "hardlink"}),
    Scenario("checkout", ["checkout", "--force"],
             ["cache:large-before-rename", "fsutil:place-before-rename", "checkout:file-placed"],
             build_checkout, after_checkout, final_checkout),
    Scenario("gc", ["gc"],
             ["gc:enumerated", "gc:before-delete", "gc:object-deleted", "pack:before-index", "gc:pack-written",
              "gc:pack-deleted", "gc:done"],
             build_gc, after_gc, final_gc),
    Scenario("gc-remote", ["gc", "-r", "origin"],
             ["gc:enumerated", "gc:before-delete", "gc:object-deleted"],
             build_gc_remote, after_gc_remote, final_gc_remote),
    Scenario("push", ["push"],
             ["fsutil:before-rename", "remote:local-temp-written", "remote:local-before-rename",
              "push:object-uploaded", "remote:local-published", "push:files-published"],
             build_push, after_push, final_push),
    Scenario("pull", ["pull"],
             ["fetch:object-stored", "fsutil:place-before-rename", "checkout:file-placed"],
             build_pull, after_pull, final_pull),
]}


# -- the engine ---------------------------------------------------------------------------

class Templates:
    """Each scenario's starting state, built once and copied per trial."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.built: dict[str, World] = {}
        self.durations: dict[str, float] = {}
        self.startups: dict[str, float] = {}

    def fresh(self, name: str, dest: Path) -> World:
        if name not in self.built:
            self.built[name] = SCENARIOS[name].build(self.root / name)
        t = self.built[name]
        if subprocess.run(["cp", "-a", str(t.base), str(dest)], capture_output=True).returncode != 0:
            shutil.rmtree(dest, ignore_errors=True)
            shutil.copytree(t.base, dest, symlinks=True)
        return World(dest, dest / t.cwd.relative_to(t.base), t.files, dict(t.facts))

    def duration(self, name: str, scratch: Path) -> tuple[float, float]:
        """(start-up, whole run) of the scenario's command here, measured back
        to back so that both see the same load: the start-up is the same
        command with --help (interpreter, imports, argument parsing)."""
        if name not in self.durations:
            s = SCENARIOS[name]
            env = {**os.environ, **s.env}
            w = self.fresh(name, scratch)
            start = time.monotonic()
            subprocess.run([*GITMODEL, s.args[0], "--help"], cwd=w.cwd, capture_output=True, env=env)
            mid = time.monotonic()
            r = subprocess.run([*GITMODEL, *s.args], cwd=w.cwd, capture_output=True, env=env)
            end = time.monotonic()
            assert r.returncode == s.rerun_code, r.stderr
            self.startups[name] = mid - start
            self.durations[name] = end - mid
            shutil.rmtree(scratch)
        return self.startups[name], self.durations[name]


def _group_alive(pgid: int) -> bool:
    """Any live (non-zombie) process left in the group (orphaned git children)."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def wait_group(pgid: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while _group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.02)


def _default_sigint() -> None:
    """A harness started in the background (`&`) ignores SIGINT, and so
    would its children: give the crashed command a terminal's default."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def crash(s: Scenario, w: World, how: str, point: str | None, delay: float | None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **s.env}
    for var in ("GITMODEL_FAULT", "GITMODEL_FAULT_MODE"):
        env.pop(var, None)
    if how == "fault-interrupt":  # in-process: the same code path as the console script, faster
        r = cli(w.cwd, *s.args, env={**s.env, "GITMODEL_FAULT": point or "", "GITMODEL_FAULT_MODE": "interrupt"})
        return subprocess.CompletedProcess(s.args, r.code, r.out, r.err)
    if how == "fault-kill":
        env["GITMODEL_FAULT"] = point or ""
        return subprocess.run([*GITMODEL, *s.args], cwd=w.cwd, capture_output=True, text=True, env=env, timeout=120)
    proc = subprocess.Popen([*GITMODEL, *s.args], cwd=w.cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, start_new_session=True, preexec_fn=_default_sigint)
    time.sleep(delay or 0)
    try:
        if how == "random-kill":
            os.kill(proc.pid, signal.SIGKILL)  # the process alone, as `kill -9 PID` or the OOM killer
        else:
            os.killpg(proc.pid, signal.SIGINT)  # the whole group, as a terminal's Ctrl-C
    except ProcessLookupError:
        pass
    out, err = proc.communicate(timeout=120)
    wait_group(proc.pid)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def check_exit(how: str, r: subprocess.CompletedProcess[str]) -> str:
    """How the crashed process ended; fails on an ending that is not allowed."""
    if how == "fault-kill":
        assert r.returncode == -signal.SIGKILL, f"the point was not reached: {r.returncode} {r.stderr}"
        return "killed"
    if how == "fault-interrupt":
        assert r.returncode == 130, (r.returncode, r.stderr)
        assert "Traceback" not in r.stderr and "interrupted" in r.stderr, r.stderr
        return "interrupted"
    if how == "random-kill":
        assert r.returncode in (-signal.SIGKILL, 0), (r.returncode, r.stderr)
        return "killed" if r.returncode else "finished first"
    if r.returncode == -signal.SIGINT:
        return "interrupted in start-up"  # before gitmodel's handler existed: Python's default
    assert "Traceback" not in r.stderr, r.stderr
    if r.returncode == 130:
        assert "interrupted" in r.stderr, r.stderr
        return "interrupted"
    assert r.returncode == 0, (r.returncode, r.stderr)
    return "finished first"


def trial(templates: Templates, scratch: Path, name: str, how: str, point: str | None = None,
          delay: float | None = None, figures: Figures = FIGURES) -> str:
    """One crash and its checks; returns how the crashed process ended."""
    s = SCENARIOS[name]
    key = f"{name}/{how}"
    figures.tried[key] += 1
    w = templates.fresh(name, scratch)
    planted = set(_all_temps(w))
    try:
        r = crash(s, w, how, point, delay)
        outcome = check_exit(how, r)
        figures.outcomes[outcome] += 1
        if point:
            figures.points.add(point)
        if how == "fault-interrupt":
            # Ctrl-C runs the cleanup paths: no temp file may outlive them.
            left = sorted(set(_all_temps(w)) - planted)
            assert not left, f"temp files left after Ctrl-C at {point}: {left[:3]}"
        try:
            lost_objects, lost_files = s.after_crash(w)
        except AssertionError:
            figures.objects_lost += 1  # counted as a loss; the assertion says what
            raise
        figures.objects_lost += lost_objects
        figures.files_lost += lost_files
        rerun = cli(w.cwd, *s.args, env=s.env)
        assert rerun.code == s.rerun_code, (f"rerun after {how} at {point or f'{delay:.3f}s'}", rerun)
        s.final(w)
        figures.survived[key] += 1
        return outcome
    except BaseException:
        figures.failures.append(f"{key} {point or f'{delay:.3f}s'}")
        raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _all_temps(w: World) -> list[Path]:
    found = temps(cache_root(w.cwd)) + (temps(w.store) if w.store.is_dir() else [])
    return found + [w.cwd / p for p in tree_state(w.cwd) if ".gm-tmp-" in p]


class Aim:
    """Random delays steered into the command's own work: uniform between
    the end of its start-up and the end of a clean run, both measured here
    and now, then narrowed by what trials show (a process that finished
    before the signal lowers the upper bound, one interrupted in start-up
    raises the lower), since both move with the machine's load."""

    def __init__(self, templates: Templates, scratch: Path, name: str, seed: int) -> None:
        self.rnd = random.Random(seed)
        startup, whole = templates.duration(name, scratch)
        self.lo = startup * 0.9
        self.hi = max(whole * 0.95, self.lo + 0.05)

    def next(self) -> float:
        return self.rnd.uniform(self.lo, self.hi)

    def feedback(self, delay: float, outcome: str) -> None:
        if outcome == "finished first":
            self.hi = min(self.hi, delay)
            if self.hi - self.lo < 0.02:  # the load dropped: the whole window moved earlier
                self.lo = self.hi * 0.6
        elif outcome == "interrupted in start-up":
            self.lo = max(self.lo, delay)
            if self.hi - self.lo < 0.02:
                self.hi = self.lo * 1.5


def random_trials(templates: Templates, scratch: Path, name: str, how: str, n: int, seed: int,
                  figures: Figures = FIGURES, on_error: object = None) -> None:
    aim = Aim(templates, scratch / "calibrate", name, seed)
    for i in range(n):
        delay = aim.next()
        try:
            aim.feedback(delay, trial(templates, scratch / f"trial{i}", name, how, delay=delay, figures=figures))
        except Exception as e:
            if on_error is None:
                raise
            on_error(name, how, delay, e)  # type: ignore[operator]


# -- pytest ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def templates(tmp_path_factory: pytest.TempPathFactory) -> Templates:
    return Templates(tmp_path_factory.mktemp("crash-templates"))


@pytest.fixture(scope="module", autouse=True)
def _print_figures(request: pytest.FixtureRequest) -> Iterator[None]:
    """The closing figures, on the terminal after this module's tests."""
    yield
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None and sum(FIGURES.tried.values()):
        with capture.global_and_fixture_disabled():
            reporter.write_line("")
            reporter.write_line(FIGURES.summary())


@pytest.fixture(autouse=True)
def _crash_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITMODEL_LOCK_TIMEOUT", "30")  # a killed holder's lock is free at once anyway


FAULT_CASES = [(n, p, h) for n, s in SCENARIOS.items() for p in s.points for h in HOWS_FAULT]


@pytest.mark.parametrize("name,point,how", FAULT_CASES, ids=[f"{n}-{p}-{h[6:]}" for n, p, h in FAULT_CASES])
def test_crash_at_named_point(templates: Templates, tmp_path: Path, name: str, point: str, how: str) -> None:
    trial(templates, tmp_path / "trial", name, how, point=point)


@pytest.mark.parametrize("how", HOWS_RANDOM)
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_crash_at_random_moments(templates: Templates, tmp_path: Path, name: str, how: str) -> None:
    random_trials(templates, tmp_path, name, how, RANDOM_TRIALS, seed=sum(map(ord, name + how)))


# -- S3 (the moto server on 127.0.0.1) ---------------------------------------------------

def s3_objects(endpoint: str, bucket: str) -> dict[str, bytes]:
    import boto3

    from gitmodel.remote.spec import oid_from_key

    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    out = {}
    keys: set[str] = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", ()):
            keys.add(item["Key"])
            oid = oid_from_key(item["Key"])
            if oid:
                out[oid] = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
    # Packed objects: only a pack whose index is there exists.
    for key in sorted(keys):
        name = key.rsplit("/", 1)[-1]
        if name.startswith("pack-") and name.endswith(".idx") and key[:-4] + ".pack" in keys:
            entries = decode_idx(s3.get_object(Bucket=bucket, Key=key)["Body"].read(), key)
            data = s3.get_object(Bucket=bucket, Key=key[:-4] + ".pack")["Body"].read()
            for oid, off, size in entries:
                out.setdefault(oid, data[off:off + size])
    return out


def s3_world(base: Path, endpoint: str, bucket: str) -> World:
    root = init_repo(base / "repo")
    files = user_files(20)
    write_files(root, files)
    ok(cli(root, "add", *PATHS))
    ok(cli(root, "remote", "add", "s3", f"s3://{bucket}/team", "--default"))
    ok(cli(root, "remote", "modify", "s3", "endpoint_url", endpoint))
    commit_without_hooks(root, "tracked", allow_empty=False)
    return World(base, root, files)


def check_s3(endpoint: str, bucket: str) -> int:
    """Objects on the bucket that do not hash to their names, plus files
    missing below a manifest that is there (both must be 0)."""
    objs = s3_objects(endpoint, bucket)
    bad = [o for o, data in objs.items() if oid_of(data) != o]
    return len(bad) + _missing_below(objs, objs.__getitem__)


S3_PUSH_POINTS = ["remote:s3-put", "push:object-uploaded", "push:files-published"]


@pytest.mark.parametrize("how", HOWS_FAULT)
@pytest.mark.parametrize("point", S3_PUSH_POINTS)
def test_s3_push_crash(tmp_path: Path, s3_env: str, s3_bucket: str, point: str, how: str) -> None:
    w = s3_world(tmp_path, s3_env, s3_bucket)
    s = Scenario("push-s3", ["push"], S3_PUSH_POINTS, lambda b: w, lambda w: (0, 0), lambda w: None)
    FIGURES.tried[f"push-s3/{how}"] += 1
    r = crash(s, w, how, point, None)
    FIGURES.outcomes[check_exit(how, r)] += 1
    FIGURES.points.add(point)
    lost = check_s3(s3_env, s3_bucket)
    FIGURES.objects_lost += lost
    assert not lost, "a corrupt object, or a manifest before its files, on the bucket"
    ok(cli(w.cwd, "push"))
    ok(cli(w.cwd, "fsck", "-r", "s3"))
    assert set(s3_objects(s3_env, s3_bucket)) == set(objects(w.cwd))
    FIGURES.survived[f"push-s3/{how}"] += 1


@pytest.mark.parametrize("how", HOWS_FAULT)
@pytest.mark.parametrize("point", ["fetch:object-stored", "checkout:file-placed"])
def test_s3_pull_crash(tmp_path: Path, s3_env: str, s3_bucket: str, point: str, how: str) -> None:
    w = s3_world(tmp_path, s3_env, s3_bucket)
    ok(cli(w.cwd, "push"))
    clone = tmp_path / "clone"
    git("clone", "-q", str(w.cwd), str(clone))
    cw = World(tmp_path, clone, w.files)
    s = Scenario("pull-s3", ["pull"], [], lambda b: cw, after_pull, final_pull)
    FIGURES.tried[f"pull-s3/{how}"] += 1
    r = crash(s, cw, how, point, None)
    FIGURES.outcomes[check_exit(how, r)] += 1
    FIGURES.points.add(point)
    lost, _ = after_pull(cw)
    FIGURES.objects_lost += lost
    ok(cli(clone, "pull"))
    final_pull(cw)
    FIGURES.survived[f"pull-s3/{how}"] += 1


def test_figures_so_far_show_no_loss() -> None:
    """Runs last in this module: everything tried so far lost nothing."""
    assert FIGURES.objects_lost == 0 and FIGURES.files_lost == 0, FIGURES.summary()
