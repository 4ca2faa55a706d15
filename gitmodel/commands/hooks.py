"""`gitmodel install-hooks` and `gitmodel uninstall-hooks`."""

from __future__ import annotations

import json
import sys

from gitmodel.errors import any_refused
from gitmodel.git import hooks
from gitmodel.repo import Repo


def tell_once(repo: Repo, code: int, *, quiet: bool = False) -> int:
    """After pull or checkout (a fresh clone's first commands): in a clone
    without gitmodel's hooks, say once how to get them.  Only after a clean
    run, so that a failing command's one error line stays one line."""
    if code != 0 or quiet:
        return code
    line = None if any_refused() else hooks.clone_notice(repo)  # a refusal's line stays the news
    if line:
        print(f"gitmodel: note: {line}", file=sys.stderr)
    return code


def install(*, as_json: bool = False) -> int:
    repo = Repo.discover()
    repo.require_init()
    with repo.lock:
        rep = hooks.install(repo)
        driver = hooks.register_driver(repo)
    if as_json:
        print(json.dumps({"folder": rep.folder, "installed": rep.installed, "unchanged": rep.unchanged,
                          "kept": rep.kept, "diff_driver": driver}, indent=2))
        return 0
    if rep.installed:
        print(f"installed git hooks {', '.join(rep.installed)} in {rep.folder}")
    else:
        print(f"git hooks already installed in {rep.folder}")
    for name in rep.kept:
        print(f"  your own {name} hook is kept as {name}{hooks.KEPT_SUFFIX} and still runs first")
    if driver:
        print(f"registered the gitmodel diff driver ({', '.join(driver)})")
    return 0


def uninstall(*, as_json: bool = False) -> int:
    rep = hooks.uninstall(Repo.discover())  # renames in the hooks folder only: works where init never ran
    if as_json:
        print(json.dumps({"folder": rep.folder, "removed": rep.removed, "restored": rep.kept,
                          "foreign": rep.foreign}, indent=2))
        return 0
    if rep.removed:
        print(f"removed git hooks {', '.join(rep.removed)} from {rep.folder}")
    else:
        print(f"no gitmodel hooks installed in {rep.folder}")
    for name in rep.kept:
        print(f"  your own {name} hook is back in place")
    for name in rep.foreign:
        print(f"  {name} is not gitmodel's and was left alone")
    return 0
