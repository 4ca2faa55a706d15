#!/usr/bin/env python3
"""gitmodel benchmark suite: gitmodel beside DVC, git-lfs and the physical
floor (cp, cp + sync, bare boto3), on the same machine in the same run.

    python3 run.py bench                 full suite, writes bench/RESULTS.md
    python3 run.py bench --quick         tiny sizes, one run (smoke test, < 60 s)
    python3 run.py bench --quick --no-peers --strict   gitmodel + floors only (< 30 s, CI)
    python3 run.py bench --only W1,W3 --runs 5
    python3 run.py bench --only W6       model versions: stored bytes, transfers, a ~1 GiB checkpoint
    python3 run.py bench --only W5       a million files (bench/w5.py), beside cp -r and find

Every number is the median wall time of N runs of one step, each run starting
from the same state, and the peak RSS of the step's process tree.  See
bench/README.md for what each workload measures and the caveats.
"""

from __future__ import annotations

import argparse
import datetime
import fcntl
import functools
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import w6  # bench/ is on sys.path: this script's own folder

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
WORK = BENCH / "work"
DATA = WORK / "data"  # generated workloads, kept between invocations
RUNS = WORK / f"runs-{os.getpid()}"  # one folder per chain, moved into TRASH after it; per
# process, so a CI smoke test and a full run in the same checkout do not trample each other
TRASH = RUNS / "trash"  # deleted when the run ends: see discard()
DVC_VENV = WORK / "dvc-venv"
S3FLOOR = BENCH / "s3floor.py"
BUCKET = "bench"

STEP_TIMEOUT = 1200.0  # a hung step is killed and recorded as n/a
STATUS_OK = (0, 1)  # status commands may signal "changes" with exit code 1
HELP_RUNS = 10
TABLES = ("W1", "W2", "W3", "W4", "W6", "HELP")
PEERS = ("dvc", "git-lfs")  # what --no-peers leaves out; the floors always run


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# -- options and sizes --------------------------------------------------------


@dataclass(frozen=True)
class Sizes:
    w1_bytes: int
    w2_files: int
    w2_folders: int
    w4_files: int
    w4_folders: int


FULL = Sizes(w1_bytes=1 << 30, w2_files=20_000, w2_folders=100, w4_files=200_000, w4_folders=1000)
QUICK = Sizes(w1_bytes=8 << 20, w2_files=200, w2_folders=10, w4_files=2_000, w4_folders=20)


@dataclass(frozen=True)
class Options:
    quick: bool
    runs: int
    only: frozenset[str]
    peers: bool
    drop_caches: bool
    minutes: float  # the deadline for runs after the first (0: none)
    strict: bool
    out: Path | None

    @property
    def sizes(self) -> Sizes:
        return QUICK if self.quick else FULL


def parse_args(argv: list[str]) -> Options:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="tiny sizes, 1 run, no peer installs")
    p.add_argument("--runs", type=int, help="runs per step (default 3, --quick 1)")
    p.add_argument("--only", default="", help="comma-separated tables: W1,W2,W3,W4,W6,HELP")
    p.add_argument("--no-peers", action="store_true", help="gitmodel and the floors only")
    p.add_argument("--drop-caches", action="store_true",
                   help="drop the page cache before every timed step (cold-cache numbers)")
    p.add_argument("--minutes", type=float, default=14.0,
                   help="after one run of everything, further runs start only while they fit in this many "
                        "minutes from the start (0: no limit; default 14)")
    p.add_argument("--strict", action="store_true",
                   help="exit 1 if any gitmodel step is n/a (for a CI smoke test)")
    p.add_argument("--out", type=Path, help="markdown file to write (default: bench/RESULTS.md in full mode)")
    a = p.parse_args(argv)
    only = frozenset(w.strip().upper() for w in a.only.split(",") if w.strip())
    if only - set(TABLES):
        p.error(f"--only: unknown {', '.join(sorted(only - set(TABLES)))}; choose from {','.join(TABLES)}")
    full = not a.quick and not only and not a.no_peers
    out = a.out or (BENCH / "RESULTS.md" if full else None)
    runs = a.runs or (1 if a.quick else 3)
    return Options(a.quick, max(1, runs), only, not a.no_peers, a.drop_caches, a.minutes, a.strict, out)


# -- measuring one step -------------------------------------------------------


@dataclass(frozen=True)
class Sample:
    wall: float  # seconds
    rss_kib: int  # peak resident set of the largest process in the tree
    # user + system CPU seconds of the tree: unlike wall time, barely moved by
    # other work on the machine (W6 reports it beside the wall-time ratios)
    cpu: float = 0.0


class StepFailed(Exception):
    pass


def show(argv: list[str]) -> str:
    """A command as the report prints it: the program's name, not its path."""
    return " ".join([Path(argv[0]).name, *argv[1:]])


def first_lines(raw: bytes, limit: int = 300) -> str:
    text = " | ".join(line.strip() for line in raw.decode("utf-8", "replace").splitlines() if line.strip())
    return text[:limit] or "(no output)"


@functools.cache
def gnu_time() -> str | None:
    """/usr/bin/time when it is GNU time (Debian's `time` package), else None."""
    path = "/usr/bin/time"
    if os.access(path, os.X_OK) and "GNU" in command_output([path, "--version"], stderr_too=True):
        return path
    return None


