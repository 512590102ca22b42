"""A griffe extension for the API reference: the package's docstrings are written in the reST
dialect of the Python docs (``:class:`X```, ``Typical use::`` before an indented block, doctest
lines ``>>>`` at the margin), and mkdocstrings renders Markdown. This rewrites those three forms,
and only those, into their Markdown equivalents when griffe reads a docstring, so that the source
keeps one style and the site reads cleanly. ``rst_to_markdown`` is pure and tested in
``tests/test_docs.py``.
"""
from __future__ import annotations

import re
from typing import Any, List

try:  # griffe >= 1: the extension base class; the module also imports without griffe (for the tests)
    from griffe import Extension
except ImportError:  # pragma: no cover
    Extension = object  # type: ignore[assignment,misc]

PARAM_SECTIONS = {"Parameters", "Other Parameters", "Attributes", "Raises", "Returns", "Yields"}
PARAM_LINE = re.compile(r"^(\s*)([A-Za-z_*][\w*]*(?:\s*,\s*[A-Za-z_*][\w*]*)*)\s+:\s+(.+)$")
ROLE = re.compile(r":(?:py:)?(?:mod|func|class|meth|attr|data|exc|obj|const|term|ref):`~?\.?([^`<]*?)(?:\s*<[^>]*>)?`")
PROMPT = (">>> ", "... ")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _fence_doctests(lines: List[str]) -> List[str]:
    """Wraps each run of doctest lines (``>>>``/``...`` and the output below them, up to a blank
    line) that is not already inside an indented code block in a ```` ```pycon ```` fence."""
    out: List[str] = []
    i, base = 0, None  # base: indentation of the paragraph text around (code blocks are deeper)
    while i < len(lines):
        line = lines[i]
        stripped = line.lstrip()
        in_code = base is not None and stripped and _indent(line) >= base + 4
        if stripped.startswith(PROMPT) or stripped == ">>>":
            if not in_code:
                pad = line[:_indent(line)]
                block = []
                while i < len(lines) and lines[i].strip():
                    block.append(lines[i][len(pad):] if lines[i].startswith(pad) else lines[i].lstrip())
                    i += 1
                if out and out[-1].strip():
                    out.append("")
                out += [pad + "```pycon", *(pad + b for b in block), pad + "```"]
                continue
        elif stripped and not in_code:
            base = _indent(line)
        out.append(line)
        i += 1
    return out


def _numpy_descriptions(lines: List[str]) -> List[str]:
    """In a numpy-style ``Parameters`` (or ``Attributes``, ...) section, ``name : what it is`` has
    prose after the colon where numpydoc expects a type: it moves to the indented description
    line below, so that it is rendered as the description and the type comes from the signature."""
    out: List[str] = []
    section, base = None, 0
    for i, line in enumerate(lines):
        underline = lines[i + 1].strip() if i + 1 < len(lines) else ""
        if underline and set(underline) == {"-"} and line.strip():
            section, base = line.strip(), _indent(line)
        elif section in PARAM_SECTIONS and line.strip() and _indent(line) == base:
            match = PARAM_LINE.match(line)
            if match:
                pad, names, what = match.groups()
                out += [f"{pad}{names}", f"{pad}    {what}"]
                continue
        out.append(line)
    return out


def rst_to_markdown(text: str) -> str:
    """The docstring ``text`` with reST roles as code spans, ``::`` paragraph ends as ``:`` (the
    indented block below stays a code block), numpy-style ``name : description`` lines as name
    and description, and doctest lines fenced."""
    text = ROLE.sub(lambda m: f"`{m.group(1).strip()}`", text)
    lines = []
    for line in text.splitlines():
        if line.rstrip().endswith("::") and not line.lstrip().startswith(PROMPT):
            body = line.rstrip()[:-2]
            line = body.rstrip() if (not body or body.endswith(" ")) else body + ":"
        lines.append(line)
    return "\n".join(_fence_doctests(_numpy_descriptions(lines)))


class RstToMarkdown(Extension):  # type: ignore[misc,valid-type]
    """Rewrites every docstring griffe loads with :func:`rst_to_markdown`."""

    def on_instance(self, *, obj: Any, **kwargs: Any) -> None:
        if getattr(obj, "docstring", None) is not None:
            obj.docstring.value = rst_to_markdown(obj.docstring.value)
