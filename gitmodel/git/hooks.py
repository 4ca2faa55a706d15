"""Installing the git hooks and registering the diff driver.

The hooks are the shell shims in the top-level `hooks/` folder (shipped in
the wheel as `gitmodel/hookscripts`).  Installing one writes a copy into the
folder git runs hooks from (`git rev-parse --git-path hooks`, which follows
`core.hooksPath` and, in a linked worktree, leads to the shared hooks of the
main repository) with the absolute path of the interpreter that installed it
filled in, so the hook runs the same gitmodel even when no virtualenv is
active; if that interpreter is gone it falls back to `gitmodel` on PATH.

A hook the user already had is never overwritten: it is renamed NAME.legacy
(the pre-commit framework's convention) and the shim runs it first, with
the same arguments and input.  Uninstalling removes only our shims and puts
the legacy hooks back.  Our shims are recognised by a marker line, so
installing twice is harmless and a hook the user wrote over ours is left
alone.
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from dataclasses import dataclass, field

from gitmodel.errors import GitmodelError
from gitmodel.git import runner as gitops
from gitmodel.platform import control
from gitmodel.platform.atomic import write_atomic
from gitmodel.repo import Repo

HOOKS = ("pre-push", "post-checkout", "post-merge", "post-rewrite", "pre-commit")
MARKER = "gitmodel-hook-shim"
LEGACY_SUFFIX = ".legacy"
_PYTHON_LINE = re.compile(r"^GITMODEL_PYTHON=''", re.M)

ATTRIBUTES = ".gitattributes"
# (line, why) pairs written to the committed .gitattributes.
ATTRIBUTE_LINES = (
    ("*.gm diff=gitmodel", "show pointer changes as sizes and file lists in `git diff`"),
    # `gitmodel add` appends to .gitignore files: two branches that each track a
    # new file would otherwise conflict at the end of the same .gitignore.
    (".gitignore merge=union", "keep both sides' lines when branches each track new files"),
)
DRIVER_KEY = "diff.gitmodel.textconv"


@dataclass
class HookReport:
    folder: str
    installed: list[str] = field(default_factory=list)  # written or rewritten
    unchanged: list[str] = field(default_factory=list)  # ours already, up to date
    kept: list[str] = field(default_factory=list)  # user hooks moved to NAME.legacy (or put back)
    removed: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)  # uninstall: not ours, left alone


def hooks_dir(repo: Repo) -> str:
    """Where git looks for this repository's hooks (core.hooksPath aware)."""
    out = gitops.run(["rev-parse", "--path-format=absolute", "--git-path", "hooks"], cwd=repo.root)
    return out.stdout.decode().strip()


def template(name: str) -> str:
    # Beside this module: `hookscripts` is a symlink to the top-level hooks/
    # folder in a source tree, and a copy of it in the wheel (package data).
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "hookscripts", name), encoding="utf-8") as f:
        return f.read()


def render(name: str, python: str | None = None) -> str:
    """The shim for hook `name` with the interpreter recorded in it."""
    text = template(name)
    python = python or sys.executable
    if not python:
        return text  # no interpreter known: the shim falls back to `gitmodel` on PATH
    return _PYTHON_LINE.sub(lambda _: f"GITMODEL_PYTHON={shlex.quote(python)}", text, count=1)


def is_ours(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except (FileNotFoundError, IsADirectoryError):
        return False
    return MARKER.encode() in head


def install(repo: Repo, python: str | None = None) -> HookReport:
    """Install every hook; harmless when run again.  Checks every hook before
    writing any, so a refusal changes nothing."""
    folder = hooks_dir(repo)
    report = HookReport(folder)
    plan: list[tuple[str, str, bool]] = []  # (name, text, move the user's hook aside)
    for name in HOOKS:
        path = os.path.join(folder, name)
        text = render(name, python)
        if os.path.isdir(path):
            raise GitmodelError(f"{path} is a folder, not a hook", hint="move it away and run `gitmodel install-hooks`")
        if is_ours(path):
            with open(path, encoding="utf-8", errors="replace") as f:
                same = f.read() == text and os.access(path, os.X_OK)
            if same:
                report.unchanged.append(name)
            else:
                plan.append((name, text, False))
            continue
        move = os.path.lexists(path)
        if move and os.path.lexists(path + LEGACY_SUFFIX):
            raise GitmodelError(f"{path} and {name}{LEGACY_SUFFIX} both exist and neither is gitmodel's",
                                hint=f"merge them into {name}{LEGACY_SUFFIX}, then run `gitmodel install-hooks`")
        plan.append((name, text, move))
    if plan:
        os.makedirs(folder, exist_ok=True)
    for name, text, move in plan:
        path = os.path.join(folder, name)
        if move:
            os.replace(path, path + LEGACY_SUFFIX)  # the user's hook, kept whole (a rename, not a copy)
            report.kept.append(name)
        write_atomic(path, text.encode("utf-8"), mode=0o755)
        report.installed.append(name)
    return report


def uninstall(repo: Repo) -> HookReport:
    """Remove our shims and put back the hooks they had moved aside."""
    folder = hooks_dir(repo)
    report = HookReport(folder)
    for name in HOOKS:
        path = os.path.join(folder, name)
        legacy = path + LEGACY_SUFFIX
        if not is_ours(path):
            if os.path.lexists(path):
                report.foreign.append(name)
            continue
        if os.path.lexists(legacy):
            os.replace(legacy, path)  # one rename: never a moment without the user's hook
            report.kept.append(name)
        else:
            os.unlink(path)
        report.removed.append(name)
    return report


# -- the diff driver ---------------------------------------------------------

def driver_command(python: str | None = None) -> str:
    python = python or sys.executable
    return f"{shlex.quote(python)} -m gitmodel textconv" if python else "gitmodel textconv"


def register_driver(repo: Repo, *, stage: bool = True, python: str | None = None) -> list[str]:
    """Make `git diff` show pointer changes readably: the attribute line is
    committed (`.gitattributes`), the command is per clone (git config, which
    git never copies in a clone).  Returns what it changed, for the report."""
    changed: list[str] = []
    text = control.read_text(repo.root, ATTRIBUTES) or ""
    present = {line.strip() for line in text.splitlines()}
    missing = [(line, why) for line, why in ATTRIBUTE_LINES if line not in present]
    if missing:
        if text and not text.endswith("\n"):
            text += "\n"
        text += "".join(f"# gitmodel: {why}\n{line}\n" for line, why in missing)
        control.write(repo.root, ATTRIBUTES, text.encode("utf-8"))
        changed.append(ATTRIBUTES)
        if stage:
            gitops.stage(repo.root, [ATTRIBUTES])
    if ensure_driver(repo, python, refresh=True):
        changed.append(f"git config {DRIVER_KEY}")
    return changed


def ensure_driver(repo: Repo, python: str | None = None, *, refresh: bool = False) -> bool:
    """Register the diff command where it is missing (git config is never
    cloned; the committed .gitattributes is left alone).  With `refresh`, a
    command of ours is also brought up to date (its interpreter may be gone);
    a command the user chose is theirs to keep.  Returns whether it wrote."""
    current = gitops.run(["config", "--get", DRIVER_KEY], cwd=repo.root, check=False).stdout.decode().strip()
    wanted = driver_command(python)
    if current and not (refresh and current != wanted and current.endswith("gitmodel textconv")):
        return False
    gitops.config_set(repo.root, DRIVER_KEY, wanted)
    return True