def measure_one(argv: list[str], cwd: Path, env: dict[str, str], ok: tuple[int, ...]) -> Sample:
    """Run one command; wall time from perf_counter, peak memory from wait4.

    ru_maxrss from wait4 is the larger of a process's own peak and that of
    every descendant it waited for, i.e. the largest process of the tree.  But
    Linux also counts the RSS a child had before exec: a child forked from
    this harness starts at the harness's ~35 MiB.  So the command runs under
    GNU time, a ~2 MiB C process that forks it, waits for it with wait4 and
    writes its ru_maxrss (`%M`, KiB) to a file.  Without GNU time the harness
    wait4s the command directly and the floor of every figure is its own size."""
    timer_exe = gnu_time()
    with tempfile.TemporaryFile() as err, tempfile.NamedTemporaryFile("r") as rss_file:
        wrapped = [timer_exe, "-f", "%U %S %M", "-o", rss_file.name, "--", *argv] if timer_exe else argv
        start = time.perf_counter()
        proc = subprocess.Popen(wrapped, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=err)
        timer = threading.Timer(STEP_TIMEOUT, proc.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
        if proc.returncode not in ok:
            err.seek(0)
            raise StepFailed(f"`{show(argv)}` exited {proc.returncode}: {first_lines(err.read())}")
        # GNU time writes "Command exited with non-zero status N" before %M.
        if timer_exe:
            user, system, rss = rss_file.read().split()[-3:]
            return Sample(wall, int(rss), float(user) + float(system))
    return Sample(wall, usage.ru_maxrss, usage.ru_utime + usage.ru_stime)


def measure(cmds: list[list[str]], cwd: Path, env: dict[str, str], ok: tuple[int, ...]) -> Sample:
    """A step of several commands (git add + git commit): times add up, peak is the max."""
    samples = [measure_one(argv, cwd, env, ok) for argv in cmds]
    return Sample(sum(s.wall for s in samples), max(s.rss_kib for s in samples), sum(s.cpu for s in samples))


def settle(drop_caches: bool) -> None:
    # Flush what the untimed set-up wrote, so its writeback is not charged to
    # the step that follows.  Dropping the page cache is optional (README).
    os.sync()
    if drop_caches:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")


# -- results --------------------------------------------------------------------


@dataclass
class Cell:
    samples: list[Sample] = field(default_factory=list)
    error: str = ""


@dataclass
class Scenario:
    """One tool's chain of steps over one workload; `fn` does one full chain."""
    tool: str
    steps: tuple[str, ...]
    fn: Callable[[Chain], None]
    peer: bool = True
    skip: str = ""  # why this tool is not run at all
    measured_elsewhere: bool = False  # a column filled by another tool's chain
    spent: float = 0.0
    runs_done: int = 0


@dataclass
class Table:
    key: str  # W1, W2, ...
    title: str
    steps: tuple[str, ...]
    scenarios: list[Scenario] = field(default_factory=list)
    cells: dict[tuple[str, str], Cell] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    runs: int | None = None  # overrides Options.runs (the --help table)
    # A table that is not one of timings (W6's stored bytes) renders itself.
    custom: Callable[[list[str]], list[str]] | None = None
    summary: Callable[[], list[str]] | None = None  # lines computed from the cells, after the notes
    env: dict[str, str] = field(default_factory=dict)  # added to the environment of its chains

    @property
    def tools(self) -> list[str]:
        """The columns: gitmodel first, then each tool once, in scenario order."""
        return list(dict.fromkeys(s.tool for s in self.scenarios))

    def cell(self, step: str, tool: str) -> Cell:
        return self.cells.setdefault((step, tool), Cell())


class ChainBroken(Exception):
    """An untimed set-up command failed: the rest of this chain cannot run."""


class Chain:
    """One run of one scenario: untimed set-up through sh(), timed steps through step()."""

    def __init__(self, bench: Bench, table: Table, tool: str, folder: Path) -> None:
        self.bench = bench
        self.table = table
        self.tool = tool
        self.dir = folder
        self.env = {**bench.env, **table.env}

    def sh(self, *argv: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None) -> None:
        args = [str(a) for a in argv]
        done = subprocess.run(args, cwd=cwd or self.dir, env=env or self.env,
                              stdin=subprocess.DEVNULL, capture_output=True)
        if done.returncode != 0:
            raise ChainBroken(f"set-up `{show(args)}` exited {done.returncode}: "
                              f"{first_lines(done.stderr + done.stdout)}")

    def try_sh(self, *argv: str | Path, cwd: Path | None = None) -> None:
        # For set-up that uses a gitmodel feature still being written (remotes):
        # a failure here shows up as n/a in the steps that need it.
        try:
            self.sh(*argv, cwd=cwd)
        except ChainBroken as e:
            log(f"    ({self.tool}: {e})")

    def step(self, name: str, cmds: list[list[str]], cwd: Path, ok: tuple[int, ...] = (0,),
             env: dict[str, str] | None = None, tool: str | None = None) -> bool:
        """Time one step; `tool` files it under another column (a floor measured in passing)."""
        tool = tool or self.tool
        cell = self.table.cell(name, tool)
        settle(self.bench.opts.drop_caches)
        try:
            sample = measure(cmds, cwd, env or self.env, ok)
        except StepFailed as e:
            cell.error = str(e)
            log(f"    {tool:9} {name:34} n/a: {e}")
            return False
        cell.samples.append(sample)
        log(f"    {tool:9} {name:34} {sample.wall:8.3f} s {sample.rss_kib / 1024:7.0f} MiB")
        return True

    def restore_step(self, name: str, cmds: list[list[str]], cwd: Path, wl: Workload, where: Path) -> None:
        """A checkout or pull: timed, then checked (untimed).  A command that
        exits 0 without bringing the data back must not score a fast time."""
        if self.step(name, cmds, cwd) and not wl.restored(where):
            cell = self.table.cell(name, self.tool)
            cell.samples.pop()
            cell.error = f"{self.tool}: `{show(cmds[-1])}` exited 0 but {wl.name} was not fully restored"
            log(f"    {self.tool:9} {name:34} n/a: {cell.error}")


# -- workloads ------------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    """Data that a chain copies into its workspace: one file, or a folder of files."""
    label: str  # W1 / W2 / W4
    name: str  # its path inside the workspace
    source: Path
    is_dir: bool
    changed_file: str = ""  # the one file that "1 file changed" rewrites

    def materialise(self, ch: Chain, where: Path) -> None:
        # A real copy each run (not a hardlink): tools may chmod or replace it.
        ch.sh("cp", "-r", self.source, where / self.name)

    def remove(self, where: Path) -> None:
        discard(where / self.name)

    def restored(self, where: Path) -> bool:
        """Did a checkout or pull really bring the data back (file count and size)?"""
        path = where / self.name
        if not self.is_dir:
            return path.is_file() and path.stat().st_size == self.source.stat().st_size
        return count_files(path) == count_files(self.source)

    def modify_one(self, where: Path) -> None:
        target = where / self.name / self.changed_file
        target.write_bytes(os.urandom(target.stat().st_size))


def count_files(root: Path) -> int:
    return sum(len(files) for _, _, files in os.walk(root))


def discard(path: Path) -> None:
    """Take `path` out of the way now, delete its many small files only when
    the run ends (`TRASH`, inside the run's folder).  On a journal-less ext4
    (this machine's) the inode allocator skips every inode freed in the last
    60 s, looking each one up (ext4's recently_deleted()), so 20,000 files
    created just after 20,000 were deleted cost 2-10x more kernel time, for
    every tool alike: perf put 60-70% of such a step in recently_deleted().
    Deleting between steps would time the harness's own deletions.  Files
    over 16 MiB (a few inodes, most of the disk) are deleted now."""
    if not path.is_dir() or path.is_symlink():
        remove_path(path)
        return
    subprocess.run(["find", str(path), "-type", "f", "-size", "+16M", "-delete"], stderr=subprocess.DEVNULL)
    TRASH.mkdir(parents=True, exist_ok=True)
    try:
        os.rename(path, TRASH / f"{path.name}-{time.monotonic_ns()}")
    except OSError:
        remove_path(path)


def remove_path(path: Path) -> None:
    if not path.is_dir() or path.is_symlink():
        path.unlink(missing_ok=True)
        return
    # rm -rf, not shutil.rmtree, which took minutes over W4's 400,000 files on
    # a busy machine.  Read-only cache folders stop it when not root: chmod first.
    if subprocess.run(["rm", "-rf", str(path)], stderr=subprocess.DEVNULL).returncode != 0:
        subprocess.run(["chmod", "-R", "u+w", str(path)], stderr=subprocess.DEVNULL)
        subprocess.run(["rm", "-rf", str(path)], stderr=subprocess.DEVNULL)


def make_big_file(size: int) -> Path:
    """Incompressible bytes, generated once and kept in bench/work/data."""
    path = DATA / f"one-file-{size}.bin"
    if path.is_file() and path.stat().st_size == size:
        return path
    log(f"generating {path.name} ...")
    DATA.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as f:
        left = size
        while left:
            chunk = os.urandom(min(left, 8 << 20))
            f.write(chunk)
            left -= len(chunk)
    os.replace(tmp, path)
    return path


def make_small_files(count: int, size: int, folders: int) -> Path:
    """`count` random files of `size` bytes spread over `folders` folders."""
    path = DATA / f"files-{count}x{size}-in-{folders}"
    done = DATA / f"{path.name}.complete"  # outside the folder, so cp -r does not copy it
    if done.exists():
        return path
    log(f"generating {path.name} ...")
    remove_path(path)
    for d in range(folders):
        (path / f"d{d:04d}").mkdir(parents=True)
    blob = os.urandom(count * size)
    for i in range(count):
        (path / f"d{i % folders:04d}" / f"f{i:06d}.bin").write_bytes(blob[i * size:(i + 1) * size])
    done.touch()
    return path


def w1(sizes: Sizes) -> Workload:
    return Workload("W1", "big.bin", make_big_file(sizes.w1_bytes), is_dir=False)


def w2(sizes: Sizes) -> Workload:
    src = make_small_files(sizes.w2_files, 2048, sizes.w2_folders)
    return Workload("W2", "data", src, is_dir=True, changed_file="d0000/f000000.bin")


def w4(sizes: Sizes) -> Workload:
    src = make_small_files(sizes.w4_files, 512, sizes.w4_folders)
    return Workload("W4", "data", src, is_dir=True, changed_file="d0000/f000000.bin")


def human_size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:g} {unit}"
        n //= 1024
    return str(n)


