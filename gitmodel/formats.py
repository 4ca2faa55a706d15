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
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gitmodel.errors import GitmodelError

__all__ = [
    "FormatError",
    "detect_format",
    "flatten",
    "is_number",
    "load_bytes",
    "load_file",
    "load_series",
    "load_text",
]

FORMATS = ("json", "yaml", "toml", "csv", "tsv")

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
    data = _parse_tree(text, filename, fmt)
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
    return [load_text(text, filename, fmt)]


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
    if fmt == "json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as e:
            raise FormatError(filename, f"not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})") from None
    if fmt == "toml":
        import tomllib

        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise FormatError(filename, f"not valid TOML ({_one_line(str(e))})") from None
    if fmt == "yaml":
        return _load_yaml(text, filename)
    raise FormatError(filename, f"unknown format {fmt!r} (use one of {', '.join(FORMATS)})")


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
