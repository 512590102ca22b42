"""The package's structure holds itself: small files, no private name imported across modules.

(Layers, cycles and torch-only-in-models are import-linter contracts in pyproject.toml, run by
scripts/test.sh; these are the rules it cannot express.)
"""
from __future__ import annotations

import ast
from pathlib import Path

import nash_index

# The sources of the package under test: python/nash_index in a clone (the editable install points
# there), the installed copy when scripts/check_wheel.sh runs the suite against a wheel or sdist.
PACKAGE = Path(nash_index.__file__).resolve().parent
MAX_LINES = 400
SOURCES = sorted(PACKAGE.rglob("*.py"))


def test_package_sources_found():
    assert len(SOURCES) > 50 and (PACKAGE / "index" / "base.py") in SOURCES


def test_files_are_small():
    sizes = {str(p.relative_to(PACKAGE)): p.read_text(encoding="utf-8").count("\n") for p in SOURCES}
    assert {name: n for name, n in sizes.items() if n > MAX_LINES} == {}, "split these: one concept per module"


def _private_imports(tree: ast.AST) -> list:
    """``from M import _name`` where ``_name`` is a private name (not a private module of M's own package)."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            for alias in node.names:
                is_module_of_package = node.module is None  # ``from . import _core``: a module, not a name
                if alias.name.startswith("_") and not alias.name.startswith("__") and not is_module_of_package:
                    found.append(f"from {'.' * node.level}{node.module or ''} import {alias.name}")
    return found


def test_no_private_name_imported():
    found = {str(p.relative_to(PACKAGE)): _private_imports(ast.parse(p.read_text(encoding="utf-8"))) for p in SOURCES}
    assert {name: imports for name, imports in found.items() if imports} == {}


def test_private_import_detector():
    tree = ast.parse("from .mih import _check_m\nfrom . import _core\nfrom .base import BaseIndex\n")
    assert _private_imports(tree) == ["from .mih import _check_m"]
