"""Rows of bench_limits for exact search against faiss's approximate indexes: exact 10-NN (the faster
of MIH and the cluster-pruned scan) over faiss IndexBinaryIVF / IndexBinaryHNSW at recall 0.95, on
clustered codes, measured by ``bench_exact_vs_approx.py`` (its ``--quick`` shapes; run that script
alone for larger ones)."""
from __future__ import annotations

from typing import Dict, List

import bench_exact_vs_approx
from limits_rows import Context, row


def exact_rows(ctx: Context) -> List[Dict]:
    found = bench_exact_vs_approx.rows(bench_exact_vs_approx.parse_args(["--quick"]))
    return [row("exact vs approximate", r["shape"], r["unit"], r["ours"], r["reference"], None, None, r["ratio"],
                goal=r["target"], met=r["met"]) for r in found]
