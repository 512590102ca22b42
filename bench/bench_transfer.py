"""Does the default hasher's lead over PCA-ITQ transfer to preparations no one tuned on? (issue #26)

For every preparation of the family (``transfer_preps.py``: Reuters, 20 Newsgroups and the
docstrings, 8 ways each), code length and seed, it trains NASH (its defaults, plus ``--nash-params``)
and PCA-ITQ on the training split, early-stops NASH on the validation split, and scores the test
queries against the training documents: precision@100 with ties counted by expectation. The
default hasher, ``hasher="auto"``, keeps whichever of the two has the better validation
precision@100 (ties by id, as ``nash_index.text.auto_select`` compares them), so its test figure
comes from the same two fits. Exact TF-IDF cosine is scored once per preparation.

Each finished cell is appended to ``<out>/transfer_cells*.jsonl`` at once (so a long run leaves
partial results); ``--report`` renders all cell files into ``transfer.{md,json}``: per corpus and
length the worst and the mean margin over PCA-ITQ of NASH and of the default.

    python bench/bench_transfer.py --quick                    # 32 bits, 1 seed, epochs capped
    python bench/bench_transfer.py --corpora reuters --bits 16 32 64 --seeds 0 1 2
    python bench/bench_transfer.py --report --out bench/results
    python bench/bench_transfer.py --quick --label pca-init --nash-params '{"init": "pca"}'

Run it on one thread per process (``OMP_NUM_THREADS=1``; NASH gets ``num_threads=1``).
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

sys.path.insert(0, str(Path(__file__).resolve().parent))
import harness  # noqa: E402
import transfer_preps  # noqa: E402
from nash_index.baselines import PCAITQ  # noqa: E402
from nash_index.evaluation import cosine_precision_at_k, precision_at_k  # noqa: E402
from nash_index.text.auto_select import validation_precision, warm_start_codes  # noqa: E402
from transfer_report import render  # noqa: E402

K = 100


def test_precision(model: Any, corpus: Any) -> float:
    """Test precision@100, ties by expectation, of ``model``'s codes."""
    db, queries = model.encode(corpus.X_train), model.encode(corpus.X_test)
    return float(precision_at_k(db, corpus.y_train, queries, corpus.y_test, K).expected)


def fit_nash(corpus: Any, bits: int, seed: int, params: Dict[str, Any], init_codes: Any = None) -> Any:
    from nash_index import NASH
    model = NASH(nbits=bits, seed=seed, verbose=False, num_threads=1, **params)
    return model.fit(corpus.X_train, corpus.y_train, corpus.X_val, corpus.y_val, init_codes=init_codes)


def measure(corpus: Any, bits: int, seed: int, params: Dict[str, Any], warm: bool) -> Dict[str, Any]:
    """NASH (``warm``: started from PCA-ITQ's codes), PCA-ITQ and the auto choice between them on
    one corpus, length and seed."""
    t0 = time.perf_counter()
    itq = PCAITQ(nbits=bits, random_state=seed).fit(corpus.X_train)
    itq_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    # auto's warm start: PCA-ITQ's codes of the rows NASH's encoder sees (auto_select.py)
    init = warm_start_codes(itq, corpus.X_train, bits, params, seed) if warm else None
    nash = fit_nash(corpus, bits, seed, params, init)
    nash_s = time.perf_counter() - t0
    val = {name: validation_precision(m, corpus.X_train, corpus.y_train, corpus.X_val, corpus.y_val)
           for name, m in (("nash", nash), ("itq", itq))}
    test = {"nash": test_precision(nash, corpus), "itq": test_precision(itq, corpus)}
    kept = "nash" if val["nash"] >= val["itq"] else "itq"  # auto_select's rule: a tie keeps NASH
    return {"test": test, "val": val, "auto_kept": kept, "auto": test[kept],
            "epochs": len(nash.history_), "best_epoch": nash.result_.best_epoch,
            "nash_s": round(nash_s, 1), "itq_s": round(itq_s, 2)}


def cosine_cell(corpus: Any) -> float:
    return float(cosine_precision_at_k(corpus.X_train, corpus.y_train, corpus.X_test, corpus.y_test, K))


