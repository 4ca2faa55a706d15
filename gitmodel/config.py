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
