"""One exception hierarchy; the CLI maps it to one line and an exit code.

Library code raises these and never prints or exits: the Python API lets
them propagate, the CLI turns them into `gitmodel: error: <message>; <hint>`
and exit 1.

An error carries what happened (`message`) and, where there is one, what to
run next (`hint`) as separate data: a caller of the Python API can show or
drop the hint, and the CLI renders both on one line.  `str(error)` is that
same line, so code that only prints errors sees today's text.
"""

from __future__ import annotations


class GitmodelError(Exception):
    """An expected failure: bad input or a bad environment (exit code 1).

    `message` says what happened; `hint`, where there is one, what to run
    next (e.g. "run `gitmodel fsck`").  Raise with both kept apart:

        raise ObjectMissingError(f"{oid} is not in the cache", hint="run `gitmodel pull`")
    """

    exit_code = 1

    def __init__(self, message: object = "", *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = str(message)
        self.hint = hint

    def __str__(self) -> str:
        return render(self.message, self.hint)


def render(message: str, hint: str | None) -> str:
    """The one line an error is shown as: `what happened; what to run next`."""
    return f"{message}; {hint}" if hint else message


class NotARepositoryError(GitmodelError):
    pass


class PathError(GitmodelError):
    """A path is outside the repository, inside .git, missing, or unusable."""


class UnsafePathError(PathError):
    """A path that comes from a repository (a pointer, a manifest, a
    declaration, a tag message) would reach git's or gitmodel's control files."""


class PointerError(GitmodelError):
    """A pointer or manifest file could not be parsed or is hostile."""


class ObjectMissingError(GitmodelError):
    """An object is in neither the cache nor (where asked) the remote."""


class CorruptObjectError(GitmodelError):
    """Content does not match the oid it is stored under."""


class LockError(GitmodelError):
    """Another gitmodel process holds the repository lock."""


class ConfigError(GitmodelError):
    pass


class GitError(GitmodelError):
    pass


class RemoteError(GitmodelError):
    pass


# Refusals: hostile entries a command skipped while it went on with the safe
# ones (a pointer at `.git.gm` among a repository's models).  Kept here, in
# the process, rather than in each command's report, so that the one place
# that lists pointers can refuse and every command, hook and API call reports
# it: the CLI prints each as an error line and exits 1, the API raises.
_refused: dict[str, GitmodelError] = {}


def refuse(error: GitmodelError) -> None:
    """Record that an entry was skipped because of `error` (once per line)."""
    _refused.setdefault(str(error), error)


def any_refused() -> bool:
    """Whether something was refused so far (left for take_refused)."""
    return bool(_refused)


def take_refused() -> list[GitmodelError]:
    """The refusals recorded so far, cleared."""
    out = list(_refused.values())
    _refused.clear()
    return out


# Environment failures that are the user's to fix, not bugs: one line, exit 1.
# errno -> (what happened, what to do next or None).
_OS_HINTS: dict[int, tuple[str, str | None]] = {
    28: ("no space left on the device", "free some space and run the command again"),  # ENOSPC
    122: ("disk quota exceeded", "free some space and run the command again"),  # EDQUOT
    13: ("permission denied", "fix the permissions and run the command again"),  # EACCES
    1: ("operation not permitted", "fix the permissions and run the command again"),  # EPERM
    30: ("the filesystem is read-only; gitmodel needs to write there", None),  # EROFS
    5: ("input/output error from the disk", "check the device"),  # EIO
    27: ("a file grew past the size limit (ulimit -f) or the filesystem's maximum",  # EFBIG
         "raise the limit or free some space, and run the command again"),
}


def os_error(e: OSError) -> GitmodelError | None:
    """The environment failure `e` as a GitmodelError (message and hint
    apart), or None when its errno is not one of those: then it is a bug."""
    known = _OS_HINTS.get(e.errno or 0)
    if known is None:
        return None
    what, hint = known
    where = f" ({e.filename})" if e.filename else ""
    return GitmodelError(f"{e.strerror or 'error'}{where}: {what}", hint=hint)


def os_error_message(e: OSError) -> str | None:
    """`os_error(e)` as the one line the CLI prints, or None."""
    error = os_error(e)
    return None if error is None else str(error)
