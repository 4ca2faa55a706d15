"""Run the crash-consistency harness outside pytest, with as many random
trials as you like, and print the closing figures.

    python tests/safety/crash_report.py                    # every named point, 10 random kills per scenario
    python tests/safety/crash_report.py --trials 50 --scenarios add,push --seed 7

Every named fault point of every scenario is crashed twice (SIGKILL, and
Ctrl-C raised there); then each scenario is crashed `--trials` times by
SIGKILL and `--trials` times by SIGINT to its process group, at random
moments within its run.  The invariants are those of
tests/safety/test_crash.py.  Exit code 1 if any trial failed or lost
anything.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))  # the repository root: `tests` is a package


def isolate(home: Path) -> None:
    """The same isolation the test suite's conftest gives every test."""
    home.mkdir(parents=True, exist_ok=True)
    (home / ".gitconfig").write_text("[init]\n\tdefaultBranch = main\n[advice]\n\tdetachedHead = false\n")
    os.environ.update(HOME=str(home), GIT_CONFIG_NOSYSTEM="1", GIT_AUTHOR_NAME="Crash", GIT_COMMITTER_NAME="Crash",
                      GIT_AUTHOR_EMAIL="crash@example.com", GIT_COMMITTER_EMAIL="crash@example.com",
                      GITMODEL_LOCK_TIMEOUT="30")
    for var in ("GITMODEL_FAULT", "GITMODEL_FAULT_MODE", "GITMODEL_DEBUG", "GITMODEL_LINK"):
        os.environ.pop(var, None)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=10, help="random kills (and as many SIGINTs) per scenario")
    parser.add_argument("--scenarios", default="", help="comma-separated (default: all)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the random delays")
    parser.add_argument("--no-points", action="store_true", help="random trials only")
    parser.add_argument("--keep", action="store_true", help="keep the work folder (printed) for inspection")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="gitmodel-crash-"))
    isolate(work / "home")
    from tests.safety import test_crash as h

    names = [n for n in args.scenarios.split(",") if n] or list(h.SCENARIOS)
    unknown = [n for n in names if n not in h.SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario {unknown[0]!r}; choose from {', '.join(h.SCENARIOS)}")
    figures = h.Figures()
    templates = h.Templates(work / "templates")
    (work / "templates").mkdir()
    start = time.monotonic()
    n = 0

    def failed(name: str, how: str, where: str, e: Exception) -> None:
        print(f"FAILED {name} {how} at {where}: {str(e).splitlines()[0][:300] if str(e) else type(e).__name__}")
        if os.environ.get("GITMODEL_DEBUG") == "1":
            traceback.print_exception(e)

    def one(name: str, how: str, point: str) -> None:
        nonlocal n
        n += 1
        try:
            h.trial(templates, work / f"t{n}", name, how, point=point, figures=figures)
        except Exception as e:  # counted and reported; the run goes on
            failed(name, how, point, e)
        finally:
            shutil.rmtree(work / f"t{n}", ignore_errors=True)

    for name in names:
        s = h.SCENARIOS[name]
        if not args.no_points:
            for point in s.points:
                for how in h.HOWS_FAULT:
                    one(name, how, point=point)
        for how in h.HOWS_RANDOM:
            seed = args.seed * 1000 + sum(map(ord, name + how))
            h.random_trials(templates, work / f"random-{name}-{how}", name, how, args.trials, seed, figures,
                            on_error=lambda nm, hw, d, e: failed(nm, hw, f"{d:.3f}s", e))
            shutil.rmtree(work / f"random-{name}-{how}", ignore_errors=True)
        done = sum(v for k, v in figures.tried.items() if k.startswith(name + "/"))
        print(f"{name}: {done} crashes, {sum(v for k, v in figures.survived.items() if k.startswith(name + '/'))} "
              f"survived (a clean run here: {templates.durations.get(name, 0):.2f} s after a start-up of "
              f"{templates.startups.get(name, 0):.2f} s)", flush=True)

    print()
    print(figures.summary())
    print(f"scenarios: {', '.join(names)}; {time.monotonic() - start:.0f} s")
    for f in figures.failures:
        print(f"  failed: {f}")
    if args.keep:
        print(f"work folder kept: {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if figures.failures or figures.objects_lost or figures.files_lost else 0


if __name__ == "__main__":
    sys.exit(main())
