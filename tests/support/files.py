"""Making and reading files in tests' work trees and folders."""

from __future__ import annotations

import contextlib
import os
import random
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path


def write_at(path: Path, data: bytes | str) -> Path:
    """Write `data` (str: UTF-8) to `path`, making its folders; an existing
    file is made writable first (a checked-out file may be read-only)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        os.chmod(path, 0o644)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def write(root: Path, rel: str, data: bytes | str) -> Path:
    """write_at(root / rel, data): a file given by its path below a work tree."""
    return write_at(root / rel, data)


def write_files(root: Path, files: dict[str, bytes]) -> None:
    """write() each of {rel path: bytes} below root."""
    for rel, data in files.items():
        write(root, rel, data)


def read(root: Path, rel: str) -> bytes:
    return (root / rel).read_bytes()


def write_random_files(root: Path, folder: str, n: int, seed: int, most: int = 3000) -> dict[str, bytes]:
    """`n` files of 1..most random bytes (reproducible from `seed`) under
    root/folder, named f000.bin, f001.bin, ...; returns rel path -> bytes."""
    rnd = random.Random(seed)
    files = {f"{folder}/f{i:03}.bin": rnd.randbytes(rnd.randrange(1, most)) for i in range(n)}
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    return files


@contextlib.contextmanager
def read_only(*folders: Path) -> Iterator[None]:
    """Make folders truly unwritable, even for root (whom permission bits do
    not stop): chmod for a normal user, the immutable attribute for root."""
    if os.geteuid() != 0:
        modes = [f.stat().st_mode for f in folders]
        for f in folders:
            f.chmod(0o555)
        try:
            yield
        finally:
            for f, m in zip(folders, modes):
                f.chmod(stat.S_IMODE(m))
        return
    import pytest

    done: list[Path] = []
    try:
        for f in folders:
            r = subprocess.run(["chattr", "+i", str(f)], capture_output=True)
            if r.returncode != 0:
                pytest.skip(f"running as root and cannot make {f} immutable: {r.stderr!r}")
            done.append(f)
        yield
    finally:
        for f in done:
            subprocess.run(["chattr", "-i", str(f)], check=True)
