"""Running transfers on a thread pool: the pool, retries with backoff, and
how objects are grouped into tasks.  Shared by push, fetch, fsck -r and gc -r."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TypeVar

from gitmodel.remote.spec import TransientRemoteError

T = TypeVar("T")
RETRIES = 4  # per object, on top of the S3 client's own request retries
BACKOFF = 0.5  # seconds, doubled per attempt, with jitter


def parallel(items: Sequence[T], fn: Callable[[T], None], jobs: int) -> None:
    """Run `fn` over `items` on `jobs` threads.  The first failure stops the
    others from starting new items and is raised once they finish their
    current one; Ctrl-C does the same."""
    if not items:
        return
    if jobs <= 1 or len(items) == 1:
        for x in items:
            fn(x)
        return
    it: Iterator[T] = iter(items)
    mu = threading.Lock()
    stop = threading.Event()
    errors: list[BaseException] = []

    def worker() -> None:
        while not stop.is_set():
            with mu:
                try:
                    x = next(it)
                except StopIteration:
                    return
            try:
                fn(x)
            except BaseException as e:  # noqa: BLE001 - handed to the main thread
                errors.append(e)
                stop.set()
                return

    threads = [threading.Thread(target=worker, daemon=True, name=f"gitmodel-transfer-{i}")
               for i in range(min(jobs, len(items)))]
    for t in threads:
        t.start()
    try:
        for t in threads:
            t.join()
    except BaseException:
        stop.set()
        for t in threads:
            t.join(timeout=30)
        raise
    if errors:
        raise errors[0]


def chunks(items: list[tuple[str, int]], most: int = 64, most_bytes: int = 4 << 20) -> list[list[tuple[str, int]]]:
    """Objects grouped for the thread pool: many small ones per task (the
    per-task overhead dwarfs a 2 KiB copy), a large one alone (so that the
    threads share large files evenly and progress moves)."""
    out: list[list[tuple[str, int]]] = []
    cur: list[tuple[str, int]] = []
    cur_bytes = 0
    for item in items:
        if cur and (len(cur) >= most or cur_bytes + item[1] > most_bytes):
            out.append(cur)
            cur, cur_bytes = [], 0
        cur.append(item)
        cur_bytes += item[1]
    if cur:
        out.append(cur)
    return out


def retrying(fn: Callable[[], T]) -> T:
    """Retry a whole object transfer on a transient failure, with backoff."""
    for attempt in range(RETRIES):
        try:
            return fn()
        except TransientRemoteError:
            if attempt == RETRIES - 1:
                raise
            time.sleep(BACKOFF * (2 ** attempt) * random.uniform(0.5, 1.5))
    raise AssertionError("unreachable")
