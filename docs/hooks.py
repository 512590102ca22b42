"""MkDocs hooks: the benchmark result tables of ``bench/results/*.md`` become pages of the site
at build time (``benchmarks/results/NAME.md``), read from the repository, never copied into
``docs/``, so that a table a benchmark rewrites is the table the site shows; and the plots of
the committed results are drawn from their JSON by the benchmarks' own plot functions.

A result table or plot that cannot be read or drawn is a build warning, so ``mkdocs build
--strict`` (scripts/test.sh) fails on it.
"""
from __future__ import annotations

import importlib.util
import logging
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from mkdocs.structure.files import File, Files

log = logging.getLogger("mkdocs.hooks.bench")
ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
PAGES = "benchmarks/results"


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


def on_files(files: Files, config: Any) -> Files:
    for table in result_tables():
        files.append(File.generated(config, f"{PAGES}/{table.name}", content=table.read_text(encoding="utf-8")))
    out_dir = Path(tempfile.mkdtemp(prefix="nash_index_docs_plots_"))
    for name in PLOTS:
        path = _draw(name, out_dir)
        if path is not None:
            files.append(File.generated(config, f"{PAGES}/{path.name}", content=path.read_bytes()))
    return files
