"""``nash-index bench``: throughput of the Hamming indexes on synthetic codes, beside faiss.

For every combination of database size N, code length, index kind, k, query batch size and thread
count it builds the index once and measures queries/s and the per-query latency p50 / p99: batch 1
times one call per query; a larger batch times ``--repeat`` calls over the batch, and a query's
latency is then the call's time / batch size. When faiss is importable, its IndexBinaryFlat runs on
the same codes in the same run and every row shows its speed against it ("x faiss"). Codes are
``clustered`` (noisy copies of N/1000 random centres, like learned codes) or ``uniform``; every
index is checked against the first one (and faiss's distances against them) on the first queries.
Prints a table and writes ``bench.json`` (strict JSON: null, never NaN; faiss's rows under
``faiss``) and ``bench.png`` (when matplotlib is
installed) to ``--out``.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from ..index import get_num_threads, make_index, simd_level
from ..index.factory import check_index_kind
from ..index.synthetic import CODE_KINDS, random_centres, synthetic_codes
from ..version import __version__
from . import bench_report
from .args import code_length, count, list_of
from .args import threads as thread_count

__all__ = ["add_parser", "import_faiss", "latency_stats", "run"]

_LATENCY_QUERIES = 200  # single-query calls timed per configuration (--quick: 100)
_MIN_P99_SAMPLES = 20  # fewer timed calls give no p99 (it would be their maximum)
_FAISS = "faiss IndexBinaryFlat"
# --quick: what the command line leaves unset (under 2 minutes on 2 shared cores)
_QUICK = {"n": [1_000_000], "bits": [64, 128], "k": [10], "batch": [1, 1000], "threads": [None],
          "index": ["flat", "mih", "auto"], "repeat": 2}
_FULL = {"n": [1_000_000], "bits": [64], "k": [10], "batch": [1, 1000], "threads": [1, None],
         "index": ["flat", "mih"], "repeat": 3}


def _index_kind(text: str) -> str:
    try:
        return check_index_kind(text, "index")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_parser(sub: Any) -> None:
    """Registers ``bench`` on the ``nash-index`` subparsers."""
    p = sub.add_parser("bench", help="index throughput benchmark against faiss (table, JSON, PNG)",
                       description=__doc__.split("\n\n")[1])
    p.add_argument("--n", type=list_of(count), help="database sizes (default: 1M)")
    p.add_argument("--bits", type=list_of(code_length), help="code lengths (default: 64; --quick: 64,128)")
    p.add_argument("--k", type=list_of(count), help="neighbours per query (default: 10)")
    p.add_argument("--batch", type=list_of(count), help="queries per search call (default: 1,1000)")
    p.add_argument("--threads", type=list_of(thread_count),
                   help="threads per search; 'all' = the pool (default: 1,all; --quick: all)")
    p.add_argument("--index", type=list_of(_index_kind),
                   help="index kinds: flat, mih, auto (default: flat,mih; --quick: flat,mih,auto)")
    p.add_argument("--data", choices=CODE_KINDS, default="clustered",
                   help="synthetic codes (default: clustered)")
    p.add_argument("--repeat", type=count, help="timed calls per batch measurement (default: 3; --quick: 2)")
    p.add_argument("--quick", action="store_true",
                   help="1M codes of 64 and 128 bits, k=10, all threads, flat/mih/auto, 100 single queries")
    p.add_argument("--no-faiss", action="store_true", help="skip the faiss IndexBinaryFlat reference")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--out", default="nash_index_bench", metavar="DIR",
                   help="where bench.json and bench.png go (default: ./nash_index_bench)")
    p.add_argument("--no-plot", action="store_true", help="skip the PNG")


# ---- measuring ---------------------------------------------------------------------------
def latency_stats(times: Sequence[float], per_call: int) -> Dict[str, Optional[float]]:
    """queries/s at the median call and per-query p50 / p99 (ms) of calls answering ``per_call``
    queries each: the definition of bench/harness.py's Timing (a test checks that they agree)."""
    per_query = np.asarray(times, dtype=float) / per_call
    p99 = float(np.percentile(per_query, 99)) * 1e3 if len(per_query) >= _MIN_P99_SAMPLES else None
    return {"qps": per_call / float(np.median(times)), "p50_ms": float(np.percentile(per_query, 50)) * 1e3,
            "p99_ms": p99}


def _time_calls(search: Any, queries: np.ndarray, batch: int, repeat: int, single_queries: int) -> Dict[str, Any]:
    """Batch 1: one call per query (single_queries of them); else ``repeat`` calls over the batch."""
    search(queries[:batch])  # warm-up
    if batch == 1:
        calls = [queries[i:i + 1] for i in range(min(single_queries, queries.shape[0]))]
    else:
        calls = [queries[:batch]] * repeat
    times = []
    for q in calls:
        t0 = time.perf_counter()
        search(q)
        times.append(time.perf_counter() - t0)
    return latency_stats(times, batch)


def import_faiss(omp_active: bool = False) -> Any:
    """faiss (the ``bench`` extra), or None when it is missing.

    faiss uses OpenMP, whose default active spin-waiting collapses on a shared machine (other
    processes on the cores: x5 to x100 slower with 2 threads), so faiss gets the passive policy
    unless ``omp_active`` or the user chose one (``OMP_WAIT_POLICY``); this only ever helps faiss.
    Call it before anything starts an OpenMP runtime (the policy is read then).
    """
    if not omp_active:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    try:
        import faiss
    except ImportError:
        return None
    return faiss


def _label(index: Any, kind: str) -> str:
    """A row's index: its class, or what ``auto`` picked (``auto (mih)``)."""
    name = type(index).__name__
    if kind == "auto":
        return f"auto ({'mih' if name == 'MultiIndexHashing' else 'flat'})"
    return name


