"""MkDocs hooks: the API reference's page of the modules no other page covers
(``api/other.md``: a subpackage or top-level module added to ``nash_index`` is documented from
its first build, without an edit here), the benchmark result tables of ``bench/results/*.md`` become pages of the site
at build time (``benchmarks/results/NAME.md``), read from the repository, never copied into
``docs/``, so that a table a benchmark rewrites is the table the site shows; and the plots of
the committed results are drawn from their JSON by the benchmarks' own plot functions.

A result table or plot that cannot be read or drawn is a build warning, so ``mkdocs build
--strict`` (scripts/test.sh) fails on it.
"""
from __future__ import annotations

import importlib.util
import logging
import re
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from mkdocs.structure.files import File, Files

log = logging.getLogger("mkdocs.hooks.bench")
ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
PAGES = "benchmarks/results"
PACKAGE = ROOT / "python" / "nash_index"
API = ROOT / "docs" / "api"
DIRECTIVE = re.compile(r"^::: (nash_index(?:\.\w+)?)\s*$", re.M)


def _bench_function(module: str, name: str) -> Callable[..., Any]:
    """``bench/<module>.py``'s ``name`` (bench/ is a folder of scripts, not a package)."""
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        spec = importlib.util.spec_from_file_location(f"_docs_bench_{module}", ROOT / "bench" / f"{module}.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
    finally:
        sys.path.remove(str(ROOT / "bench"))
    return getattr(mod, name)


def _at_scale(report: Dict[str, Any], path: Path) -> None:
    _bench_function("at_scale_report", "plot")(report, path)


def _sharded(report: Dict[str, Any], path: Path) -> None:
    written = _bench_function("bench_sharded", "plot")(report, path.parent, path.stem)
    if written is not None and Path(written) != path:
        Path(written).replace(path)


#: plot name -> (result JSON, drawing function, caption)
PLOTS = {
    "at_scale": ("at_scale.json", _at_scale,
                 "10^7 generated documents: time and peak memory per stage, precision@100 by length"),
    "sharded": ("sharded.json", _sharded, "Ray-sharded index: batch QPS and single-query latency, 10^8 codes"),
}


def result_tables() -> List[Path]:
    """The committed result tables, by name."""
    return sorted(RESULTS.glob("*.md"))


def _draw(name: str, out_dir: Path) -> Optional[Path]:
    import json

    source, draw, _ = PLOTS[name]
    path = out_dir / f"{name}.png"
    try:
        draw(json.loads((RESULTS / source).read_text(encoding="utf-8")), path)
    except Exception as exc:  # a broken plot fails the strict build, with its reason
        log.warning("benchmark plot %s from bench/results/%s could not be drawn: %r", name, source, exc)
        return None
    if not path.is_file():
        log.warning("benchmark plot %s was not written (is matplotlib installed?)", name)
        return None
    return path


def top_level_modules() -> List[str]:
    """``nash_index.X`` for each public subpackage and module of the package."""
    names = [p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").is_file()]
    names += [p.stem for p in PACKAGE.glob("*.py") if p.stem not in ("__init__", "__main__")]
    return sorted(f"nash_index.{n}" for n in names if not n.startswith("_"))


def other_modules_page() -> str:
    """The Markdown of ``api/other.md``: every top-level module no page of ``docs/api`` renders."""
    covered = {m for page in API.glob("*.md") for m in DIRECTIVE.findall(page.read_text(encoding="utf-8"))}
    rest = [m for m in top_level_modules() if m not in covered]
    lines = ["# Other modules", "", "The modules of `nash_index` that no other page of the reference covers."]
    return "\n".join(lines + [f"\n::: {m}" for m in rest] + [""]) if rest else "\n".join(lines + ["", "None.", ""])


def on_files(files: Files, config: Any) -> Files:
    files.append(File.generated(config, "api/other.md", content=other_modules_page()))
    for table in result_tables():
        files.append(File.generated(config, f"{PAGES}/{table.name}", content=table.read_text(encoding="utf-8")))
    out_dir = Path(tempfile.mkdtemp(prefix="nash_index_docs_plots_"))
    for name in PLOTS:
        path = _draw(name, out_dir)
        if path is not None:
            files.append(File.generated(config, f"{PAGES}/{path.name}", content=path.read_bytes()))
    return files
