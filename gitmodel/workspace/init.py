"""Setting a repository up for gitmodel."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from gitmodel.config import CONFIG_DIR, CONFIG_FILE, DEFAULT_TEXT, LOCAL_FILE
from gitmodel.errors import GitmodelError
from gitmodel.git import runner as gitops
from gitmodel.platform import control
from gitmodel.repo import Repo


@dataclass
class InitReport:
    root: str
    cache: str
    created: list[str] = field(default_factory=list)
    hooks: list[str] = field(default_factory=list)  # git hooks installed (gitmodel.hooks)
    kept_hooks: list[str] = field(default_factory=list)  # the user's own hooks, kept as NAME.before-gitmodel
    driver: list[str] = field(default_factory=list)  # what registering the diff driver changed


def init(repo: Repo, *, stage: bool = True, hooks: bool = True) -> InitReport:
    """Create the committed config and the cache; harmless when run again.
    Checks before writing anything: a committed config that is not checked
    out (writing the default would replace the team's), a hooks folder
    hooks cannot go in."""
    from gitmodel.git import hooks as git_hooks

    back = repo.config_restore_command()
    if back:
        raise GitmodelError(f"{CONFIG_DIR}/{CONFIG_FILE} is committed but not in the work tree (a sparse checkout "
                            f"or a deletion); `gitmodel init` would replace the team's config",
                            hint=f"bring it back with `{back}`")
    if hooks:
        git_hooks.check_folder(repo)
    report = InitReport(repo.root, repo.cache.root)
    # Every control file init writes is judged before the first write: a
    # .gitattributes folder must not leave a half-done init behind.
    control.exists(repo.root, git_hooks.ATTRIBUTES)
    control.ensure_dir(repo.root, CONFIG_DIR)  # a symlink or a file there is refused, never written through
    files = {
        f"{CONFIG_DIR}/{CONFIG_FILE}": DEFAULT_TEXT,
        f"{CONFIG_DIR}/.gitignore": f"# per-user settings and secrets stay out of git\n/{LOCAL_FILE}\n",
    }
    missing = [rel for rel in files if not control.exists(repo.root, rel)]  # all judged, then written
    for rel in missing:
        control.write(repo.root, rel, files[rel].encode())
        report.created.append(rel)
    if not os.path.isdir(repo.cache.tmp):
        report.created.append(repo.cache.root)
    repo.cache.ensure()
    if stage and report.created:
        gitops.stage(repo.root, [r for r in files if r in report.created])
    if hooks:
        installed = git_hooks.install(repo)
        report.hooks, report.kept_hooks = installed.installed, installed.kept
    report.driver = git_hooks.register_driver(repo, stage=stage)
    return report
