"""Spread of the NASH reproduction over model seeds: mean, standard deviation and range.

Reads ``bench/results/models.json`` (seed 0) and every ``models-seed*.json`` written by
``python bench/reproduce.py --seed N --name models-seedN ...`` (same corpus split, other model
seeds), and writes ``seeds.md``: per dataset, model and bit length, the mean test precision@100
(index-order ties) over the seeds present, its sample standard deviation and the per-seed values.
The paper reports one number per cell; this table shows how much of a gap between variants is
seed noise.

Usage::

    python bench/reproduce.py --seed 1 --name models-seed1 --models NASH NASH-N NASH-DN --bits 16 32
    python bench/seeds.py
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

from harness import RESULTS_DIR, md_table_head
from reproduce import MODELS, seed_cells

Runs = Dict[str, Dict[str, Dict[str, Dict[int, float]]]]  # ds -> model -> bits -> seed -> p


def collect(folder: Path) -> Runs:
    """Test precision per (dataset, model, bits, seed) from every reproduction file."""
    return {ds: {model: {bits: {seed: cell["p_index"] for seed, cell in by_seed.items()}
                         for bits, by_seed in by_bits.items()}
                 for model, by_bits in models.items()}
            for ds, models in seed_cells(folder).items()}


def _cell(by_seed: Optional[Dict[int, float]]) -> str:
    if not by_seed:
        return "–"
    vals = np.array([by_seed[s] for s in sorted(by_seed)])
    if len(vals) == 1:
        return f"{vals[0]:.4f} (1 seed)"
    return f"{vals.mean():.4f} ± {vals.std(ddof=1):.4f} (n={len(vals)})"


def _order(model: str) -> int:
    return list(MODELS).index(model) if model in MODELS else len(MODELS)


def markdown(runs: Runs) -> str:
    lines = ["# NASH reproduction over model seeds", "",
             "Test precision@100 (index-order ties), mean ± sample standard deviation over model "
             "seeds; the corpus split is the same for every seed. Source: `models*.json`.", ""]
    for ds, models in runs.items():
        models = dict(sorted(models.items(), key=lambda kv: _order(kv[0])))
        bits = sorted({int(b) for cells in models.values() for b in cells})
        lines += [f"## {ds}", "", *md_table_head("model", bits)]
        for model, cells in models.items():
            lines.append(f"| {model} | " + " | ".join(_cell(cells.get(str(b))) for b in bits)
                         + " |")
        lines += ["", "Per-seed values:", ""]
        for model, cells in models.items():
            for b in bits:
                by_seed = cells.get(str(b), {})
                if len(by_seed) > 1:
                    vals = ", ".join(f"{s}: {by_seed[s]:.4f}" for s in sorted(by_seed))
                    lines.append(f"- {model} {b} bits: {vals}")
        lines.append("")
    return "\n".join(lines)


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--results", type=Path, default=RESULTS_DIR)
    args = ap.parse_args(argv)
    text = markdown(collect(args.results))
    (args.results / "seeds.md").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
