"""gitmodel.formats: JSON, YAML, TOML, CSV/TSV into flat dotted dicts; errors that name the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitmodel import formats
from gitmodel.errors import GitmodelError


def test_json_nested_keys_flattened_with_dots() -> None:
    text = '{"accuracy": 0.9, "eval": {"f1": 0.8, "per": {"a": 1}}, "tags": [1, 2], "name": "x", "ok": true}'
    assert formats.load_text(text, "metrics.json") == {
        "accuracy": 0.9, "eval.f1": 0.8, "eval.per.a": 1, "tags": [1, 2], "name": "x", "ok": True}


def test_yaml_and_dates_become_text() -> None:
    text = "train:\n  lr: 0.01\n  epochs: 10\n  when: 2024-05-01\nlayers: [64, 32]\nempty: {}\n"
    assert formats.load_text(text, "params.yaml") == {
        "train.lr": 0.01, "train.epochs": 10, "train.when": "2024-05-01", "layers": [64, 32]}
    assert formats.load_text("a: 1\n", "p.yml") == {"a": 1}


def test_toml() -> None:
    text = 'seed = 1\n[train]\nlr = 1e-3\n[train.opt]\nname = "adam"\n'
    assert formats.load_text(text, "params.toml") == {"seed": 1, "train.lr": 0.001, "train.opt.name": "adam"}


def test_csv_last_row_and_series() -> None:
    text = "step,accuracy,loss,phase\n1,0.5,2,warm\n2,0.75,1.5,\n"
    assert formats.load_text(text, "log.csv") == {"step": 2, "accuracy": 0.75, "loss": 1.5, "phase": None}
    assert formats.load_series(text, "log.csv") == [
        {"step": 1, "accuracy": 0.5, "loss": 2, "phase": "warm"},
        {"step": 2, "accuracy": 0.75, "loss": 1.5, "phase": None}]
    assert formats.load_text("a\tb\n1\t2\n", "m.tsv") == {"a": 1, "b": 2}
    assert formats.load_text("a,b\n", "m.csv") == {}  # a header and no rows: nothing yet


def test_series_of_other_formats() -> None:
    assert formats.load_series('[{"a": 1}, {"a": 2}]', "log.json") == [{"a": 1}, {"a": 2}]
    assert formats.load_series('{"a": 1}', "m.json") == [{"a": 1}]


def test_empty_bom_and_unknown_extension() -> None:
    assert formats.load_text("", "m.json") == {}
    assert formats.load_text("  \n", "m.yaml") == {}
    assert formats.load_bytes(b'\xef\xbb\xbf{"a": 1}', "m.json") == {"a": 1}
    # An unknown extension is read as YAML, which also reads JSON.
    assert formats.load_text('{"a": {"b": 2}}', "metrics.out") == {"a.b": 2}
    assert formats.detect_format("X.JSON") == "json"


def test_load_file(tmp_path: Path) -> None:
    p = tmp_path / "m.json"
    p.write_text('{"a": 1}')
    assert formats.load_file(p) == {"a": 1}


@pytest.mark.parametrize("text,name,needle", [
    ('{"a": 1,\n "b": }', "m.json", "line 2"),
    ("a: [1, 2\n", "p.yaml", "not valid YAML"),
    ("a = \n", "p.toml", "not valid TOML"),
    ("a,b\n1,2,3\n", "m.csv", "row 2 has 3 columns"),
    ("a,a\n1,2\n", "m.csv", "distinct"),
    ("[1, 2]", "m.json", "expected a mapping"),
    ("- 1\n", "m.yaml", "expected a mapping"),
])
def test_errors_are_one_line_and_name_the_file(text: str, name: str, needle: str) -> None:
    with pytest.raises(formats.FormatError) as info:
        formats.load_text(text, name)
    message = str(info.value)
    assert isinstance(info.value, GitmodelError)
    assert message.startswith(f"{name}: ") and needle in message and "\n" not in message
    assert info.value.filename == name


def test_not_utf8() -> None:
    with pytest.raises(formats.FormatError, match="not UTF-8"):
        formats.load_bytes(b'{"a": "\xff"}', "m.json")


def test_is_number() -> None:
    assert formats.is_number(1) and formats.is_number(0.5)
    assert not formats.is_number(True) and not formats.is_number("1")
    assert not formats.is_number(float("nan")) and not formats.is_number(None)
