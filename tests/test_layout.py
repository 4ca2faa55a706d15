"""The suite's layout mirrors the package (issue 14): every folder under
tests/ is named after a gitmodel subpackage, or is one of the cross-cutting
suites; every folder is a package (so that modules have dotted names and
each folder can have its own conftest.py); test file names stay unique; and
the support package defines each helper once."""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

import gitmodel

TESTS = Path(__file__).resolve().parent
PACKAGE = Path(gitmodel.__file__).resolve().parent
# Not gitmodel subpackages: cross-cutting suites (crash, bad input, concurrency),
# the Python API (gitmodel/api.py), the benchmark harness (bench/), and the helpers.
EXTRA = {"safety", "api", "bench", "support"}
DATA = {"corpus", "golden"}  # test data, beside the suite that reads it
# Checks of the whole package's structure, the only test files at the top.
TOP_LEVEL = {"test_layout.py", "test_layers.py"}


def folders() -> list[Path]:
    return sorted(p for p in TESTS.iterdir() if p.is_dir() and p.name != "__pycache__")


def test_every_folder_mirrors_a_subpackage_or_is_a_known_suite() -> None:
    subpackages = {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    strays = [f.name for f in folders() if f.name not in subpackages | EXTRA]
    assert not strays, f"tests/ folders that mirror no gitmodel subpackage: {strays}"


def test_every_folder_is_a_package_and_tests_live_in_folders() -> None:
    for folder in [TESTS, *folders()]:
        assert (folder / "__init__.py").is_file(), f"{folder} has no __init__.py"
        for sub in folder.iterdir():
            if folder != TESTS and sub.is_dir() and sub.name != "__pycache__":
                assert sub.name in DATA, f"{sub}: a test folder holds only test files and data ({DATA})"
    strays = sorted(p.name for p in TESTS.glob("test_*.py") if p.name not in TOP_LEVEL)
    assert not strays, f"move {strays} into the tests/ folder of the subpackage they test"


def test_test_file_names_are_unique() -> None:
    names = Counter(p.name for p in TESTS.rglob("test_*.py"))
    assert not [n for n, c in names.items() if c > 1]


def test_each_support_helper_is_defined_once() -> None:
    where: dict[str, list[str]] = {}
    for module in sorted((TESTS / "support").glob("*.py")):
        tree = ast.parse(module.read_text())
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                names = [node.name]
            elif isinstance(node, ast.Assign):
                names = [t.id for t in node.targets if isinstance(t, ast.Name)]
            else:
                continue
            for name in names:
                if not name.startswith("_"):
                    where.setdefault(name, []).append(module.stem)
    assert not {n: m for n, m in where.items() if len(m) > 1}
