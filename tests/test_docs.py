"""The documentation site runs as written: every page's code (``doc_blocks``: its Python blocks
and its ``nash-index`` command lines, in a fresh namespace and working directory per page), every
docstring example as a doctest, and the docstring rewriting that the API reference uses. The site
itself is built with ``mkdocs build --strict`` by scripts/test.sh (warnings are errors there).
"""
from __future__ import annotations

import doctest
import importlib
import importlib.util
import re
from pathlib import Path

import pytest

import nash_index
from doc_blocks import blocks, run_page

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PACKAGE = Path(nash_index.__file__).parent  # the imported package: the source tree, or an installed wheel
PAGES = sorted(p for p in DOCS.rglob("*.md") if blocks(p))
DOCTEST_FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _modules_with_examples() -> list:
    """Modules whose source has a doctest prompt (found without importing them)."""
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if re.search(r"^\s*>>> ", path.read_text(encoding="utf-8"), re.M):
            parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
            names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def _rst_module():
    spec = importlib.util.spec_from_file_location("griffe_rst", DOCS / "griffe_rst.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_pages_and_examples_are_found():
    names = {p.relative_to(DOCS).as_posix() for p in PAGES}
    for page in ("quickstart.md", "pipeline.md", "cli.md", "billion.md", "distributed.md"):
        assert page in names, f"docs/{page} lost its code"
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    for page in DOCS.rglob("*.md"):
        assert page.relative_to(DOCS).as_posix() in nav, f"docs/{page.name} is not in mkdocs.yml's nav"
    assert {"nash_index.index.flat", "nash_index.index.mih", "nash_index.pipeline.pipeline"} <= set(_modules_with_examples())


@pytest.mark.parametrize("page", PAGES, ids=[p.relative_to(DOCS).as_posix() for p in PAGES])
def test_page_runs(page, tmp_path, monkeypatch, capsys):
    """Each block runs without error; the pages assert what they show (same answers as the flat
    scan, files written, ...)."""
    run_page(page, tmp_path, monkeypatch, capsys)


@pytest.mark.parametrize("name", _modules_with_examples())
def test_docstring_examples(name, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # examples that save write here
    monkeypatch.setenv("NASH_INDEX_CACHE", str(tmp_path / "cache"))
    module = importlib.import_module(name)
    tests = [t for t in doctest.DocTestFinder().find(module) if t.examples]
    if not tests:
        pytest.skip(f"{name}: '>>>' only outside its docstrings")
    runner = doctest.DocTestRunner(optionflags=DOCTEST_FLAGS)
    for test in tests:
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples of {name} failed (output above)"


def test_rst_roles_become_code_spans():
    md = _rst_module().rst_to_markdown
    assert md("See :class:`FlatIndex` and :func:`~nash_index.index.load`.") == "See `FlatIndex` and `nash_index.index.load`."
    assert md(":meth:`.optimize` or :mod:`nash_index.text.registry`") == "`optimize` or `nash_index.text.registry`"
    assert md(":py:data:`DEDUP_MIN_SHARE`") == "`DEDUP_MIN_SHARE`"
    assert md("``literal`` and `x` stay") == "``literal`` and `x` stay"


def test_literal_block_markers_and_doctests():
    md = _rst_module().rst_to_markdown
    # "Typical use::" ends the paragraph with a colon; the indented block below stays code
    assert md("Typical use::\n\n    x = 1\n") == "Typical use:\n\n    x = 1"
    assert md("Lines ::\n\n    x\n") == "Lines\n\n    x"
    # doctest lines at the margin are fenced, output included, up to the blank line
    text = "Intro.\n>>> a = 1\n>>> a\n1\n\nAfter."
    assert md(text) == "Intro.\n\n```pycon\n>>> a = 1\n>>> a\n1\n```\n\nAfter."
    # ... but not inside an indented code block, where they already are code
    assert md("Example::\n\n    >>> a = 1\n") == "Example:\n\n    >>> a = 1"
    # indented docstring bodies keep their indentation inside the fence
    assert md("  Text.\n\n  >>> b\n  2") == "  Text.\n\n  ```pycon\n  >>> b\n  2\n  ```"


def test_numpy_parameter_lines_keep_prose_as_the_description():
    md = _rst_module().rst_to_markdown
    text = ("Summary.\n\nParameters\n----------\nnbits : code length, a multiple of 8.\n"
            "kl_weight, kl_steps : weight of the KL term,\n    warmed up.\n\nNotes\n-----\nx : not a parameter")
    assert md(text) == ("Summary.\n\nParameters\n----------\nnbits\n    code length, a multiple of 8.\n"
                        "kl_weight, kl_steps\n    weight of the KL term,\n    warmed up.\n\nNotes\n-----\nx : not a parameter")
