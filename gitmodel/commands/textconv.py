"""`gitmodel textconv FILE`: the diff driver git runs for `*.gm` files."""

from __future__ import annotations

import sys

from gitmodel.git.textconv import textconv


def run(path: str) -> int:
    sys.stdout.write(textconv(path))
    return 0