def _engines(args: argparse.Namespace, nbits: int, n: int, db: np.ndarray, faiss: Any):
    """(label, kind, search(queries, k, threads), build seconds) per index, built one at a time."""
    for kind in args.index:
        t0 = time.perf_counter()
        index = make_index(nbits, n_expected=n, kind=kind)
        index.add(db)
        build_s = time.perf_counter() - t0
        yield _label(index, kind), kind, (lambda q, k, th, ix=index: ix.search(q, k, num_threads=th)), build_s
        del index
    if faiss is not None:
        t0 = time.perf_counter()
        fidx = faiss.IndexBinaryFlat(nbits)
        fidx.add(db)
        build_s = time.perf_counter() - t0

        def search(q: np.ndarray, k: int, th: Optional[int]) -> Any:
            faiss.omp_set_num_threads(th or get_num_threads())
            return fidx.search(q, k)
        yield _FAISS, "faiss", search, build_s


def _bench_one(args: argparse.Namespace, n: int, nbits: int, faiss: Any, bar: Any) -> List[Dict[str, Any]]:
    centres = random_centres(max(1, n // 1000), nbits, args.seed + 7)
    db = synthetic_codes(n, nbits, args.data, args.seed, centres=centres)
    n_q = max(max(args.batch), args.single_queries)
    queries = synthetic_codes(n_q, nbits, args.data, args.seed + 1, centres=centres)
    rows: List[Dict[str, Any]] = []
    reference = None
    for label, kind, search, build_s in _engines(args, nbits, n, db, faiss):
        reference = _check_against(label, search, queries[:50], max(args.k), reference)
        for k in args.k:
            for batch in args.batch:
                for threads in args.threads:
                    m = _time_calls(lambda q: search(q, k, threads), queries, batch, args.repeat, args.single_queries)
                    rows.append({"n": n, "bits": nbits, "index": label, "kind": kind, "k": k, "batch": batch,
                                 "threads": threads or get_num_threads(), "build_s": build_s, **m})
                    bar.update(1)
    _add_ratios(rows)
    return rows


def _check_against(label: str, search: Any, queries: np.ndarray, k: int, reference: Optional[tuple]) -> tuple:
    """Every index must return exactly the first one's result (ties broken by id alike); faiss
    breaks ties its own way, so only its distances are compared."""
    distances, ids = search(queries, k, None)
    distances, ids = np.asarray(distances).astype(np.int64), np.asarray(ids)
    if reference is None:
        return distances, ids, label
    same = np.array_equal(reference[0], distances) and (label == _FAISS or np.array_equal(reference[1], ids))
    if not same:
        raise RuntimeError(f"{label} returned another result than {reference[2]}")
    return reference


def _add_ratios(rows: List[Dict[str, Any]]) -> None:
    """``x_faiss``: queries/s over faiss's in the same configuration (None without faiss)."""
    key = lambda r: (r["n"], r["bits"], r["k"], r["batch"], r["threads"])  # noqa: E731
    ref = {key(r): r["qps"] for r in rows if r["kind"] == "faiss"}
    for r in rows:
        r["x_faiss"] = r["qps"] / ref[key(r)] if key(r) in ref else None


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def __enter__(self) -> "_NoBar":
        return self

    def __exit__(self, *exc: Any) -> None:
        pass


def _progress(total: int) -> Any:
    """A tqdm bar over configurations (a no-op without tqdm: the index needs only numpy, or
    without a stderr to draw on)."""
    if sys.stderr is None:
        return _NoBar()
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return _NoBar()
    return tqdm(total=total, desc="bench", unit="config", leave=False)


def _environment(faiss: Any) -> Dict[str, Any]:
    return {"nash_index": __version__, "simd_level": simd_level(), "threads": get_num_threads(),
            "faiss": getattr(faiss, "__version__", None), "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
            **bench_report.machine_info()}


def _fill_defaults(args: argparse.Namespace) -> None:
    for key, value in (_QUICK if args.quick else _FULL).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.single_queries = 100 if args.quick else _LATENCY_QUERIES


def run(args: argparse.Namespace) -> int:
    """The ``bench`` subcommand."""
    _fill_defaults(args)
    if "mih" in args.index and min(args.bits) < 32:
        raise ValueError("multi-index hashing needs codes of at least 32 bits")
    faiss = None if args.no_faiss else import_faiss()
    note = None
    if faiss is None:
        note = ("faiss: skipped (--no-faiss)" if args.no_faiss else
                "faiss: not importable, so no reference rows (pip install 'nash_index[bench]' or faiss-cpu)")
        print(note)
    engines = len(args.index) + (faiss is not None)
    total = len(args.n) * len(args.bits) * engines * len(args.k) * len(args.batch) * len(args.threads)
    rows: List[Dict[str, Any]] = []
    with _progress(total) as bar:
        for n in args.n:
            for nbits in args.bits:
                rows.extend(_bench_one(args, n, nbits, faiss, bar))
    bench_report.print_table(rows)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    payload = {"environment": _environment(faiss), "data": args.data, "faiss_note": note,
               "latency": "per query: batch 1 = one call per query; larger batches = call time / batch size",
               "results": [r for r in rows if r["kind"] != "faiss"],  # nash_index's indexes, x_faiss beside
               "faiss": [r for r in rows if r["kind"] == "faiss"]}
    (out / "bench.json").write_text(bench_report.dumps_strict(payload) + "\n")
    plotted = not args.no_plot and bench_report.plot(rows, out / "bench.png", simd_level(), args.data)
    print(f"wrote {out / 'bench.json'}" + (f" and {out / 'bench.png'}" if plotted else ""))
    return 0
