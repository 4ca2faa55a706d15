"""Parse metrics and params files (JSON, YAML, TOML, CSV/TSV) into flat dicts.

Metrics and params are plain files committed beside the code, in whatever
format the training script wrote. Everything downstream (show, diff, report,
plot, the registry's `show`) wants one shape: a flat mapping from a dotted key
(`train.lr`, `eval.accuracy`) to a scalar. Nested mappings are flattened with
dots; lists are kept as leaf values (shown, not diffed) because their indices
rarely mean the same thing across versions.

CSV/TSV files need a header row. `load_text` takes the last row (the final
value of a training log); `load_series` gives every row, for plots.

The format is chosen by the file extension; an unknown extension is parsed as
YAML, which also accepts JSON. Errors raise `FormatError`, which keeps the
file name and a one-line detail so callers can add the revision it came from.

These files come from commits, so from anyone whose commits are fetched: a
file nested deeper than `MAX_DEPTH` or holding more than `MAX_VALUES` values
(a YAML alias used over and over expands to millions, and one that contains
itself never ends) is refused with one line before anything walks it, as is
whatever a parser fails on besides its syntax errors (its recursion limit,
an integer of more than 4300 digits).
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
import json
import math
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gitmodel.errors import GitmodelError

__all__ = [
    "FormatError",
    "check_tree",
    "detect_format",
    "failure",
    "flatten",
    "is_number",
    "load_bytes",
    "load_file",
    "load_series",
    "load_text",
    "load_toml",
]

FORMATS = ("json", "yaml", "toml", "csv", "tsv")
MAX_DEPTH = 100  # nesting levels: no metrics file needs more, and flattening recurses once per level
MAX_VALUES = 1_000_000  # values in one file, each use of a YAML alias counted again (what flattening makes)

_EXTENSIONS = {
    ".json": "json",
    ".yaml": "yaml",
    ".yml": "yaml",
    ".toml": "toml",
    ".csv": "csv",
    ".tsv": "tsv",
}


class FormatError(GitmodelError):
    """A metrics or params file could not be parsed.

    `filename` and `detail` are kept apart so a caller reading many revisions
    can say "at v1.2.0, metrics.json: ..." and carry on with the rest.
    """

    def __init__(self, filename: str, detail: str, *,
                 hint: str | None = "fix the file and run the command again") -> None:
        self.filename = filename
        self.detail = detail
        super().__init__(f"{filename}: {detail}", hint=hint)


def detect_format(filename: str) -> str:
    """The format name for `filename` by extension ('yaml' when unknown)."""
    return _EXTENSIONS.get(os.path.splitext(filename)[1].lower(), "yaml")


def is_number(value: Any) -> bool:
    """True for ints and finite floats; False for bools (a flag is not a measure)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, float) and math.isfinite(value)


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Flatten nested mappings into dotted keys; leaves are made JSON-safe.

    `{"a": {"b": 1}, "c": [1, 2]}` → `{"a.b": 1, "c": [1, 2]}`. An empty
    nested mapping disappears (it has no values to show).
    """
    out: dict[str, Any] = {}
    _flatten_into(out, data, prefix)
    return out


def _flatten_into(out: dict[str, Any], data: Mapping[Any, Any], prefix: str) -> None:
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            _flatten_into(out, value, f"{name}.")
        else:
            out[name] = _leaf(value)


def _leaf(value: Any) -> Any:
    # YAML and TOML yield dates and times; JSON output and display want text.
    if isinstance(value, (_dt.date, _dt.time)):
        return value.isoformat()
    if isinstance(value, list):
        return [_leaf(v) if not isinstance(v, Mapping) else flatten(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def load_text(text: str, filename: str, fmt: str | None = None) -> dict[str, Any]:
    """Parse `text` (the content of `filename`) into a flat dict with dotted keys.

    CSV/TSV: the last data row. Empty text gives `{}`.
    """
    fmt = fmt or detect_format(filename)
    if fmt in ("csv", "tsv"):
        rows = _csv_rows(text, filename, fmt)
        return rows[-1] if rows else {}
    if not text.strip():
        return {}
    return _flat(_parse_tree(text, filename, fmt), filename)


def _flat(data: Any, filename: str) -> dict[str, Any]:
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise FormatError(
            filename, f"expected a mapping of names to values at the top, found {type(data).__name__}"
        )
    return flatten(data)


def load_series(text: str, filename: str, fmt: str | None = None) -> list[dict[str, Any]]:
    """Every row of a CSV/TSV file, or one row for the other formats.

    A JSON/YAML file whose top level is a list of mappings is also a series.
    """
    fmt = fmt or detect_format(filename)
    if fmt in ("csv", "tsv"):
        return _csv_rows(text, filename, fmt)
    if not text.strip():
        return []
    data = _parse_tree(text, filename, fmt)
    if isinstance(data, list) and all(isinstance(r, Mapping) for r in data):
        return [flatten(r) for r in data]
    return [_flat(data, filename)]


def load_bytes(data: bytes, filename: str, fmt: str | None = None) -> dict[str, Any]:
    """`load_text` on raw bytes (UTF-8, a BOM allowed), e.g. a git blob."""
    return load_text(decode(data, filename), filename, fmt)


def load_file(path: str | os.PathLike[str], fmt: str | None = None) -> dict[str, Any]:
    """`load_text` on a file on disk."""
    p = Path(path)
    return load_bytes(p.read_bytes(), str(path), fmt)


def decode(data: bytes, filename: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise FormatError(filename, f"not UTF-8 text (byte {e.start})") from None


def _parse_tree(text: str, filename: str, fmt: str) -> Any:
    """The parsed tree, checked by `check_tree`: what the flattening and every
    reader after it may walk without a limit of its own."""
    if fmt == "json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise FormatError(filename, f"not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})") from None
        except (RecursionError, ValueError) as e:
            raise FormatError(filename, f"not valid JSON ({failure(e)})") from None
    elif fmt == "toml":
        data = load_toml(text, filename)
    elif fmt == "yaml":
        data = _load_yaml(text, filename)
    else:
        raise FormatError(filename, f"unknown format {fmt!r} (use one of {', '.join(FORMATS)})")
    check_tree(data, filename)
    return data


def load_toml(text: str, filename: str) -> dict[str, Any]:
    """TOML text as tomllib reads it; every failure a FormatError (the
    config's reader gives it its own hint)."""
    import tomllib

    try:
        return tomllib.loads(text)
    except (RecursionError, ValueError) as e:  # TOMLDecodeError is a ValueError
        raise FormatError(filename, f"not valid TOML ({failure(e)})") from None


def failure(e: BaseException) -> str:
    """A parser's failure in one line, for the parsers' failures that are not
    syntax errors too: nesting past the interpreter's recursion limit, an
    integer too long to convert."""
    if isinstance(e, RecursionError):
        return "nested too deeply to read"
    if "integer string conversion" in str(e):  # Python's own limit, whose message names a Python API
        return f"a number of more than {sys.get_int_max_str_digits()} digits"
    return _one_line(str(e))


def check_tree(data: Any, filename: str) -> None:
    """Refuse a parsed tree nested more than MAX_DEPTH levels or holding more
    than MAX_VALUES values.  Iterative, and it counts every visit: a YAML
    alias is one shared object to the parser, but every use of it is walked
    again by the flattening (2^30 values from 30 lines), and one that
    contains itself is a cycle."""
    stack: list[tuple[Any, int]] = [(data, 0)]
    seen = 0
    while stack:
        node, depth = stack.pop()
        seen += 1
        if seen > MAX_VALUES:
            raise FormatError(filename, f"holds more than {MAX_VALUES:,} values (counting every use of a YAML alias)")
        if isinstance(node, Mapping):
            children: Any = node.values()
        elif isinstance(node, (list, tuple, set, frozenset)):
            children = node
        else:
            continue
        if depth >= MAX_DEPTH:
            raise FormatError(filename, f"nested more than {MAX_DEPTH} levels deep (or an alias that contains itself)")
        stack.extend((child, depth + 1) for child in children)


def _load_yaml(text: str, filename: str) -> Any:
    # Imported here: most commands never read YAML, and `--help` must stay fast.
    import yaml

    # The C loader is ~10x faster, which matters for `metrics show --all-tags`.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e)
        raise FormatError(filename, f"not valid YAML ({where}{_one_line(str(problem))})") from None
    except (RecursionError, ValueError, OverflowError) as e:
        # Values the constructor cannot build (a 13th month, a 5000-digit int),
        # and the pure-Python loader's recursion where the C one is missing.
        raise FormatError(filename, f"not valid YAML ({failure(e)})") from None


def _csv_rows(text: str, filename: str, fmt: str) -> list[dict[str, Any]]:
    delimiter = "\t" if fmt == "tsv" else ","
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        rows = [r for r in reader if any(cell.strip() for cell in r)]
    except csv.Error as e:
        raise FormatError(filename, f"not valid {fmt.upper()} (line {reader.line_num}: {e})") from None
    if not rows:
        return []
    header = [h.strip() for h in rows[0]]
    if any(not h for h in header) or len(set(header)) != len(header):
        raise FormatError(filename, f"the first {fmt.upper()} row must be a header of distinct, non-empty column names")
    out: list[dict[str, Any]] = []
    for lineno, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise FormatError(
                filename, f"row {lineno} has {len(row)} columns but the header has {len(header)}"
            )
        out.append({h: _csv_value(cell) for h, cell in zip(header, row)})
    return out


def _csv_value(cell: str) -> Any:
    """Numbers become numbers; an empty cell is None; everything else stays text."""
    s = cell.strip()
    if not s:
        return None
    try:
        return int(s)
    except ValueError:
        pass
    try:
        return float(s)
    except ValueError:
        pass
    low = s.lower()
    if low in ("true", "false"):
        return low == "true"
    return s


def _one_line(s: str) -> str:
    return " ".join(s.split())
