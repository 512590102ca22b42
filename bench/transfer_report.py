"""Rendering of ``bench_transfer.py``'s cells: per NASH setting, corpus and length, the worst and
the mean margin over PCA-ITQ of NASH and of the default (``hasher="auto"``), then every cell.

Margins are taken per preparation on the means over seeds (NASH, PCA-ITQ and the auto choice
are all seeded alike), then the worst and the mean over the preparations of the corpus.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Any, Dict, List, Tuple

import numpy as np

#: Issue #26's targets: the default >= PCA-ITQ + 0.01 and >= exact cosine; floor: >= PCA-ITQ - 0.002.
TARGET_MARGIN, FLOOR_MARGIN = 0.01, -0.002


def _prep_means(records: List[Dict[str, Any]]) -> Dict[Tuple[str, str, int], Dict[str, Any]]:
    """(label, prep, bits) -> seed means of NASH, PCA-ITQ and auto, and the seeds behind them."""
    groups: Dict[Tuple[str, str, int], List[Dict[str, Any]]] = defaultdict(list)
    for r in records:
        if r["kind"] == "model":
            groups[(r["label"], r["prep"], r["bits"])].append(r)
    out = {}
    for key, rs in groups.items():
        rs = sorted({r["seed"]: r for r in rs}.values(), key=lambda r: r["seed"])  # a re-run seed counts once
        out[key] = {"nash": float(np.mean([r["test"]["nash"] for r in rs])),
                    "itq": float(np.mean([r["test"]["itq"] for r in rs])),
                    "auto": float(np.mean([r["auto"] for r in rs])),
                    "nash_seeds": [r["test"]["nash"] for r in rs],
                    "kept_nash": sum(r["auto_kept"] == "nash" for r in rs), "seeds": [r["seed"] for r in rs],
                    "nash_s": float(np.median([r["nash_s"] for r in rs])),
                    "itq_s": float(np.median([r["itq_s"] for r in rs])),
                    "epochs": [r["epochs"] for r in rs], "what": rs[0]["what"]}
    return out


def summarise(cells: Dict[Tuple[str, str, int], Dict[str, Any]], cosine: Dict[str, float]) -> List[Dict[str, Any]]:
    """One row per (label, corpus, bits): worst and mean margins over the preparations."""
    groups: Dict[Tuple[str, str, int], List[Tuple[str, Dict[str, Any]]]] = defaultdict(list)
    for (label, prep, bits), c in cells.items():
        groups[(label, prep.split("/")[0], bits)].append((prep, c))
    rows = []
    for (label, corpus, bits), items in sorted(groups.items()):
        row: Dict[str, Any] = {"label": label, "corpus": corpus, "bits": bits, "n_preps": len(items)}
        for who in ("nash", "auto"):
            margins = {prep: c[who] - c["itq"] for prep, c in items}
            worst = min(margins, key=margins.get)
            row[who] = {"mean_margin": float(np.mean(list(margins.values()))), "worst_margin": margins[worst],
                        "worst_prep": worst}
            vs_cos = {prep: c[who] - cosine[prep] for prep, c in items if prep in cosine}
            if vs_cos:
                row[who]["worst_vs_cosine"] = min(vs_cos.values())
        row["target_holds"] = row["auto"]["worst_margin"] >= TARGET_MARGIN and row["auto"].get("worst_vs_cosine", 0) >= 0
        row["floor_holds"] = row["auto"]["worst_margin"] >= FLOOR_MARGIN
        row["seeds"] = sorted({len(c["seeds"]) for _, c in items})
        rows.append(row)
    return rows


def _summary_lines(rows: List[Dict[str, Any]]) -> List[str]:
    lines = ["| setting | corpus | bits | preps (seeds) | NASH - ITQ: mean / worst (where) "
             "| default (auto) - ITQ: mean / worst (where) | default - cosine, worst | target +0.01 / floor -0.002 |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        n, a = r["nash"], r["auto"]
        vs_cos = f"{a['worst_vs_cosine']:+.4f}" if "worst_vs_cosine" in a else "–"
        lines.append(
            f"| {r['label']} | {r['corpus']} | {r['bits']} | {r['n_preps']} ({'/'.join(map(str, r['seeds']))}) "
            f"| {n['mean_margin']:+.4f} / {n['worst_margin']:+.4f} ({n['worst_prep'].split('/')[1]}) "
            f"| {a['mean_margin']:+.4f} / {a['worst_margin']:+.4f} ({a['worst_prep'].split('/')[1]}) "
            f"| {vs_cos} | {'yes' if r['target_holds'] else 'no'} / {'yes' if r['floor_holds'] else 'no'} |")
    return lines


def _cell_lines(cells: Dict[Tuple[str, str, int], Dict[str, Any]], cosine: Dict[str, float]) -> List[str]:
    lines = ["| setting | preparation | what | bits | NASH (per seed) | PCA-ITQ | default (auto; NASH kept) "
             "| cosine | NASH - ITQ | auto - ITQ | NASH s / ITQ s | epochs |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for (label, prep, bits), c in sorted(cells.items()):
        per_seed = " / ".join(f"{v:.4f}" for v in c["nash_seeds"])
        cos = f"{cosine[prep]:.4f}" if prep in cosine else "–"
        lines.append(f"| {label} | {prep} | {c['what']} | {bits} | {c['nash']:.4f} ({per_seed}) | {c['itq']:.4f} "
                     f"| {c['auto']:.4f} ({c['kept_nash']}/{len(c['seeds'])}) | {cos} | {c['nash'] - c['itq']:+.4f} "
                     f"| {c['auto'] - c['itq']:+.4f} | {c['nash_s']:.0f} / {c['itq_s']:.1f} "
                     f"| {','.join(map(str, c['epochs']))} |")
    return lines


def _paired_lines(cells: Dict[Tuple[str, str, int], Dict[str, Any]]) -> List[str]:
    """NASH and the default under each setting, on the (preparation, length) pairs every setting
    measured: the old-against-new comparison on the same data."""
    labels = sorted({k[0] for k in cells})
    shared = sorted({k[1:] for k in cells if all((lab, *k[1:]) in cells for lab in labels)})
    if len(labels) < 2 or not shared:
        return []
    lines = ["| preparation | bits | " + " | ".join(f"NASH: {lab} | default: {lab}" for lab in labels) + " |",
             "|---|---|" + "---|---|" * len(labels)]
    for prep, bits in shared:
        row = " | ".join(f"{cells[(lab, prep, bits)]['nash']:.4f} | {cells[(lab, prep, bits)]['auto']:.4f}"
                         for lab in labels)
        lines.append(f"| {prep} | {bits} | {row} |")
    means = " | ".join(f"{np.mean([cells[(lab, *k)]['nash'] for k in shared]):.4f} | "
                       f"{np.mean([cells[(lab, *k)]['auto'] for k in shared]):.4f}" for lab in labels)
    lines.append(f"| mean of {len(shared)} | | {means} |")
    return ["## The settings on the same preparations", "", *lines, ""]


def render(records: List[Dict[str, Any]], meta: Dict[str, Any], label: str = "") -> Tuple[Dict[str, Any], str]:
    """The report's JSON payload and its Markdown."""
    cosine = {r["prep"]: float(r["cosine"]) for r in records if r["kind"] == "cosine"}
    cells = _prep_means(records)
    rows = summarise(cells, cosine)
    md = ["# Transfer: the default hasher against PCA-ITQ over a family of preparations (issue #26)", "",
          f"Test precision@{meta['k']}, ties counted by expectation; database = training split, queries = test "
          "split. *default (auto)* = `hasher=\"auto\"`: NASH or PCA-ITQ, whichever has the better validation "
          "precision@100 (ties by id), from the same two fits. Margins per preparation on seed means, then the "
          f"worst and the mean over the corpus's preparations. {meta['environment']}.", "",
          "Settings: `defaults` = NASH's defaults from random weights (the pipeline's hasher before issue #26); "
          "`warm-itq` = NASH started from PCA-ITQ's codes (`--warm-start`), as `hasher=\"auto\"`, the "
          "pipeline's default since, trains it, with at most 30 epochs (`--epochs 30`, to fit the family in a "
          "session); `default` = the same with NASH's own epochs (100, early stopping with patience 6): its "
          "*default (auto)* column is exactly what `HashingPipeline()` gives. On the docstrings (15 steps an "
          "epoch) the 30-epoch cap stops NASH at its best epoch so far, before it converges: compare `default` "
          "with `warm-itq` there. NASH L2-normalises its encoder's input rows where they are not unit "
          "length (`input_norm=\"auto\"`) and `hasher=\"auto\"` fits the warm start's PCA-ITQ on those rows: "
          "the `no-l2` cells are measured with both; the other preparations' rows are unit length, which both "
          "leave as they were.", "",
          "Reproduce: `python bench/bench_transfer.py` (see its docstring; `--quick`: 32 bits, 1 seed, 30 epochs).", "",
          "## Worst and mean margin over PCA-ITQ", "", *_summary_lines(rows), "",
          *_paired_lines(cells), "## Every preparation", "", *_cell_lines(cells, cosine), ""]
    payload = {"meta": meta, "summary": rows, "cosine": cosine,
               "cells": [{"label": k[0], "prep": k[1], "bits": k[2], **v} for k, v in sorted(cells.items())]}
    return payload, "\n".join(md)