# -- tools ----------------------------------------------------------------------


def git_init(ch: Chain, repo: Path) -> None:
    repo.mkdir(parents=True)
    ch.sh("git", "init", "-q", "-b", "main", cwd=repo)


def git_commit(ch: Chain, repo: Path, wl: Workload, msg: str) -> None:
    # Stage everything but the data itself: if a tool failed to take the data
    # over (so it is not git-ignored), it must not go into git, and a 1 GiB
    # `git add` must not slow the set-up down.  (git refuses an exclude
    # pathspec naming an ignored path, hence the two spellings.)
    ignored = subprocess.run(["git", "check-ignore", "-q", wl.name], cwd=repo).returncode == 0
    ch.sh("git", "add", "-A", *([] if ignored else ["--", ".", f":(exclude){wl.name}"]), cwd=repo)
    ch.sh("git", "commit", "-q", "--allow-empty", "--no-verify", "-m", msg, cwd=repo)


class VcsTool(Protocol):
    """gitmodel and dvc go through the same chains, each with its own spelling."""
    @property
    def name(self) -> str: ...

    def init(self, ch: Chain, repo: Path) -> None: ...
    def remote(self, ch: Chain, repo: Path, url: str, endpoint: str | None) -> None: ...
    def cmd(self, verb: str, *args: str) -> list[list[str]]: ...
    def clear_cache(self, ch: Chain, repo: Path) -> None: ...
    def copy_remote(self, ch: Chain, repo: Path, folder: Path) -> list[str] | None: ...
    def push_asking_remote(self) -> list[list[str]] | None: ...


@dataclass(frozen=True)
class Gitmodel:
    exe: str
    name: str = "gitmodel"

    def init(self, ch: Chain, repo: Path) -> None:
        ch.sh(self.exe, "init", cwd=repo)

    def remote(self, ch: Chain, repo: Path, url: str, endpoint: str | None) -> None:
        ch.try_sh(self.exe, "remote", "add", "bench", url, "--default", cwd=repo)
        if endpoint:
            ch.try_sh(self.exe, "remote", "modify", "bench", "endpoint_url", endpoint, cwd=repo)

    def cmd(self, verb: str, *args: str) -> list[list[str]]:
        return [[self.exe, verb, *args]]

    def clear_cache(self, ch: Chain, repo: Path) -> None:
        # The whole <git-common-dir>/gitmodel folder: objects and stat cache,
        # as in a fresh clone.
        discard(repo / ".git" / "gitmodel")

    def copy_remote(self, ch: Chain, repo: Path, folder: Path) -> list[str] | None:
        # A local remote on the cache's filesystem gets hard links by default
        # (as git-lfs's does); `link = copy` makes it write the bytes, as DVC
        # and cp do.  A second remote, because gitmodel remembers what it
        # pushed to the first one.  The `... link = copy` rows compare like with like.
        folder.mkdir()
        ch.try_sh(self.exe, "remote", "add", "copy", str(folder), cwd=repo)
        ch.try_sh(self.exe, "remote", "modify", "copy", "link", "copy", cwd=repo)
        return ["-r", "copy"]

    def push_asking_remote(self) -> list[list[str]] | None:
        # By default a push trusts gitmodel's local record of earlier pushes;
        # DVC asks the remote.  This row asks too.
        return [[self.exe, "push", "--check-remote"]]


@dataclass(frozen=True)
class Dvc:
    exe: str
    name: str = "dvc"

    def init(self, ch: Chain, repo: Path) -> None:
        ch.sh(self.exe, "init", "-q", cwd=repo)
        # Stage .dvc files and .gitignore like `gitmodel add` does.
        ch.sh(self.exe, "config", "core.autostage", "true", cwd=repo)
        # DVC keeps its state DB (inode -> hash) in a machine-wide site cache;
        # give each chain its own so no run sees the previous run's hashes.
        ch.sh(self.exe, "config", "--local", "core.site_cache_dir", ch.dir / "dvc-site", cwd=repo)

    def remote(self, ch: Chain, repo: Path, url: str, endpoint: str | None) -> None:
        ch.sh(self.exe, "remote", "add", "-d", "bench", url, cwd=repo)
        if endpoint:
            ch.sh(self.exe, "remote", "modify", "bench", "endpointurl", endpoint, cwd=repo)

    def cmd(self, verb: str, *args: str) -> list[list[str]]:
        return [[self.exe, verb, *args]]

    def clear_cache(self, ch: Chain, repo: Path) -> None:
        discard(repo / ".dvc" / "cache")
        discard(ch.dir / "dvc-site")

    def copy_remote(self, ch: Chain, repo: Path, folder: Path) -> list[str] | None:
        return None  # DVC's default already copies into a local remote

    def push_asking_remote(self) -> list[list[str]] | None:
        return None  # DVC's push always asks the remote


# -- chains: W1 and W2 against a local folder remote --------------------------

COPY_PUSH = "push, remote link = copy"
COPY_PULL = "pull, remote link = copy"
ASKING_PUSH = "push, nothing new, --check-remote"
W1_STEPS = ("add", "status, nothing changed", "checkout into empty workspace", "push", "pull (fetch + checkout)",
            COPY_PUSH, COPY_PULL)
W2_STEPS = ("add", "status, nothing changed", "status, 1 file changed", "re-add, 1 file changed",
            "checkout into empty workspace", "push", "push, nothing new", ASKING_PUSH, COPY_PUSH)


def vcs_local_chain(tool: VcsTool, wl: Workload) -> Callable[[Chain], None]:
    def chain(ch: Chain) -> None:
        repo, remote = ch.dir / "repo", ch.dir / "remote"
        remote.mkdir()
        git_init(ch, repo)
        tool.init(ch, repo)
        tool.remote(ch, repo, str(remote), None)
        git_commit(ch, repo, wl, "init")
        wl.materialise(ch, repo)
        ch.step("add", tool.cmd("add", wl.name), repo)
        git_commit(ch, repo, wl, "add")
        ch.step("status, nothing changed", tool.cmd("status"), repo, ok=STATUS_OK)
        if wl.is_dir:
            wl.modify_one(repo)
            ch.step("status, 1 file changed", tool.cmd("status"), repo, ok=STATUS_OK)
            ch.step("re-add, 1 file changed", tool.cmd("add", wl.name), repo)
            git_commit(ch, repo, wl, "re-add")
        wl.remove(repo)
        ch.restore_step("checkout into empty workspace", tool.cmd("checkout"), repo, wl, repo)
        ch.step("push", tool.cmd("push"), repo)
        if wl.is_dir:
            ch.step("push, nothing new", tool.cmd("push"), repo)
            asking = tool.push_asking_remote()
            if asking:
                ch.step(ASKING_PUSH, asking, repo)
        else:
            fresh_pull(ch, tool, wl, repo, "pull (fetch + checkout)")
        copy_args = tool.copy_remote(ch, repo, ch.dir / "remote-copy")
        if copy_args is not None:
            ch.step(COPY_PUSH, tool.cmd("push", *copy_args), repo)
            if not wl.is_dir:
                fresh_pull(ch, tool, wl, repo, COPY_PULL, *copy_args)
    return chain


