"""Configuration: `.gitmodel/config.toml` (committed, team settings) merged
with `.gitmodel/config.local.toml` (git-ignored: per-user overrides and
secrets).  Read with the standard library's tomllib; written with tomlkit,
imported only when a command changes the config, because it keeps the
comments and layout of a file people also edit by hand."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from gitmodel.errors import ConfigError
from gitmodel.platform import control
from gitmodel.store.paths import CONFIG_DIR as CONFIG_DIR  # one spelling: the path rule refuses it

CONFIG_FILE = "config.toml"
LOCAL_FILE = "config.local.toml"
LOCAL_MODE = 0o600  # it may hold secrets (remote credentials): readable by its owner only

DEFAULT_TEXT = """\
# gitmodel configuration, committed with the repository.
# Per-user settings and secrets go in config.local.toml beside it (git-ignored).

[core]
# How checkout materialises files from the cache: reflink | hardlink | symlink | copy.
# reflink falls back to copy where the filesystem cannot clone.
link = "reflink"
"""


def _control(path: str) -> tuple[str, str]:
    """(repository root, `.gitmodel/NAME`) for a config file's path: the
    control-file rule judges `.gitmodel` and the file, never what is above."""
    folder, name = os.path.split(path)
    root, top = os.path.split(folder)
    return root, f"{top}/{name}"


def read_file(path: str) -> dict[str, Any]:
    import tomllib  # on first read: commands that never look at the config (status) skip its start-up cost

    root, rel = _control(path)
    data = control.read(root, rel)
    if data is None:
        return {}
    try:
        return tomllib.loads(data.decode("utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: {e}. Fix the file by hand or restore it with `git checkout -- {rel}`") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except (RecursionError, ValueError) as e:  # tomllib's failures besides its syntax errors: nesting, 4300-digit ints
        from gitmodel.formats import failure

        raise ConfigError(f"{path}: not valid TOML ({failure(e)})") from None


def merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        out[k] = merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


_UNITS = {"": 1, "b": 1, "k": 1 << 10, "kb": 1000, "kib": 1 << 10, "m": 1 << 20, "mb": 1000_000, "mib": 1 << 20,
          "g": 1 << 30, "gb": 1000_000_000, "gib": 1 << 30}


def parse_size(raw: Any) -> int | None:
    """Bytes from an int or a string like "64MiB" or "1.5 GB"; None when it is neither."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    if not isinstance(raw, str) or len(raw) > 40:
        return None
    text = raw.strip().lower()
    num = text.rstrip("abcdefghijklmnopqrstuvwxyz ").strip()
    unit = text[len(num):].strip()
    try:
        value = float(num)
    except ValueError:
        return None
    if unit not in _UNITS or not (value >= 0) or value > 1 << 60:
        return None
    return int(value * _UNITS[unit])


class Config:
    def __init__(self, root: str) -> None:
        self.dir = os.path.join(root, CONFIG_DIR)
        self.path = os.path.join(self.dir, CONFIG_FILE)
        self.local_path = os.path.join(self.dir, LOCAL_FILE)
        self.data = merge(read_file(self.path), read_file(self.local_path))

    def get(self, dotted: str, default: Any = None) -> Any:
        node: Any = self.data
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                return default
            node = node[part]
        return node

    @property
    def link(self) -> str:
        from gitmodel.platform.links import LINK_MODES
        mode = os.environ.get("GITMODEL_LINK") or self.get("core.link", "reflink")
        if mode not in LINK_MODES:
            raise ConfigError(f"{self.path}: core.link = {mode!r} is not one of {', '.join(LINK_MODES)}")
        return str(mode)

    @property
    def chunk_threshold(self) -> int | None:
        """`core.chunk_threshold`: files this large or larger are stored as
        chunks (bytes, or "64MiB"-style; "off" or false: never).  The
        environment's GITMODEL_CHUNK_THRESHOLD overrides it (tests, bench)."""
        from gitmodel.store.chunkstore import DEFAULT_THRESHOLD, MIN_THRESHOLD

        raw = os.environ.get("GITMODEL_CHUNK_THRESHOLD") or self.get("core.chunk_threshold", DEFAULT_THRESHOLD)
        if raw is False or (isinstance(raw, str) and raw.strip().lower() in ("off", "false", "never")):
            return None
        n = parse_size(raw)
        if n is None or n < MIN_THRESHOLD:
            raise ConfigError(f"{self.path}: core.chunk_threshold = {raw!r} is not a size of at least 1MiB "
                              f"(write it as bytes or like \"64MiB\", or \"off\")")
        return n

    def update(self, change: Callable[[Any], None], local: bool = False) -> None:
        """Apply `change` to the (tomlkit) document of one file and save it atomically."""
        import tomlkit

        path = self.local_path if local else self.path
        root, rel = _control(path)
        text = control.read_text(root, rel)
        try:
            doc = tomlkit.document() if text is None else tomlkit.parse(text)
        except Exception as e:  # tomlkit raises its own ParseError family
            raise ConfigError(f"{path}: {e}") from None
        change(doc)
        control.ensure_dir(root, CONFIG_DIR)
        control.write(root, rel, tomlkit.dumps(doc).encode("utf-8"), LOCAL_MODE if local else 0o644)
        self.data = merge(read_file(self.path), read_file(self.local_path))
