"""The CLI's Progress (gitmodel.progress): a redrawn line on a terminal, a
plain line every few seconds elsewhere (CI logs), nothing when quiet.

The library only sees the Progress interface; drawing on stderr is the
command line's business, so it lives here."""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

from gitmodel.humanize import human_size


class TerminalProgress:
    def __init__(self, label: str, files: int = 0, size: int = 0, quiet: bool = False,
                 stream: TextIO | None = None) -> None:
        self.label = label
        self.total_files = files
        self.total_bytes = size
        self.files = 0
        self.bytes = 0
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.tty = self.stream.isatty()
        self.start = time.monotonic()
        self.last = self.start if not self.tty else 0.0
        self.interval = 0.1 if self.tty else 5.0
        self._mu = threading.Lock()
        self._drawn = False

    def add_total(self, files: int, size: int) -> None:
        with self._mu:
            self.total_files += files
            self.total_bytes += size

    def advance(self, files: int = 1, size: int = 0) -> None:
        with self._mu:
            self.files += files
            self.bytes += size
            now = time.monotonic()
            if not self.quiet and now - self.last >= self.interval:
                self.last = now
                self._draw(now)

    def _line(self, now: float) -> str:
        elapsed = max(now - self.start, 1e-6)
        rate = self.bytes / elapsed
        parts = [self.label, f"{self.files}/{self.total_files} files" if self.total_files else f"{self.files} files"]
        if self.total_bytes:
            parts.append(f"{human_size(self.bytes)}/{human_size(self.total_bytes)}")
        parts.append(f"{human_size(rate)}/s")
        if self.total_bytes and rate > 0 and self.bytes < self.total_bytes:
            parts.append(f"ETA {int((self.total_bytes - self.bytes) / rate)}s")
        return "  ".join(parts)

    def _draw(self, now: float) -> None:
        if self.tty:
            self.stream.write("\r\x1b[K" + self._line(now))
            self._drawn = True
        else:
            self.stream.write(self._line(now) + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.quiet:
            return
        if self._drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