def fresh_pull(ch: Chain, tool: VcsTool, wl: Workload, repo: Path, step: str, *args: str) -> None:
    """pull as in a fresh clone: no cache, no data in the workspace."""
    tool.clear_cache(ch, repo)
    wl.remove(repo)
    ch.restore_step(step, tool.cmd("pull", *args), repo, wl, repo)


def lfs_chain(wl: Workload) -> Callable[[Chain], None]:
    """git-lfs: `add` is git add + git commit (the clean filter runs at git
    add); push goes to a bare repository on disk (git-lfs's standalone file
    transfer); pull is `git lfs pull` in a fresh GIT_LFS_SKIP_SMUDGE=1 clone."""
    def chain(ch: Chain) -> None:
        repo, bare = ch.dir / "repo", ch.dir / "remote.git"
        ch.sh("git", "init", "-q", "--bare", "-b", "main", bare)  # clone checks out its HEAD
        git_init(ch, repo)
        ch.sh("git", "lfs", "install", "--local", cwd=repo)  # hooks + filter in this repo only
        ch.sh("git", "lfs", "track", f"{wl.name}/**" if wl.is_dir else wl.name, cwd=repo)
        ch.sh("git", "remote", "add", "origin", bare, cwd=repo)
        git_commit(ch, repo, wl, "init")
        wl.materialise(ch, repo)
        commit = ["git", "commit", "-q", "-m", "data"]
        ch.step("add", [["git", "add", wl.name], commit], repo)
        ch.step("status, nothing changed", [["git", "status", "--porcelain"]], repo)
        if wl.is_dir:
            wl.modify_one(repo)
            ch.step("status, 1 file changed", [["git", "status", "--porcelain"]], repo)
            ch.step("re-add, 1 file changed", [["git", "add", wl.name], commit], repo)
        wl.remove(repo)
        ch.restore_step("checkout into empty workspace", [["git", "checkout", "--", wl.name]], repo, wl, repo)
        push = [["git", "push", "-q", "origin", "main"]]
        ch.step("push", push, repo)
        if wl.is_dir:
            ch.step("push, nothing new", push, repo)
        else:
            clone = ch.dir / "clone"
            ch.sh("git", "clone", "-q", bare, clone, env={**ch.bench.env, "GIT_LFS_SKIP_SMUDGE": "1"})
            ch.restore_step("pull (fetch + checkout)", [["git", "lfs", "pull"]], clone, wl, clone)
    return chain


def cp_chain(wl: Workload, durable: bool) -> Callable[[Chain], None]:
    """The physical floor: copy the bytes to where a cache-keeping tool puts
    them.  `durable` adds a `sync`, because gitmodel fsyncs and cp does not.
    `add` reads the generated data in place: it is only read, so it needs no
    fresh copy per run."""
    def copy(src: Path, dst: Path) -> list[list[str]]:
        return [["cp", "-r", str(src), str(dst)]] + ([["sync"]] if durable else [])

    def chain(ch: Chain) -> None:
        ws, cache, remote = ch.dir / "ws", ch.dir / "cache", ch.dir / "remote"
        for d in (ws, cache, remote):
            d.mkdir()
        ch.step("add", copy(wl.source, cache / wl.name), ch.dir)
        ch.step("checkout into empty workspace", copy(cache / wl.name, ws / wl.name), ch.dir)
        ch.step("push", copy(cache / wl.name, remote / wl.name), ch.dir)
        if not wl.is_dir:
            wl.remove(cache)
            wl.remove(ws)
            # Into the cache, then into the workspace: what a tool with a cache does.
            ch.step("pull (fetch + checkout)",
                    copy(remote / wl.name, cache / wl.name) + copy(cache / wl.name, ws / wl.name), ch.dir)
    return chain


CP_STEPS = {"W1": ("add", "checkout into empty workspace", "push", "pull (fetch + checkout)"),
            "W2": ("add", "checkout into empty workspace", "push"),
            "W4": ("add",)}


# -- chains: W3 against an S3 server (moto) ------------------------------------


