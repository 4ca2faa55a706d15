from __future__ import annotations

from gitmodel.git.hooks import KEPT_SUFFIX
from gitmodel.repo import Repo
from gitmodel.workspace.init import init


def run(*, stage: bool = True, hooks: bool = True) -> int:
    report = init(Repo.discover(), stage=stage, hooks=hooks)
    for path in report.created:
        print(f"created {path}")
    if report.hooks:
        print(f"installed git hooks: {', '.join(report.hooks)} (`gitmodel uninstall-hooks` removes them)")
    for name in report.kept_hooks:
        print(f"  your own {name} hook is kept as {name}{KEPT_SUFFIX} and still runs first")
    if report.driver:
        print(f"registered the gitmodel diff driver ({', '.join(report.driver)})")
    if not (report.created or report.hooks or report.driver):
        print(f"gitmodel is already set up in {report.root}")
    return 0
