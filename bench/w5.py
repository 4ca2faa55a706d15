"""W5: a million files (issue 16), beside the floors that bound it.

    python3 run.py bench --only W5                      1,000,000 files of 500 B in 1,000 folders, then 100,000
    python3 bench/w5.py --files 100000 --runs 3         one size, by hand (from the repository root, in .venv)

One folder of N files of 500 B (os.urandom, generated once into
bench/work/data/w5-N/) in N/1000 subfolders.  Every step is one command,
timed with perf_counter around the spawned process, peak memory from GNU
time's %M (the largest resident set of the process tree's biggest process):

    floors     `cp -r` of the folder into the workspace; `find -printf '%s %T@ %i'` walk of it
    gitmodel   add; status, nothing changed; status, one file changed; re-add of that file;
               push to a folder remote; pull of one subfolder (1,000 files) in a clone
               (when `pull PATH` accepts a subfolder); checkout into an empty folder

The quick steps (find, the statuses) are run `--runs` times and the median
kept; add, cp, push and checkout once each (a run of them at 1M files costs
minutes).  Nothing with many files is deleted until the end (bench/README.md,
"Deleting waits for the end"): finished folders are moved into a trash
folder, removed last.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORK = HERE / "work"
SIZE = 500
PER_FOLDER = 1000


def gitmodel_exe() -> str:
    for candidate in (Path(sys.executable).parent / "gitmodel", HERE.parent / ".venv" / "bin" / "gitmodel"):
        if candidate.exists():
            return str(candidate)
    raise SystemExit("the gitmodel console script is not installed (.venv/bin/gitmodel): run `python3 run.py test`")


def make_data(files: int) -> Path:
    src = WORK / "data" / f"w5-{files}"
    done = src.with_name(src.name + ".done")
    if done.exists():
        return src
    if src.exists():
        shutil.rmtree(src)
    print(f"generating {files:,} files of {SIZE} B into {src} ...", file=sys.stderr, flush=True)
    for i in range(files):
        folder = src / f"d{i // PER_FOLDER:04d}"
        if i % PER_FOLDER == 0:
            folder.mkdir(parents=True)
        (folder / f"f{i:07d}.bin").write_bytes(os.urandom(SIZE))
    done.write_text("")
    return src


def timed(argv: list[str], cwd: Path, out: Path | None = None) -> tuple[float, int]:
    """(seconds, peak KiB) of one command; it must succeed."""
    time_exe = shutil.which("time") or "/usr/bin/time"
    rss_file = cwd / ".w5-rss"
    subprocess.run(["sync"], check=False)
    start = time.perf_counter()
    proc = subprocess.run([time_exe, "-f", "%M", "-o", str(rss_file), *argv], cwd=cwd,
                          stdout=subprocess.DEVNULL if out is None else out.open("wb"), stderr=subprocess.PIPE)
    took = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed in {cwd}: {proc.stderr.decode(errors='replace')[-2000:]}")
    rss = int(rss_file.read_text().split()[-1])
    rss_file.unlink()
    return took, rss


def median_of(runs: int, argv: list[str], cwd: Path) -> tuple[float, int]:
    samples = [timed(argv, cwd) for _ in range(runs)]
    return statistics.median(t for t, _ in samples), max(m for _, m in samples)


def git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, stdout=subprocess.DEVNULL)


def run_size(files: int, runs: int, base: Path) -> list[tuple[str, float, int]]:
    gm = gitmodel_exe()
    src = make_data(files)
    rows: list[tuple[str, float, int]] = []
    repo = base / "repo"
    repo.mkdir(parents=True)
    git("init", "-q", cwd=repo)
    git("config", "user.email", "bench@example.com", cwd=repo)
    git("config", "user.name", "bench", cwd=repo)
    subprocess.run([gm, "init"], cwd=repo, check=True, stdout=subprocess.DEVNULL)
    rows.append(("cp -r (floor)", *timed(["cp", "-r", str(src), str(repo / "data")], repo)))
    rows.append(("find walk (floor)", *median_of(runs, ["find", "data", "-printf", "%s %T@ %i\\n"], repo)))
    time.sleep(0.2)  # past the stat cache's racy window
    rows.append(("gitmodel add", *timed([gm, "add", "data"], repo)))
    git("commit", "-qm", "data", cwd=repo)
    rows.append(("gitmodel status, nothing changed", *median_of(runs, [gm, "status"], repo)))
    changed = repo / "data" / "d0000" / "f0000000.bin"
    changed.write_bytes(os.urandom(SIZE))
    time.sleep(0.2)
    rows.append(("gitmodel status, one file changed", *median_of(runs, [gm, "status"], repo)))
    rows.append(("gitmodel add, one file changed", *timed([gm, "add", "data"], repo)))
    git("commit", "-qam", "one changed", cwd=repo)
    store = base / "store"
    subprocess.run([gm, "remote", "add", "store", str(store), "--default"], cwd=repo, check=True,
                   stdout=subprocess.DEVNULL)
    git("commit", "-qam", "remote", cwd=repo)
    rows.append(("gitmodel push (folder remote)", *timed([gm, "push", "-q"], repo)))
    clone = base / "clone"
    git("clone", "-q", str(repo), str(clone), cwd=base)
    subprocess.run([gm, "init"], cwd=clone, check=True, stdout=subprocess.DEVNULL)
    sub = "data/d0001"
    probe = subprocess.run([gm, "pull", sub], cwd=clone, capture_output=True)
    if probe.returncode == 0:  # (subfolder pulls are timed where they are supported)
        shutil.rmtree(clone / "data")
        clone2 = base / "clone2"
        git("clone", "-q", str(repo), str(clone2), cwd=base)
        subprocess.run([gm, "init"], cwd=clone2, check=True, stdout=subprocess.DEVNULL)
        rows.append((f"gitmodel pull {sub} (1,000 files)", *timed([gm, "pull", sub], clone2)))
    os.rename(repo / "data", base / "moved-data")  # (not deleted now: see the module's docstring)
    rows.append(("gitmodel checkout into an empty folder", *timed([gm, "checkout", "data"], repo)))
    return rows


def render(files: int, rows: list[tuple[str, float, int]]) -> str:
    by = {name: (t, m) for name, t, m in rows}
    cp, find = by["cp -r (floor)"][0], by["find walk (floor)"][0]
    out = [f"#### W5: {files:,} files of {SIZE} B in {files // PER_FOLDER:,} folders", "",
           "| step | time | vs floor | peak memory |", "|---|---|---|---|"]
    for name, t, m in rows:
        floor = find if "status" in name else cp if name.startswith(("gitmodel add", "gitmodel checkout")) else None
        if name == "gitmodel add, one file changed":
            floor = by["gitmodel status, nothing changed"][0]
            ratio = f"{t / floor:.2f}x status"
        elif name == "gitmodel status, one file changed":
            ratio = f"{t / find:.2f}x find, {t / by['gitmodel status, nothing changed'][0]:.2f}x status"
        else:
            ratio = f"{t / floor:.2f}x {'find' if floor == find else 'cp -r'}" if floor else ""
        out.append(f"| {name} | {t:.2f} s | {ratio} | {m / 1024:.0f} MiB |")
    return "\n".join(out) + "\n"


def main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--files", type=int, action="append", help="folder size (repeatable; default 1M, then 100k)")
    p.add_argument("--runs", type=int, default=3, help="runs of the quick steps (median)")
    opts = p.parse_args(argv)
    sizes = opts.files or [1_000_000, 100_000]
    trash = WORK / f"w5-trash-{os.getpid()}"
    try:
        for files in sizes:
            rows = run_size(files, opts.runs, trash / f"n{files}")
            print(render(files, rows), flush=True)
    finally:
        subprocess.run(["rm", "-rf", str(trash)], check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