class S3Server:
    """moto in server mode on a free loopback port, started on first use."""

    def __init__(self, python: str) -> None:
        self.python = python
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def endpoint(self) -> str:
        if self.proc is None:
            self._start()
        return f"http://127.0.0.1:{self.port}"

    def _start(self) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        with open(RUNS / "moto.log", "wb") as logfile:  # the child keeps its own copy of the fd
            self.proc = subprocess.Popen([self.python, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                                         stdout=logfile, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ChainBroken(f"moto server exited {self.proc.returncode}; see {RUNS / 'moto.log'}")
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}", timeout=2).read()
                return
            except urllib.error.HTTPError:
                return  # it answered
            except OSError:
                time.sleep(0.2)
        raise ChainBroken("moto server did not answer within 60 s")

    def requests(self) -> int:
        """Requests moto has answered so far (one log line each), its own
        /moto-api calls left out."""
        time.sleep(0.2)  # the server logs a request after answering it
        try:
            text = (RUNS / "moto.log").read_text(errors="replace")
        except OSError:
            return 0
        return sum(1 for line in text.splitlines()
                   if " HTTP/1." in line and '"' in line and "/moto-api/" not in line)

    def stop(self) -> None:
        if self.proc is None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()  # werkzeug's threaded server can ignore SIGTERM while busy
            self.proc.wait()
        self.proc = None


W3_STEPS = ("W1 push", "W1 pull (fetch + checkout)", "W2 push", "W2 pull (fetch + checkout)")


def vcs_s3_chain(tool: VcsTool, wl: Workload, s3: S3Server, python: str) -> Callable[[Chain], None]:
    def chain(ch: Chain) -> None:
        ch.sh(python, S3FLOOR, "fresh-bucket", s3.endpoint, BUCKET)
        repo = ch.dir / "repo"
        git_init(ch, repo)
        tool.init(ch, repo)
        tool.remote(ch, repo, f"s3://{BUCKET}/{tool.name}", s3.endpoint)
        git_commit(ch, repo, wl, "init")
        wl.materialise(ch, repo)
        ch.sh(*tool.cmd("add", wl.name)[0], cwd=repo)
        git_commit(ch, repo, wl, "add")
        ch.step(f"{wl.label} push", tool.cmd("push"), repo)
        tool.clear_cache(ch, repo)
        wl.remove(repo)
        ch.restore_step(f"{wl.label} pull (fetch + checkout)", tool.cmd("pull"), repo, wl, repo)
    return chain


def floor_s3_chain(wl: Workload, s3: S3Server, python: str) -> Callable[[Chain], None]:
    def chain(ch: Chain) -> None:
        ch.sh(python, S3FLOOR, "fresh-bucket", s3.endpoint, BUCKET)
        base = [python, str(S3FLOOR)]
        dest = ch.dir / wl.name
        if wl.is_dir:
            put = base + ["put-dir", s3.endpoint, BUCKET, "floor", str(wl.source)]
            get = base + ["get-dir", s3.endpoint, BUCKET, "floor", str(wl.source), str(dest)]
        else:
            put = base + ["put-file", s3.endpoint, BUCKET, "floor/big.bin", str(wl.source)]
            get = base + ["get-file", s3.endpoint, BUCKET, "floor/big.bin", str(dest)]
        ch.step(f"{wl.label} push", [put], ch.dir)
        ch.restore_step(f"{wl.label} pull (fetch + checkout)", [get], ch.dir, wl, ch.dir)
    return chain


# -- chains: W4 scale, and CLI start-up ------------------------------------------

W4_STEPS = ("add", "status, nothing changed")


def gm_scale_chain(gm: Gitmodel, wl: Workload) -> Callable[[Chain], None]:
    """gitmodel add + status at scale.  The copy of the data into the
    workspace, which every run needs anyway, is timed as the `cp` floor:
    a separate floor chain would create and delete 200,000 more files."""
    def chain(ch: Chain) -> None:
        repo = ch.dir / "repo"
        git_init(ch, repo)
        gm.init(ch, repo)
        git_commit(ch, repo, wl, "init")
        if not ch.step("add", [["cp", "-r", str(wl.source), str(repo / wl.name)]], repo, tool="cp"):
            raise ChainBroken("could not copy the data into the workspace")
        ch.step("add", gm.cmd("add", wl.name), repo)
        git_commit(ch, repo, wl, "add")
        ch.step("status, nothing changed", gm.cmd("status"), repo, ok=STATUS_OK)
    return chain


def help_chain(argv: list[str]) -> Callable[[Chain], None]:
    def chain(ch: Chain) -> None:
        for _ in range(HELP_RUNS):
            ch.step("--help", [argv], ch.dir)
    return chain


# -- chains: W6, model versions ------------------------------------------------------

W6_ADD_NEXT = "add, next version ((a) fine-tune)"
W6_PUSH = "push, remote link = copy"
W6_PULL = "pull (fetch + checkout), remote link = copy"
W6_S3 = "push to S3 (moto)"
W6_BIG_STEPS = ("add", W6_ADD_NEXT, "checkout into empty workspace", W6_PUSH, W6_PULL, W6_S3)
W6_CP_STEPS = ("add", W6_ADD_NEXT, "checkout into empty workspace", W6_PUSH, W6_PULL)


class W6Series:
    """The version series: stored bytes by each method, gitmodel's transfers
    (bench/w6.py).  One run: every figure but the add times is a byte count."""

    def __init__(self, steps: list[w6.Step]) -> None:
        self.steps = steps
        self.refs: list[w6.Reference] = []
        self.gm: list[w6.GmStep] = []

    def chain(self, gm: Gitmodel) -> Callable[[Chain], None]:
        def run(ch: Chain) -> None:
            self.refs = w6.reference_bytes(self.steps, log)

            def timed(argv: list[str], cwd: Path) -> tuple[float, int]:
                settle(ch.bench.opts.drop_caches)
                try:
                    sample = measure_one(argv, cwd, ch.env, (0,))
                except StepFailed as e:
                    raise w6.CommandFailed(str(e)) from None
                return sample.wall, sample.rss_kib

            self.gm = w6.gitmodel_series(self.steps, gm.exe, ch.env, ch.dir, timed, log)
            for s, r in zip(self.steps, self.gm):
                if r.error:  # --strict counts these as gitmodel steps that did not run
                    ch.table.cell(s.label, "gitmodel").error = r.error
        return run

    def render(self, notes: list[str]) -> list[str]:
        if not self.gm:
            return ["### W6: model versions", "", "- not run (see the progress log)", ""]
        return w6.render_series(self.steps, self.refs, self.gm, notes)


def w6_pointer(repo: Path, name: str) -> Path:
    return repo / f"{name}.gm"


def gm_w6_big_chain(gm: Gitmodel, wl: Workload, tuned: Path, s3: S3Server | None, python: str,
                    requests: dict[str, list[int]]) -> Callable[[Chain], None]:
    """The ~1 GiB checkpoint: add; add of its (a) fine-tune (then the pointer
    is put back, so what follows works on the first version); checkout into
    an empty workspace; push and a fresh pull through a folder remote that
    copies (as cp does); push to S3, counting moto's requests."""
    def chain(ch: Chain) -> None:
        repo, remote = ch.dir / "repo", ch.dir / "remote"
        remote.mkdir()
        git_init(ch, repo)
        gm.init(ch, repo)
        gm.remote(ch, repo, str(remote), None)
        ch.try_sh(gm.exe, "remote", "modify", "bench", "link", "copy", cwd=repo)
        git_commit(ch, repo, wl, "init")
        wl.materialise(ch, repo)
        ch.step("add", gm.cmd("add", wl.name), repo)
        git_commit(ch, repo, wl, "add")
        pointer = w6_pointer(repo, wl.name).read_bytes()
        ch.sh("cp", tuned, repo / wl.name)
        ch.step(W6_ADD_NEXT, gm.cmd("add", wl.name), repo)
        w6_pointer(repo, wl.name).write_bytes(pointer)  # back to the committed version
        wl.remove(repo)
        ch.restore_step("checkout into empty workspace", gm.cmd("checkout"), repo, wl, repo)
        ch.step(W6_PUSH, gm.cmd("push"), repo)
        if s3 is not None:
            ch.sh(python, S3FLOOR, "fresh-bucket", s3.endpoint, BUCKET)
            ch.try_sh(gm.exe, "remote", "add", "s3", f"s3://{BUCKET}/gitmodel", cwd=repo)
            ch.try_sh(gm.exe, "remote", "modify", "s3", "endpoint_url", s3.endpoint, cwd=repo)
            before = s3.requests()
            if ch.step(W6_S3, gm.cmd("push", "-r", "s3"), repo):
                requests.setdefault("gitmodel", []).append(s3.requests() - before)
        fresh_pull(ch, gm, wl, repo, W6_PULL)
    return chain


def cp_w6_big_chain(wl: Workload, tuned: Path, durable: bool, s3: S3Server | None, python: str,
                    requests: dict[str, list[int]]) -> Callable[[Chain], None]:
    """The floors of the same steps: cp into a cache, a workspace, a remote
    and back (and `sync` after each for the durable floor); boto3's
    upload_file (multipart, its defaults) for the S3 push."""
    def copy(src: Path, dst: Path) -> list[list[str]]:
        return [["cp", str(src), str(dst)]] + ([["sync"]] if durable else [])

    def chain(ch: Chain) -> None:
        ws, cache, remote = ch.dir / "ws", ch.dir / "cache", ch.dir / "remote"
        for d in (ws, cache, remote):
            d.mkdir()
        ch.step("add", copy(wl.source, cache / wl.name), ch.dir)
        ch.step(W6_ADD_NEXT, copy(tuned, cache / "next"), ch.dir)
        remove_path(cache / "next")
        ch.step("checkout into empty workspace", copy(cache / wl.name, ws / wl.name), ch.dir)
        ch.step(W6_PUSH, copy(cache / wl.name, remote / wl.name), ch.dir)
        wl.remove(cache)
        wl.remove(ws)
        ch.step(W6_PULL, copy(remote / wl.name, cache / wl.name) + copy(cache / wl.name, ws / wl.name), ch.dir)
        if s3 is not None and not durable:
            ch.sh(python, S3FLOOR, "fresh-bucket", s3.endpoint, BUCKET)
            before = s3.requests()
            put = [python, str(S3FLOOR), "put-file", s3.endpoint, BUCKET, "floor/model", str(wl.source)]
            if ch.step(W6_S3, [put], ch.dir):
                requests.setdefault("boto3 upload_file", []).append(s3.requests() - before)
    return chain


def w6_big_summary(t: Table, requests: dict[str, list[int]]) -> list[str]:
    """The issue's targets, as ratios to cp of the medians in the table."""
    lines = []
    for step, target in (("add", 2.0), (W6_ADD_NEXT, 2.0), ("checkout into empty workspace", 1.5),
                         (W6_PULL, 1.5)):
        gm_cell, cp_cell = t.cells.get((step, "gitmodel")), t.cells.get((step, "cp"))
        g, c = median_wall(gm_cell), median_wall(cp_cell)
        if g and c and gm_cell and cp_cell:
            cpu_g = statistics.median(s.cpu for s in gm_cell.samples)
            cpu_c = statistics.median(s.cpu for s in cp_cell.samples)
            lines.append(f"{step}: gitmodel / cp = {g / c:.2f} (target at most {target:g}; CPU time "
                         f"{cpu_g:.2f} s against {cpu_c:.2f} s)")
    cell = t.cells.get(("add", "gitmodel"))
    if cell and cell.samples:
        peak = max(s.rss_kib for s in cell.samples) / 1024
        lines.append(f"add peak memory: {peak:.0f} MiB (target under 150 MB = 143 MiB)")
    for tool, counts in requests.items():
        lines.append(f"push to S3, {tool}: {statistics.median(counts):.0f} requests"
                     + (" (target at most 100)" if tool == "gitmodel" else ""))
    return [f"- Targets: {'; '.join(lines)}."] if lines else []


# -- the bench: tools found, tables built and run ---------------------------------


def command_output(argv: list[str], stderr_too: bool = False) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    out = done.stdout + (done.stderr if stderr_too else "")
    return out.strip() if done.returncode == 0 else ""


def find_gitmodel() -> str | None:
    for candidate in (Path(sys.executable).parent / "gitmodel", ROOT / ".venv" / "bin" / "gitmodel"):
        if candidate.exists():
            return str(candidate)
    return shutil.which("gitmodel")


def ensure_dvc(install: bool) -> tuple[str | None, str]:
    """DVC in its own virtualenv under bench/work, installed once and reused."""
    exe = DVC_VENV / "bin" / "dvc"
    if command_output([str(exe), "--version"]):
        return str(exe), ""
    if not install:
        return None, "dvc is not installed in bench/work/dvc-venv (run the full suite once)"
    log("installing dvc + dvc-s3 into bench/work/dvc-venv (once) ...")
    try:
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(DVC_VENV)], check=True)
        subprocess.run([str(DVC_VENV / "bin" / "python"), "-m", "pip", "install", "-q",
                        "--disable-pip-version-check", "dvc", "dvc-s3"], check=True)
    except (OSError, subprocess.CalledProcessError) as e:
        return None, f"dvc could not be installed: {e}"
    return (str(exe), "") if command_output([str(exe), "--version"]) else (None, "dvc installed but does not run")


