"""Installing the git hooks and registering the diff driver.

The hooks are the shell shims in the top-level `hooks/` folder (shipped in
the wheel as `gitmodel/hookscripts`).  Installing one writes a copy into the
folder git runs hooks from (`git rev-parse --git-path hooks`, which follows
`core.hooksPath` and, in a linked worktree, leads to the shared hooks of the
main repository) with the absolute path of the interpreter that installed it
filled in, so the hook runs the same gitmodel even when no virtualenv is
active; if that interpreter is gone it falls back to `gitmodel` on PATH.

A hook the user already had is never overwritten: it is renamed
NAME.before-gitmodel and the shim runs it first, with the same arguments
and input.  Not NAME.legacy: that is the pre-commit framework's name for the
hook it displaced, and its script runs NAME.legacy, so a framework script
kept under that name ran itself.  The framework installed after us moves our
shim to NAME.legacy and runs it: that chain is left as it is.  Uninstalling
removes only our shims and puts the kept hooks back.  Our shims are
recognised by a marker line, so installing twice is harmless and a hook the
user wrote over ours is left alone.
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
KEPT_SUFFIX = ".before-gitmodel"  # the user's hook, run first by our shim
LEGACY_SUFFIX = ".legacy"  # the pre-commit framework's: where it keeps (and runs) the hook it displaced
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
    except OSError:  # absent, a folder, unreadable: not a shim of ours
        return False
    return MARKER.encode() in head


NOTICE_MARK = "hooks-notice"  # in the cache: this clone was told it lacks our hooks


def clone_notice(repo: Repo) -> str | None:
    """The line a clone without gitmodel's hooks is told, once: git never
    clones hooks, so there `git push` uploads nothing and `git checkout`
    updates no model.  Not installed for the user (as `git lfs install`
    would): a clone gitmodel merely reads keeps `.git` as it came.  A hooks
    folder that is not a folder (`core.hooksPath=/dev/null`) is hooks turned
    off on purpose, and gets no advice.  The mark is left only once told, so
    a repository with its hooks has no file more in its cache."""
    mark = os.path.join(repo.cache.root, NOTICE_MARK)
    if os.path.lexists(mark) or is_ours(os.path.join(repo.common_dir, "hooks", HOOKS[0])):
        return None  # told already, or the usual hooks folder has ours: no git call
    folder = hooks_dir(repo)
    if os.path.lexists(folder) and not os.path.isdir(folder):
        return None
    if any(is_ours(os.path.join(folder, n + suffix)) for n in HOOKS for suffix in ("", LEGACY_SUFFIX)):
        return None
    try:
        write_atomic(mark, b"this clone was told that it has no gitmodel git hooks\n")
    except OSError:
        return None  # a cache we cannot write: better silent than said on every command
    return ("this clone has no gitmodel git hooks, so `git push` will not upload models and `git checkout` will "
            "not update them: run `gitmodel install-hooks` (said once)")


def check_folder(repo: Repo) -> str:
    """The hooks folder, refused in one line where hooks cannot be installed:
    `core.hooksPath=/dev/null` (a common way to turn hooks off), a file, a
    folder that is not writable."""
    folder = hooks_dir(repo)
    hint = ("point `core.hooksPath` at a folder (or `git config --unset core.hooksPath`); "
            "`gitmodel init --no-hooks` sets gitmodel up without them")
    if os.path.lexists(folder) and not os.path.isdir(folder):
        raise GitmodelError(f"git's hooks folder {folder} is not a folder (core.hooksPath), so git runs no hooks "
                            f"there and gitmodel cannot install its own", hint=hint)
    probe = folder
    while not os.path.isdir(probe):  # the nearest folder that exists is where makedirs will write
        parent = os.path.dirname(probe)
        if parent == probe:
            break
        probe = parent
    if not os.access(probe, os.W_OK | os.X_OK):
        raise GitmodelError(f"git's hooks folder {folder} is not writable, so gitmodel cannot install its hooks",
                            hint=hint)
    return folder


@dataclass
class _Step:
    name: str
    dest: str  # where the shim is written
    text: str
    keep: tuple[str, str] | None = None  # (from, to): the user's hook, renamed first


def install(repo: Repo, python: str | None = None) -> HookReport:
    """Install every hook; harmless when run again.  Checks every hook before
    writing any, so a refusal changes nothing."""
    folder = check_folder(repo)
    report = HookReport(folder)
    plan: list[_Step] = []
    for name in HOOKS:
        path = os.path.join(folder, name)
        kept, legacy = path + KEPT_SUFFIX, path + LEGACY_SUFFIX
        text = render(name, python)
        if os.path.isdir(path):
            raise GitmodelError(f"{path} is a folder, not a hook", hint="move it away and run `gitmodel install-hooks`")
        if is_ours(path):
            dest, keep = path, None
            if os.path.lexists(legacy) and not is_ours(legacy) and not os.path.lexists(kept):
                # An older gitmodel kept the user's hook as NAME.legacy: move it
                # where this shim looks (a pre-commit script there ran itself).
                keep = (legacy, kept)
        elif os.path.lexists(path) and is_ours(legacy):
            # The pre-commit framework (or a tool of its convention) was installed
            # after us: its script runs our shim as NAME.legacy.  Already chained.
            dest, keep = legacy, None
        else:
            if os.path.lexists(path) and os.path.lexists(kept):
                raise GitmodelError(f"{path} and {name}{KEPT_SUFFIX} both exist and neither is gitmodel's",
                                    hint=f"merge them into {name}{KEPT_SUFFIX}, then run `gitmodel install-hooks`")
            dest, keep = path, (path, kept) if os.path.lexists(path) else None
        if keep is None and _current(dest, text):
            report.unchanged.append(name)
        else:
            plan.append(_Step(name, dest, text, keep))
    if plan:
        os.makedirs(folder, exist_ok=True)
    for step in plan:
        if step.keep is not None:
            os.replace(*step.keep)  # the user's hook, kept whole (a rename, not a copy)
            report.kept.append(step.name)
        write_atomic(step.dest, step.text.encode("utf-8"), mode=0o755)
        report.installed.append(step.name)
    return report


def _current(path: str, text: str) -> bool:
    """Whether `path` is already this shim, runnable."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read() == text and os.access(path, os.X_OK)
    except OSError:
        return False


def uninstall(repo: Repo) -> HookReport:
    """Remove our shims and put back the hooks they had moved aside."""
    folder = hooks_dir(repo)
    report = HookReport(folder)
    for name in HOOKS:
        path = os.path.join(folder, name)
        kept, legacy = path + KEPT_SUFFIX, path + LEGACY_SUFFIX
        if is_ours(path):
            ours = path
            # Ours at NAME: the kept hook goes back there; an older gitmodel kept it as NAME.legacy.
            back = kept if os.path.lexists(kept) else legacy if os.path.lexists(legacy) and not is_ours(legacy) \
                else None
        elif os.path.lexists(path) and is_ours(legacy):
            # The pre-commit framework runs our shim as NAME.legacy: the hook we
            # had kept takes that place, so the framework still runs it.
            ours, back = legacy, kept if os.path.lexists(kept) else None
        else:
            if os.path.lexists(path):
                report.foreign.append(name)
            continue
        if back is not None:
            os.replace(back, ours)  # one rename: never a moment without the user's hook
            report.kept.append(name)
        else:
            os.unlink(ours)
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
