"""One exception hierarchy; the CLI maps it to one line and an exit code.

Library code raises these and never prints or exits: the Python API lets
them propagate, the CLI turns them into `gitmodel: <message>` and exit 1.
"""

from __future__ import annotations


class GitmodelError(Exception):
    """An expected failure: bad input or a bad environment (exit code 1).

    The message says what happened and, where there is one, what to run next.
    """

    exit_code = 1


class NotARepositoryError(GitmodelError):
    pass


class PathError(GitmodelError):
    """A path is outside the repository, inside .git, missing, or unusable."""


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


# Environment failures that are the user's to fix, not bugs: one line, exit 1.
_OS_HINTS = {
    28: "no space left on the device; free some space and run the command again",  # ENOSPC
    122: "disk quota exceeded; free some space and run the command again",  # EDQUOT
    13: "permission denied; fix the permissions and run the command again",  # EACCES
    1: "operation not permitted; fix the permissions and run the command again",  # EPERM
    30: "the filesystem is read-only; gitmodel needs to write there",  # EROFS
    5: "input/output error from the disk; check the device",  # EIO
    27: "a file grew past the size limit (ulimit -f) or the filesystem's maximum; "  # EFBIG
        "raise the limit or free some space, and run the command again",
}


def os_error_message(e: OSError) -> str | None:
    hint = _OS_HINTS.get(e.errno or 0)
    if hint is None:
        return None
    where = f" ({e.filename})" if e.filename else ""
    return f"{e.strerror or 'error'}{where}: {hint}"