def ensure_git_lfs(install: bool) -> str:
    """'' when git-lfs works, else why its column is skipped."""
    if command_output(["git", "lfs", "version"]):
        return ""
    if not install:
        return "git-lfs is not installed"
    log("installing git-lfs with apt-get ...")
    def apt(*args: str) -> int:
        return subprocess.run(["apt-get", *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode

    try:
        if apt("install", "-y", "git-lfs") != 0:
            apt("update")  # the package lists may be missing or stale
            apt("install", "-y", "git-lfs")
    except OSError:
        pass
    return "" if command_output(["git", "lfs", "version"]) else "git-lfs could not be installed with apt-get"


def has_module(python: str, module: str) -> bool:
    return subprocess.run([python, "-c", f"import {module}"], capture_output=True).returncode == 0


class Bench:
    def __init__(self, opts: Options) -> None:
        self.opts = opts
        self.python = sys.executable
        self.env = bench_env()
        self.gitmodel = find_gitmodel()
        self.gm_skip = "" if self.gitmodel else "the gitmodel console script is not installed (.venv/bin/gitmodel)"
        self.dvc, self.dvc_skip = ensure_dvc(install=not opts.quick) if opts.peers else (None, "--no-peers")
        self.lfs_skip = ensure_git_lfs(install=not opts.quick) if opts.peers else "--no-peers"
        self.s3_skip = "" if has_module(self.python, "moto.server") and has_module(self.python, "boto3") \
            else f"moto[server] and boto3 are not importable by {self.python}"
        self.tables: list[Table] = []
        self.s3 = S3Server(self.python)
        self.load_start = os.getloadavg()[0]
        if self.load_start > 0.5 * (os.cpu_count() or 1):
            log(f"warning: load average is {self.load_start:.1f} on {os.cpu_count()} cores: numbers will be noisy")

    # Scenario builders: a tool that cannot run still gets its column, with why.
    def gm_scenario(self, steps: tuple[str, ...], make: Callable[[Gitmodel], Callable[[Chain], None]]) -> Scenario:
        fn = make(Gitmodel(self.gitmodel)) if self.gitmodel else (lambda ch: None)
        return Scenario("gitmodel", steps, fn, peer=False, skip=self.gm_skip)

    def dvc_scenario(self, steps: tuple[str, ...], make: Callable[[Dvc], Callable[[Chain], None]]) -> Scenario:
        fn = make(Dvc(self.dvc)) if self.dvc else (lambda ch: None)
        return Scenario("dvc", steps, fn, skip=self.dvc_skip)

    def build(self) -> None:
        want = self.opts.only or set(TABLES)
        DATA.mkdir(parents=True, exist_ok=True)
        RUNS.mkdir(parents=True, exist_ok=True)
        with open(DATA / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # another invocation may be generating the same data
            self.build_tables(want)

    def build_tables(self, want: set[str] | frozenset[str]) -> None:
        sizes = self.opts.sizes
        if "W1" in want:
            self.tables.append(self.table_w1(w1(sizes)))
        if "W2" in want:
            self.tables.append(self.table_w2(w2(sizes)))
        if "W3" in want:
            self.tables.append(self.table_w3(w1(sizes), w2(sizes)))
        if "W4" in want:
            self.tables.append(self.table_w4(w4(sizes)))
        if "W6" in want:
            w6_sizes = w6.W6_QUICK if self.opts.quick else w6.W6_FULL
            w6_tables = [self.table_w6_series(w6.make_series(DATA, w6_sizes, log)),
                         self.table_w6_big(*w6.make_checkpoint(DATA, w6_sizes.big, log))]
            for t in w6_tables if self.opts.quick else ():
                # Quick sizes are below the default chunk threshold (16 MiB): chunk them
                # anyway, as their full-size counterparts are (1 MiB is the minimum).
                t.env["GITMODEL_CHUNK_THRESHOLD"] = "1MiB"
            self.tables += w6_tables
        if "HELP" in want:
            self.tables.append(self.table_help())
        if not self.opts.peers:  # no columns at all for them, rather than columns of n/a
            for t in self.tables:
                t.scenarios = [s for s in t.scenarios if s.tool not in PEERS]

    def table_w1(self, wl: Workload) -> Table:
        t = Table("W1", f"W1: one {human_size(wl.source.stat().st_size)} incompressible file, local folder remote",
                  W1_STEPS)
        self.add_local_scenarios(t, wl, W1_STEPS)
        return t

    def table_w2(self, wl: Workload) -> Table:
        count = count_files(wl.source)
        folders = len(os.listdir(wl.source))
        t = Table("W2", f"W2: {count:,} files of 2 KiB in {folders} folders, local folder remote",
                  W2_STEPS)
        self.add_local_scenarios(t, wl, W2_STEPS)
        return t

    def add_local_scenarios(self, t: Table, wl: Workload, steps: tuple[str, ...]) -> None:
        t.notes.append("A local remote on the same filesystem: gitmodel (default `link = auto`) and git-lfs "
                       "hard-link objects into it, DVC and cp copy the bytes. The `remote link = copy` rows make "
                       "gitmodel copy too: compare them with the `push` and `pull` cells of dvc and cp.")
        if wl.is_dir:
            t.notes.append("A second push trusts gitmodel's local record of what the remote has; DVC asks the "
                           "remote, as `gitmodel push --check-remote` does.")
        peer_steps = tuple(s for s in steps if s not in (COPY_PUSH, COPY_PULL, ASKING_PUSH))  # gitmodel-only rows
        t.scenarios += [
            self.gm_scenario(steps, lambda gm: vcs_local_chain(gm, wl)),
            self.dvc_scenario(peer_steps, lambda dvc: vcs_local_chain(dvc, wl)),
            Scenario("git-lfs", peer_steps, lfs_chain(wl), skip=self.lfs_skip),
            Scenario("cp", CP_STEPS[wl.label], cp_chain(wl, durable=False)),
            Scenario("cp + sync", CP_STEPS[wl.label], cp_chain(wl, durable=True)),
        ]

    def table_w3(self, one: Workload, many: Workload) -> Table:
        t = Table("W3", f"W3: W1 ({human_size(one.source.stat().st_size)}) and W2 ({self.opts.sizes.w2_files:,} files)"
                        " through an S3 server (moto, loopback)",
                  W3_STEPS)
        if self.s3_skip:
            t.notes.append(f"W3 skipped: {self.s3_skip}")
            return t
        for wl in (one, many):
            t.scenarios += self.s3_scenarios(wl)
        return t

    def s3_scenarios(self, wl: Workload) -> list[Scenario]:
        steps = tuple(s for s in W3_STEPS if s.startswith(wl.label))
        s3, py = self.s3, self.python
        return [self.gm_scenario(steps, lambda gm: vcs_s3_chain(gm, wl, s3, py)),
                self.dvc_scenario(steps, lambda dvc: vcs_s3_chain(dvc, wl, s3, py)),
                Scenario("boto3 floor", steps, floor_s3_chain(wl, s3, py))]

    def table_w4(self, wl: Workload) -> Table:
        t = Table("W4", f"W4 (scale): {self.opts.sizes.w4_files:,} files of 512 B in "
                        f"{len(os.listdir(wl.source))} folders", W4_STEPS)
        t.scenarios.append(self.gm_scenario(W4_STEPS, lambda gm: gm_scale_chain(gm, wl)))
        # The cp floor is timed inside gitmodel's chain (gm_scale_chain): a column without a chain.
        t.scenarios.append(Scenario("cp", CP_STEPS["W4"], lambda ch: None, measured_elsewhere=True))
        return t

    def table_w6_series(self, steps: list[w6.Step]) -> Table:
        series = W6Series(steps)
        t = Table("W6", "W6: model versions", (), runs=1, custom=series.render)
        t.scenarios.append(self.gm_scenario((), series.chain))
        return t

    def table_w6_big(self, base: Path, tuned: Path) -> Table:
        wl = Workload("W6", "model.safetensors", base, is_dir=False)
        t = Table("W6B", f"W6: one {human_size(base.stat().st_size)} safetensors checkpoint (float32, "
                        "like trained weights), local folder remote with `link = copy`, and S3", W6_BIG_STEPS)
        s3 = None if self.s3_skip else self.s3
        requests: dict[str, list[int]] = {}
        py = self.python
        t.scenarios += [
            self.gm_scenario(W6_BIG_STEPS, lambda gm: gm_w6_big_chain(gm, wl, tuned, s3, py, requests)),
            Scenario("cp", W6_CP_STEPS + (W6_S3,), cp_w6_big_chain(wl, tuned, False, s3, py, requests)),
            Scenario("cp + sync", W6_CP_STEPS, cp_w6_big_chain(wl, tuned, True, s3, py, requests)),
        ]
        t.notes.append("The `cp` column's S3 push is boto3's `upload_file` (multipart, 8 MiB parts), the "
                       "S3 floor of W3; requests are counted in moto's request log.")
        t.summary = lambda: w6_big_summary(t, requests)
        return t

    def table_help(self) -> Table:
        t = Table("HELP", f"CLI start-up: `--help`, median of {HELP_RUNS} (target for gitmodel: < 100 ms)",
                  ("--help",), runs=1)
        t.scenarios += [
            self.gm_scenario(("--help",), lambda gm: help_chain([gm.exe, "--help"])),
            self.dvc_scenario(("--help",), lambda dvc: help_chain([dvc.exe, "--help"])),
            Scenario("git-lfs", ("--help",), help_chain(["git", "lfs", "--help"]), skip=self.lfs_skip),
        ]
        return t

    # -- running ----------------------------------------------------------
    def run(self, deadline: float) -> None:
        """Run 1 of every chain, table by table; then runs 2..N of gitmodel's
        chains, cheapest first; then those of the peers and floors.  After
        run 1, a chain starts only if its mean duration still fits before the
        deadline (time.monotonic()): the slowest peers are the ones that get
        fewer runs, and their cells say so."""
        for t in self.tables:
            self.mark_skipped(t)
            log(f"== {t.title}")
            # Tools interleave (gm, dvc, ..., then again), so a drift of the
            # machine hits every column alike.
            for s in self.runnable(t):
                self.run_chain(t, s)
        later = [(s.peer, run, self.mean(s), t, s) for run in range(2, self.opts.runs + 1)
                 for t in self.tables if (t.runs or self.opts.runs) >= run for s in self.runnable(t)]
        later.sort(key=lambda item: item[:3])
        if later:
            log("== more runs, gitmodel first, while they fit in --minutes")
        for _, run, _, t, s in later:
            if time.monotonic() + self.mean(s) > deadline:
                log(f"  {t.key} {s.tool}: no time left for run {run}")
                continue
            log(f"  {t.key} {s.tool} (run {run})")
            self.run_chain(t, s)

    @staticmethod
    def mean(s: Scenario) -> float:
        return s.spent / max(1, s.runs_done)

    @staticmethod
    def mark_skipped(t: Table) -> None:
        for s in t.scenarios:
            for step in s.steps if s.skip else ():
                t.cell(step, s.tool).error = s.skip

    @staticmethod
    def runnable(t: Table) -> list[Scenario]:
        return [s for s in t.scenarios if not s.skip and not s.measured_elsewhere]

    def close(self) -> None:
        self.s3.stop()
        remove_path(RUNS)

    def run_chain(self, t: Table, s: Scenario) -> None:
        folder = RUNS / f"{t.key}-{s.tool.replace(' ', '')}"
        remove_path(folder)
        folder.mkdir(parents=True)
        start = time.perf_counter()
        try:
            s.fn(Chain(self, t, s.tool, folder))
        except ChainBroken as e:
            log(f"    {s.tool}: chain stopped: {e}")
            for step in s.steps:
                cell = t.cell(step, s.tool)
                if not cell.samples and not cell.error:
                    cell.error = f"not reached: {e}"
        finally:
            discard(folder)  # its teardown is part of what the chain costs
            took = time.perf_counter() - start
            s.spent += took
            s.runs_done += 1
            log(f"    ({t.key} {s.tool}: chain took {took:.1f} s)")


def bench_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.invalid",
        "GIT_COMMITTER_NAME": "bench", "GIT_COMMITTER_EMAIL": "bench@example.invalid",
        "GIT_TERMINAL_PROMPT": "0",
        "DVC_NO_ANALYTICS": "1",
        "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
    })
    env.pop("AWS_PROFILE", None)
    # A user's Python caches bytecode; a shell that turned that off would
    # charge every Python tool here (gitmodel, DVC) a recompile per command.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    # gitmodel's git hooks call `gitmodel`/`git-model` by name.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


# -- machine and versions ---------------------------------------------------------


def machine_info(load_start: float) -> list[tuple[str, str]]:
    cpu = next((line.split(":", 1)[1].strip() for line in read_lines("/proc/cpuinfo")
                if line.startswith("model name")), platform.processor())
    mem_kib = next((int(line.split()[1]) for line in read_lines("/proc/meminfo") if line.startswith("MemTotal")), 0)
    os_name = next((line.split("=", 1)[1].strip().strip('"') for line in read_lines("/etc/os-release")
                    if line.startswith("PRETTY_NAME=")), platform.system())
    return [("CPU", f"{cpu}, {os.cpu_count()} cores"), ("memory", f"{mem_kib / 1024 / 1024:.1f} GiB"),
            ("work dir filesystem", filesystem_of(WORK)), ("kernel", f"Linux {platform.release()}"),
            ("OS", os_name), ("python", platform.python_version()),
            # Other work on the machine shows up in every number: say how busy it was.
            ("load average (1 min)", f"{load_start:.2f} at start, {os.getloadavg()[0]:.2f} at end")]


def read_lines(path: str) -> list[str]:
    try:
        with open(path) as f:
            return f.read().splitlines()
    except OSError:
        return []


def filesystem_of(path: Path) -> str:
    real = os.path.realpath(path)
    best = ("", "?", "?")
    for line in read_lines("/proc/mounts"):
        parts = line.split()
        if len(parts) >= 3 and (real == parts[1] or real.startswith(parts[1].rstrip("/") + "/")):
            if len(parts[1]) >= len(best[0]):
                best = (parts[1], parts[2], parts[0])
    return f"{best[1]} ({best[2]} on {best[0]})"


def versions(bench: Bench) -> list[tuple[str, str]]:
    def dist(python: str, name: str) -> str:
        return command_output([python, "-c", f"import importlib.metadata as m; print(m.version('{name}'))"]) or "?"

    rev = command_output(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"]) or "no commit yet"
    dirty = " + uncommitted changes" if command_output(["git", "-C", str(ROOT), "status", "--porcelain"]) else ""
    out = [("gitmodel", f"{dist(bench.python, 'gitmodel')} (checkout {rev}{dirty})" if bench.gitmodel else "n/a")]
    if bench.dvc:
        dvc_py = str(DVC_VENV / "bin" / "python")
        out.append(("dvc", f"{dist(dvc_py, 'dvc')} (dvc-s3 {dist(dvc_py, 'dvc-s3')})"))
    if not bench.lfs_skip:
        out.append(("git-lfs", command_output(["git", "lfs", "version"])))
    cp_version = command_output(["cp", "--version"]).splitlines()
    out += [("git", command_output(["git", "--version"])), ("cp", cp_version[0] if cp_version else "?")]
    if not bench.s3_skip:
        out.append(("moto / boto3", f"{dist(bench.python, 'moto')} / {dist(bench.python, 'boto3')}"))
    return out


# -- the report ---------------------------------------------------------------------


def fmt_time(s: float) -> str:
    if s < 1:
        return f"{s * 1000:.0f} ms"
    return f"{s:.2f} s" if s < 100 else f"{s:.0f} s"


def median_wall(cell: Cell | None) -> float | None:
    return statistics.median(s.wall for s in cell.samples) if cell and cell.samples else None


def render_table(t: Table, runs: int, notes: list[str]) -> list[str]:
    """Cells read `median time · peak MiB · ×ratio`, ratio = peer time / gitmodel time."""
    if t.custom is not None:
        return t.custom(notes)
    expected = t.runs or runs
    lines = [f"### {t.title}", "", "| step | " + " | ".join(t.tools) + " |",
             "|---|" + "---:|" * len(t.tools)]
    for step in t.steps:
        base = median_wall(t.cells.get((step, "gitmodel")))
        row = [step]
        for tool in t.tools:
            row.append(render_cell(t.cells.get((step, tool)), base if tool != "gitmodel" else None,
                                   expected, notes))
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    extra = [f"- {n}" for n in t.notes] + (t.summary() if t.summary else [])
    lines += extra + ([""] if extra else [])
    return lines


def render_cell(cell: Cell | None, base: float | None, expected: int, notes: list[str]) -> str:
    if cell is None:
        return "—"
    med = median_wall(cell)
    if med is None:
        if cell.error not in notes:
            notes.append(cell.error)
        return f"n/a [{notes.index(cell.error) + 1}]"
    text = f"{fmt_time(med)} · {max(s.rss_kib for s in cell.samples) / 1024:.0f} MiB"
    if base:
        text += f" · ×{med / base:.2f}"
    if len(cell.samples) < expected:
        text += f" ({len(cell.samples)} run{'s' if len(cell.samples) > 1 else ''})"
    return text


def method_line(opts: Options) -> str:
    memory = ("GNU time, i.e. wait4" if gnu_time()
              else "wait4 on the child, which includes the harness's own RSS before exec")
    cache = ("dropped before every timed step (cold)" if opts.drop_caches
             else "warm, with a sync before every timed step")
    runs = f"{opts.runs} run{'s' if opts.runs > 1 else ''}"
    return (f"Each cell: median wall time of {runs} (`--help`: of {HELP_RUNS}) · peak memory, the largest RSS "
            f"of any process in the step's tree ({memory}) · ×(peer time / gitmodel time), above 1 when "
            f"gitmodel is faster. Page cache: {cache}. What each step runs exactly: bench/README.md.")


def render(bench: Bench, started: datetime.datetime, took: float, argv: list[str]) -> str:
    command = " ".join(["python3 run.py bench", *argv])
    lines = ["# gitmodel benchmark results", "",
             f"`{command}` — {started:%Y-%m-%d %H:%M} UTC, took {took / 60:.1f} min.", "",
             method_line(bench.opts), "",
             "| machine | |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in machine_info(bench.load_start)]
    lines += ["", "| tool | version |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in versions(bench)]
    lines.append("")
    notes: list[str] = []
    for t in bench.tables:
        lines += render_table(t, bench.opts.runs, notes)
    if notes:
        lines += ["Why a cell is n/a:", ""]
        lines += [f"{i}. {n}" for i, n in enumerate(notes, 1)]
        lines.append("")
    return "\n".join(lines)


def dump_raw(bench: Bench) -> None:
    """Every sample, for whoever wants more than the median."""
    raw = {t.key: {f"{step} | {tool}": {"wall_s": [s.wall for s in c.samples],
                                          "rss_kib": [s.rss_kib for s in c.samples],
                                          "cpu_s": [s.cpu for s in c.samples], "error": c.error}
                   for (step, tool), c in t.cells.items()} for t in bench.tables}
    (WORK / "results.json").write_text(json.dumps(raw, indent=1))


def main(argv: list[str]) -> int:
    if "--only" in argv and argv[argv.index("--only") + 1:][:1] == ["W5"]:
        # W5 (a million files) runs alone: at ~10 minutes a pass it does not
        # fit the default run, and its chain is its own (bench/w5.py).
        import w5

        return w5.main([a for a in argv if a not in ("--only", "W5")])
    opts = parse_args(argv)
    # SIGTERM ends the run through `finally`, which stops moto and cleans up.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    WORK.mkdir(parents=True, exist_ok=True)
    remove_stale_runs()
    started = datetime.datetime.now(datetime.UTC)
    t0 = time.perf_counter()
    # The deadline counts from here: data generation and peer installs included.
    deadline = time.monotonic() + opts.minutes * 60 if opts.minutes else float("inf")
    bench = Bench(opts)
    try:
        bench.build()
        bench.run(deadline)
    finally:
        bench.close()
    report = render(bench, started, time.perf_counter() - t0, argv)
    dump_raw(bench)
    print(report)
    if opts.out:
        opts.out.write_text(report + "\n")
        log(f"wrote {opts.out}")
    failed = gitmodel_failures(bench)
    for line in failed:
        log(f"gitmodel n/a: {line}")
    return 1 if opts.strict and failed else 0


def remove_stale_runs() -> None:
    """Chain folders left by an invocation that was killed (its pid is gone)."""
    for folder in WORK.glob("runs-*"):
        pid = folder.name.removeprefix("runs-")
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            remove_path(folder)


def gitmodel_failures(bench: Bench) -> list[str]:
    return [f"{t.key} {step}: {c.error}" for t in bench.tables for (step, tool), c in t.cells.items()
            if tool == "gitmodel" and not c.samples]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