def append(path: Path, record: Dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fh.write(json.dumps(record) + "\n")


def done_cells(path: Path) -> set:
    if not path.exists():
        return set()
    keys = set()
    for line in path.read_text().splitlines():
        r = json.loads(line)
        keys.add((r["label"], r["prep"], r.get("bits"), r.get("seed"), r["kind"]))
    return keys


def run(args: Any) -> None:
    params = json.loads(args.nash_params)
    if args.epochs:
        params["epochs"] = args.epochs
    cells = args.out / f"transfer_cells{args.tag}.jsonl"
    done = done_cells(cells)
    preps = [p for p in transfer_preps.all_preparations(args.corpora) if not args.preps or p.name in args.preps]
    for prep in preps:
        corpus = transfer_preps.build(prep, args.data, args.cache)
        sizes = {k: int(v) for k, v in corpus.info["sizes"].items()}
        base = {"prep": prep.key, "what": prep.what, "sizes": sizes, "n_terms": int(corpus.X_train.shape[1])}
        if args.cosine and ("cosine", prep.key, None, None, "cosine") not in done:
            append(cells, {**base, "label": "cosine", "kind": "cosine", "cosine": cosine_cell(corpus)})
        for bits in args.bits:
            for seed in args.seeds:
                if (args.label, prep.key, bits, seed, "model") in done:
                    continue
                cell = measure(corpus, bits, seed, params, args.warm_start)
                append(cells, {**base, "label": args.label, "kind": "model", "bits": bits, "seed": seed,
                               "params": params, "warm_start": args.warm_start, **cell})
                print(f"{prep.key:24s} {bits:3d} bits seed {seed}: NASH {cell['test']['nash']:.4f} "
                      f"ITQ {cell['test']['itq']:.4f} auto->{cell['auto_kept']} ({cell['nash_s']:.0f} s, "
                      f"{cell['epochs']} epochs)", flush=True)


def report(args: Any) -> None:
    records: List[Dict[str, Any]] = []
    for path in sorted(args.out.glob("transfer_cells*.jsonl")):
        records += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    meta = {"k": K, "environment": f"Python {platform.python_version()}, {platform.machine()}, "
                                    f"{platform.system()}; 1 thread per process" + (f". {args.note}" if args.note else "")}
    payload, markdown = render(records, meta, args.label)
    harness.write_report(payload, args.out, "transfer", markdown)
    print(markdown)


def main(argv: Any = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpora", nargs="+", default=list(transfer_preps.CORPORA), choices=transfer_preps.CORPORA)
    ap.add_argument("--preps", nargs="*", default=[], help="preparation names (default: all 8)")
    ap.add_argument("--bits", nargs="+", type=int, default=[16, 32, 64])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--epochs", type=int, default=0, help="cap NASH's epochs (0: its default)")
    ap.add_argument("--quick", action="store_true", help="32 bits, seed 0, at most 30 epochs")
    ap.add_argument("--label", default="defaults", help="name of the NASH setting in the cells")
    ap.add_argument("--nash-params", default="{}", help="JSON of NASH parameters over its defaults")
    ap.add_argument("--warm-start", action="store_true", help="start NASH from PCA-ITQ's codes")
    ap.add_argument("--no-cosine", dest="cosine", action="store_false")
    ap.add_argument("--tag", default="", help="suffix of this worker's cell file")
    ap.add_argument("--report", action="store_true", help="only render the cells found in --out")
    ap.add_argument("--note", default="", help="a sentence on how the cells were run, for the report")
    ap.add_argument("--out", type=Path, default=harness.OUT_DIR)
    ap.add_argument("--data", type=Path, default=harness.default_data_dir())
    ap.add_argument("--cache", type=Path, default=Path("/tmp/nash_index_transfer"))
    args = ap.parse_args(argv)
    if args.quick:
        args.bits, args.seeds, args.epochs = [32], [0], args.epochs or 30
    if args.report:
        report(args)
        return
    run(args)
    report(args)


if __name__ == "__main__":
    main()
