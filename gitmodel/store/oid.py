"""Content addresses.  An oid names its algorithm (`xxh128:<32 hex>`) so that
another can be added later without ambiguity: the algorithm is also part of
the cache and remote paths."""

from __future__ import annotations

import re

import xxhash

from gitmodel.errors import PointerError

ALGO = "xxh128"
_OID_RE = re.compile(r"^xxh128:[0-9a-f]{32}$")


def new_hasher() -> xxhash.xxh3_128:
    return xxhash.xxh3_128()


def of_bytes(data: bytes | memoryview) -> str:
    return f"{ALGO}:{xxhash.xxh3_128_hexdigest(data)}"


def from_hasher(h: xxhash.xxh3_128) -> str:
    return f"{ALGO}:{h.hexdigest()}"


def is_valid(oid: str) -> bool:
    return _OID_RE.match(oid) is not None


def check(oid: str, where: str) -> str:
    """Return `oid` if well formed, else raise naming `where` it came from."""
    if not is_valid(oid):
        raise PointerError(f"{where}: malformed oid {oid[:80]!r} (expected xxh128:<32 hex digits>)")
    return oid


def relpath(oid: str) -> str:
    """Path of an object below an object store root: `xxh128/ab/cdef...`.

    Sharded by the first two hex digits, like git and DVC, so no folder grows
    past a few thousand entries per million objects."""
    algo, hexd = oid.split(":", 1)
    return f"{algo}/{hexd[:2]}/{hexd[2:]}"


def short(oid: str) -> str:
    return oid.split(":", 1)[-1][:10]
