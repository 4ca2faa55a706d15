"""A gitmodel repository: a git work tree, its config, its cache, its lock,
and the rules for turning what a user typed into a safe repository path."""

from __future__ import annotations

import os
from functools import cached_property
from typing import TYPE_CHECKING

from gitmodel.config import CONFIG_DIR, CONFIG_FILE, Config
from gitmodel.errors import GitmodelError, PathError, UnsafePathError
from gitmodel.git import runner as gitops
from gitmodel.platform import control
from gitmodel.platform.lock import RepoLock
from gitmodel.store import paths
from gitmodel.store.cache import Cache
from gitmodel.store.statcache import StatCache

if TYPE_CHECKING:
    import pygit2


class Repo:
    def __init__(self, root: str, git_dir: str, common_dir: str) -> None:
        self.root = os.path.realpath(root)
        self.git_dir = git_dir
        self.common_dir = common_dir
        self.cache = Cache(os.path.join(common_dir, "gitmodel"))

    @classmethod
    def discover(cls, path: str | None = None) -> Repo:
        return cls(*gitops.discover(os.path.abspath(path or os.getcwd())))

    @cached_property
    def bare(self) -> bool:
        """A bare repository (the API's throwaway clones): its root is its git dir."""
        return self.root == os.path.realpath(self.git_dir)

    @cached_property
    def config(self) -> Config:
        return Config(self.root)

    @cached_property
    def git(self) -> pygit2.Repository:
        """The one in-process (pygit2) handle on this repository, opened on
        first use: every reader of this Repo shares it, and with it libgit2's
        caches of objects and packs.  pygit2 is imported here, not at start-up."""
        import pygit2

        return pygit2.Repository(self.root)

    @cached_property
    def statcache(self) -> StatCache:
        return StatCache(os.path.join(self.cache.root, "state.db"))

    @cached_property
    def lock(self) -> RepoLock:
        return RepoLock(os.path.join(self.cache.root, "lock"))

    def require_init(self) -> None:
        if not control.is_dir(self.root, CONFIG_DIR):  # a symlink or a file there: refused, one line
            back = self.config_restore_command()  # `gitmodel init` would overwrite the team's config
            raise GitmodelError(f"gitmodel is not set up in {self.root}",
                                hint=f"the committed {CONFIG_DIR}/ is not checked out here: run `{back}`" if back
                                else "run `gitmodel init` first")
        if not os.path.isdir(self.cache.tmp):
            # A fresh clone has the committed config but not the cache.
            self.cache.ensure()

    def config_restore_command(self) -> str | None:
        """When the committed `.gitmodel/config.toml` is in the index or HEAD
        but not in the work tree (a sparse checkout without `.gitmodel/`, or a
        deletion): the git command that brings it back.  Asked on the way to
        an error and by `init` before it writes: its git calls run only where
        the config file is absent, never on the usual path."""
        rel = f"{CONFIG_DIR}/{CONFIG_FILE}"
        if os.path.lexists(self.abspath(rel)):
            return None
        listed = gitops.run(["ls-files", "-t", "--cached", "--", rel], cwd=self.root, check=False).stdout
        if listed.startswith(b"S "):  # skip-worktree: outside the sparse checkout
            return f"git sparse-checkout add {CONFIG_DIR}"
        if listed:
            return f"git checkout -- {CONFIG_DIR}"
        if gitops.run(["cat-file", "-e", f"HEAD:{rel}"], cwd=self.root, check=False).returncode == 0:
            return f"git checkout HEAD -- {CONFIG_DIR}"  # its deletion is staged
        return None

    def abspath(self, rel: str) -> str:
        return os.path.join(self.root, rel)

    def relpath(self, user_path: str, cwd: str | None = None) -> str:
        """The repository-relative posix path for what the user typed.

        Refuses paths outside the work tree, inside .git or .gitmodel, and
        paths whose parent folders lead out of the repository through a
        symlink.  The last component is not resolved: a symlink named by the
        user is judged where it points by the caller."""
        full = os.path.normpath(os.path.join(cwd or os.getcwd(), user_path))
        if os.path.realpath(full) == self.root:  # its parent is outside: say what it really is
            raise PathError(f"{user_path}: is the repository root", hint="name a file or folder inside it")
        parent, name = os.path.split(full)
        real_parent = os.path.realpath(parent)
        if real_parent != self.root and not real_parent.startswith(self.root + os.sep):
            raise PathError(f"{user_path}: is outside the repository {self.root}")
        rel = os.path.relpath(os.path.join(real_parent, name), self.root)
        if rel == ".":
            raise PathError(f"{user_path}: is the repository root", hint="name a file or folder inside it")
        rel = rel.replace(os.sep, "/")
        why = paths.problem(rel)
        if why is not None:
            raise PathError(f"{user_path}: is {why}, which gitmodel does not track")
        return rel

    def check_rel(self, rel: str, where: str | None = None, *, control: bool = False) -> str:
        """`rel` when gitmodel may write it, else UnsafePathError: the rule
        for every path that comes from a repository (a pointer's own path, a
        declaration, a tag message), checked before the first write.

        The syntax rule (store/paths.py), then the file system: no parent
        folder is a symlink leading out of the work tree, and none is the
        top of a nested repository or submodule (a folder holding `.git`),
        whose files belong to that repository, not to this one."""
        paths.check(rel, where, control=control)
        if self.bare:
            return rel  # no work tree: nothing on disk to lead anywhere (a clone made to read a revision)
        shown = where or rel
        parent = os.path.dirname(rel)
        if parent:
            self.check_real(self.abspath(parent), shown)
        absp = self.abspath(rel)
        if os.path.islink(absp) and os.path.isdir(absp):
            # A tracked folder replaced by a symlink (`data -> .git`): checkout
            # would write through it.  A symlinked *file* is replaced, never
            # written through (and is how the symlink link mode looks).
            self.check_real(absp, shown)
        # The path itself and each folder above it: the top of a checked-out
        # nested repository (a `.git` folder or file), or a submodule's path
        # even before `git submodule update` has filled it.
        folder = rel
        while folder:
            if folder in self._submodules or os.path.lexists(os.path.join(self.root, folder, ".git")):
                where_ = "is" if folder == rel else f"is inside {folder}/,"
                raise UnsafePathError(f"{shown}: {where_} a nested repository or submodule",
                                      hint="gitmodel tracks files of this repository only")
            folder = os.path.dirname(folder)
        return rel

    def check_real(self, path: str, shown: str) -> str:
        """The real path of `path` (a folder gitmodel is about to write into,
        or a symlink it would follow), when it stays inside the work tree and
        out of control space: the path rule applied to where symlinks lead."""
        real = os.path.realpath(path)
        control = (os.path.realpath(self.git_dir), os.path.realpath(self.common_dir))
        why = paths.real_problem(real, self.root, control)
        if why is not None and why != "the repository root":
            raise UnsafePathError(f"{shown}: leads through a symlink to {real}, {why}", hint="remove that symlink")
        return real

    @cached_property
    def _submodules(self) -> frozenset[str]:
        """Submodule paths named in the committed `.gitmodules` (read by git,
        never through a symlink: git itself refuses a symlinked .gitmodules)."""
        path = os.path.join(self.root, ".gitmodules")
        if not os.path.isfile(path) or os.path.islink(path):
            return frozenset()
        proc = gitops.run(["config", "--file", ".gitmodules", "-z", "--get-regexp", r"^submodule\..*\.path$"],
                          cwd=self.root, check=False)
        found = set()
        for record in proc.stdout.decode("utf-8", "surrogateescape").split("\0"):
            _, _, value = record.partition("\n")
            if value:
                found.add(value.strip("/"))
        return frozenset(found)

    def inside(self, path: str) -> bool:
        real = os.path.realpath(path)
        return real == self.root or real.startswith(self.root + os.sep)
