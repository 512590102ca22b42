"""``nash-index info``: version, SIMD level, threads, torch/CUDA, corpora found."""
from __future__ import annotations

import argparse
import json
import os
from typing import Any, Dict

import numpy as np

from ..datasets import available_named_corpus, cache_dir
from ..index import detected_simd_level, get_num_threads, simd_level
from ..version import __version__

__all__ = ["add_parser", "collect_info", "run"]


def add_parser(sub: Any) -> None:
    """Registers the subcommand on the ``nash-index`` subparsers."""
    p = sub.add_parser("info", help="version, SIMD level, threads, torch/CUDA availability")
    p.add_argument("--json", action="store_true", help="print as JSON")


def run(args: argparse.Namespace) -> int:
    """Version, SIMD level, threads, torch/CUDA, and which corpora are found."""
    info = collect_info()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    width = max(len(k) for k in info)
    for key, value in info.items():
        print(f"{key:<{width}}  {value}")
    return 0


def collect_info() -> Dict[str, Any]:
    """What ``nash-index info`` reports, as a dict."""
    import platform

    info: Dict[str, Any] = {
        "nash_index": __version__, "python": platform.python_version(), "platform": platform.platform(),
        "numpy": np.__version__, "simd_level": simd_level(), "simd_detected": detected_simd_level(),
        "threads": get_num_threads(), "cpu_count": os.cpu_count(),
    }
    info.update(_torch_info())
    info["cache_dir"] = str(cache_dir())
    info["NASH_INDEX_DATA"] = os.environ.get("NASH_INDEX_DATA", "")
    info["corpora_found"] = ", ".join(n for n in ("reuters", "20ng", "tmc")
                                      if available_named_corpus(None, (n,))) or "none"
    return info


def _torch_info() -> Dict[str, Any]:
    """torch's version and the default device (torch is imported by nash_index.models only)."""
    from importlib import metadata

    try:
        version = metadata.version("torch")
    except metadata.PackageNotFoundError:
        return {"torch": "not installed (training needs it: pip install 'nash_index[train]')", "cuda": False}
    from ..models.training import select_device  # imports torch

    device = select_device("auto")
    return {"torch": version, "cuda": device.type == "cuda", "default_device": str(device)}
