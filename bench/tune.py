"""Validation-only hyper-parameter study for the NASH variants (never looks at test queries).

Each trial trains ``NASH(nbits, variant, **defaults, **change)`` on the train split, early-stops
on, and is scored by, validation precision@100 of the validation split against the train split.
Trials are one-factor-at-a-time changes from the library defaults (``--vary name=v1,v2``), run
for every dataset x bits x variant x seed, so a change is kept only when it helps across corpora,
code lengths and seeds rather than on one of them. Results are appended to
``bench/results/tune.jsonl`` (resumable: finished trials are skipped) and summarised in
``tune.md`` as the mean change in validation precision against the defaults.

Usage::

    python bench/tune.py --datasets reuters 20ng --bits 16 32 --variants nash-n nash-dn \\
        --vary noise_sigma=0.1,0.5,1.0 lr=3e-3 patience=12 --seeds 0 1
"""
from __future__ import annotations

import argparse
import ast
import json
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from harness import default_data_dir
from nash_index.datasets import load_corpus
from reproduce import add_run_args, torch_with_threads

Change = Tuple[str, Any]  # (parameter, value); ("default", None) is the reference trial


def parse_vary(items: List[str]) -> List[Change]:
    """``["lr=1e-3,3e-3", "hidden=(500,),(1000,1000)"]`` -> one change per value."""
    changes: List[Change] = []
    for item in items:
        name, _, values = item.partition("=")
        if not values:
            raise SystemExit(f"--vary expects name=v1,v2, got {item!r}")
        parsed = ast.literal_eval(f"[{values}]")
        changes += [(name, v) for v in parsed]
    return changes


def parse_base(items: List[str]) -> Dict[str, Any]:
    """``["hidden=()", "lr=3e-3"]`` -> the settings every trial starts from."""
    base = {}
    for item in items:
        name, _, value = item.partition("=")
        if not value:
            raise SystemExit(f"--base expects name=value, got {item!r}")
        base[name] = ast.literal_eval(value)
    return base


def trial_key(ds: str, bits: int, variant: str, seed: int, change: Change,
              base: Dict[str, Any]) -> str:
    key = [ds, bits, variant, seed, change[0], repr(change[1])]
    return json.dumps(key + [repr(sorted(base.items()))] if base else key)


def run_trial(corpus: Any, bits: int, variant: str, seed: int, change: Change,
              base: Dict[str, Any], threads: int = 0) -> Dict[str, Any]:
    from nash_index.models import NASH
    params = dict(base) if change[0] == "default" else {**base, change[0]: change[1]}
    model = NASH(nbits=bits, variant=variant, seed=seed, verbose=False, **params)
    model.set_params(num_threads=threads or None)  # 0: the library's default; not part of the trial's key
    t0 = time.perf_counter()
    model.fit(corpus.X_train, corpus.y_train, corpus.X_val, corpus.y_val)
    return {"val": round(model.result_.best_score, 4), "best_epoch": model.result_.best_epoch,
            "epochs": len(model.history_), "seconds": round(time.perf_counter() - t0, 1)}


def _same_trial(done: Dict[str, Dict[str, Any]], ds: str, bits: int, variant: str, seed: int,
                change: Change, base: Dict[str, Any]) -> Optional[Dict[str, Any]]:
    """A finished trial with the same settings under another description (a one-setting base's
    reference is that setting's one-factor trial from the defaults): reused, not retrained."""
    if change[0] != "default" or len(base) != 1:
        return None
    (name, value), = base.items()
    rec = done.get(trial_key(ds, bits, variant, seed, (name, value), {}))
    if rec is None:
        return None
    return {k: rec[k] for k in ("val", "best_epoch", "epochs", "seconds")}


def load_done(path: Path) -> Dict[str, Dict[str, Any]]:
    done: Dict[str, Dict[str, Any]] = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            if line.strip():
                rec = json.loads(line)
                done[rec["key"]] = rec
    return done


