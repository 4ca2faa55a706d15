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
from gitmodel.platform.atomic import write_atomic
from gitmodel.store.paths import CONFIG_DIR as CONFIG_DIR  # one spelling: the path rule refuses it

CONFIG_FILE = "config.toml"
LOCAL_FILE = "config.local.toml"

DEFAULT_TEXT = """\
# gitmodel configuration, committed with the repository.
# Per-user settings and secrets go in config.local.toml beside it (git-ignored).

[core]
# How checkout materialises files from the cache: reflink | hardlink | symlink | copy.
# reflink falls back to copy where the filesystem cannot clone.
link = "reflink"
"""


def read_file(path: str) -> dict[str, Any]:
    import tomllib  # on first read: commands that never look at the config (status) skip its start-up cost

    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        return {}
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: {e}. Fix the file by hand or restore it with "
                          f"`git checkout -- {os.path.basename(os.path.dirname(path))}/"
                          f"{os.path.basename(path)}`") from None
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
        try:
            with open(path, encoding="utf-8") as f:
                doc = tomlkit.parse(f.read())
        except FileNotFoundError:
            doc = tomlkit.document()
        except Exception as e:  # tomlkit raises its own ParseError family
            raise ConfigError(f"{path}: {e}") from None
        change(doc)
        os.makedirs(self.dir, exist_ok=True)
        write_atomic(path, tomlkit.dumps(doc).encode("utf-8"))
        self.data = merge(read_file(self.path), read_file(self.local_path))