def summarise(records: List[Dict[str, Any]]) -> str:
    """Mean change in validation precision against the default trial of the same cell."""
    def cell_of(r: Dict[str, Any]) -> Tuple[str, int, str, int, str]:
        return (r["dataset"], r["bits"], r["variant"], r["seed"], r.get("base", ""))

    ref = {cell_of(r): r["val"] for r in records if r["param"] == "default"}
    deltas: Dict[Tuple[str, str, str, str], List[float]] = {}
    for r in records:
        if r["param"] == "default" or cell_of(r) not in ref:
            continue
        deltas.setdefault((r.get("base", ""), r["param"], r["value"], r["variant"]),
                          []).append(r["val"] - ref[cell_of(r)])
    lines = ["# NASH hyper-parameter study (validation precision@100 only)", "",
             "Change from a base (the library defaults unless a base is named); delta = trial "
             "minus the base trial of the same dataset, bits, variant and seed. Every trial: "
             "`tune.jsonl`.", "",
             "| base | parameter | value | variant | cells | mean delta | min | max |",
             "|---|---|---|---|---|---|---|---|"]
    for (base, param, value, variant), ds in sorted(deltas.items()):
        lines.append(f"| {base or 'defaults'} | {param} | {value} | {variant} | {len(ds)} | "
                     f"{np.mean(ds):+.4f} | {min(ds):+.4f} | {max(ds):+.4f} |")
    spread: Dict[Tuple[str, int, str, str], List[float]] = {}
    for (ds, bits, variant, _seed, base), val in ref.items():
        spread.setdefault((ds, bits, variant, base), []).append(val)
    lines += ["", "Seed-to-seed spread of the base trials (a mean delta inside it is noise):", "",
              "| dataset | bits | variant | base | seeds | mean | std |", "|---|---|---|---|---|---|---|"]
    for (ds, bits, variant, base), vals in sorted(spread.items()):
        if len(vals) > 1:
            lines.append(f"| {ds} | {bits} | {variant} | {base or 'defaults'} | {len(vals)} | "
                         f"{np.mean(vals):.4f} | {np.std(vals, ddof=1):.4f} |")
    lines += ["", "Base trials (validation precision@100):", "",
              "| dataset | bits | variant | seed | base | val |", "|---|---|---|---|---|---|"]
    for (ds, bits, variant, seed, base), val in sorted(ref.items()):
        lines.append(f"| {ds} | {bits} | {variant} | {seed} | {base or 'defaults'} | {val:.4f} |")
    return "\n".join(lines) + "\n"


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--datasets", nargs="+", default=["reuters", "20ng"])
    ap.add_argument("--bits", nargs="+", type=int, default=[16, 32])
    ap.add_argument("--variants", nargs="+", default=["nash-dn"])
    ap.add_argument("--vary", nargs="*", default=[], help="name=v1,v2 (Python literals)")
    ap.add_argument("--base", nargs="*", default=[],
                    help="name=value settings every trial starts from (default: library defaults)")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0])
    add_run_args(ap)
    args = ap.parse_args(argv)

    torch_with_threads(args.threads)
    changes = [("default", None)] + parse_vary(args.vary)
    base = parse_base(args.base)
    base_label = ", ".join(f"{k}={v!r}" for k, v in base.items())
    log_path, md_path = args.out / "tune.jsonl", args.out / "tune.md"
    done = load_done(log_path)
    data = args.data or default_data_dir()
    for ds in args.datasets:
        corpus = load_corpus(ds, data)
        for bits in args.bits:
            for variant in args.variants:
                for seed in args.seeds:
                    for change in changes:
                        key = trial_key(ds, bits, variant, seed, change, base)
                        if key in done:
                            continue
                        same = _same_trial(done, ds, bits, variant, seed, change, base)
                        rec = {"key": key, "dataset": ds, "bits": bits, "variant": variant,
                               "seed": seed, "base": base_label, "param": change[0],
                               "value": repr(change[1]),
                               **(same or run_trial(corpus, bits, variant, seed, change, base, args.threads))}
                        done[key] = rec
                        with log_path.open("a") as f:
                            f.write(json.dumps(rec) + "\n")
                        print(f"{ds} {bits:3d} {variant:8s} seed {seed} [{base_label}] "
                              f"{change[0]}={change[1]!r}: val {rec['val']:.4f} ({rec['seconds']} s, "
                              f"best epoch {rec['best_epoch']})", flush=True)
                        md_path.write_text(summarise(list(done.values())))
    md_path.write_text(summarise(list(done.values())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
