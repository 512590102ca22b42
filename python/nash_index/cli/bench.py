"""``nash-index bench``: throughput of the Hamming indexes on synthetic codes.

For every combination of database size N, code length, index kind, k, query batch size and thread
count it builds the index once and measures: single-query latency (p50 / p99, batch 1: one call
per query) or batch throughput (median of ``--repeat`` calls over the batch). Codes are
``clustered`` (noisy copies of N/1000 random centres, like learned codes) or ``uniform``; the
multi-index hashing index is checked against the flat scan on the first queries. Prints a table and
writes ``bench.json`` and ``bench.png`` (when matplotlib is installed) to ``--out``.
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import numpy as np

from ..index import get_num_threads, make_index, simd_level
from ..index.factory import check_index_kind
from ..index.synthetic import CODE_KINDS, random_centres, synthetic_codes
from ..version import __version__
from .args import code_length, count, list_of
from .args import threads as thread_count

__all__ = ["add_parser", "run"]

_LATENCY_QUERIES = 200  # single-query calls timed per configuration


def _index_kind(text: str) -> str:
    try:
        return check_index_kind(text, "index")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_parser(sub: Any) -> None:
    """Registers ``bench`` on the ``nash-index`` subparsers."""
    p = sub.add_parser("bench", help="index throughput benchmark (table, JSON, PNG)",
                       description=__doc__.split("\n\n")[1])
    p.add_argument("--n", type=list_of(count), default=[1_000_000], help="database sizes (default: 1M)")
    p.add_argument("--bits", type=list_of(code_length), default=[64], help="code lengths (default: 64)")
    p.add_argument("--k", type=list_of(count), default=[10], help="neighbours per query (default: 10)")
    p.add_argument("--batch", type=list_of(count), default=[1, 1000],
                   help="queries per search call (default: 1,1000)")
    p.add_argument("--threads", type=list_of(thread_count), default=[1, None],
                   help="threads per search; 'all' = the pool (default: 1,all)")
    p.add_argument("--index", type=list_of(_index_kind), default=["flat", "mih"],
                   help="index kinds: flat, mih, auto (default: flat,mih)")
    p.add_argument("--data", choices=CODE_KINDS, default="clustered",
                   help="synthetic codes (default: clustered)")
    p.add_argument("--repeat", type=count, default=3, help="timed calls per batch measurement (default: 3)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--out", default="nash_index_bench", metavar="DIR",
                   help="where bench.json and bench.png go (default: ./nash_index_bench)")
    p.add_argument("--no-plot", action="store_true", help="skip the PNG")


# ---- measuring ---------------------------------------------------------------------------
def _time_single(index: Any, queries: np.ndarray, k: int, threads: Optional[int]) -> Dict[str, float]:
    count = min(_LATENCY_QUERIES, queries.shape[0])
    index.search(queries[:1], k, num_threads=threads)  # warm-up
    times = np.empty(count)
    for i in range(count):
        t0 = time.perf_counter()
        index.search(queries[i:i + 1], k, num_threads=threads)
        times[i] = time.perf_counter() - t0
    return {"qps": float(count / times.sum()), "p50_ms": float(np.percentile(times, 50) * 1e3),
            "p99_ms": float(np.percentile(times, 99) * 1e3)}


def _time_batch(index: Any, queries: np.ndarray, k: int, threads: Optional[int], repeat: int) -> Dict[str, float]:
    batch = queries
    index.search(batch, k, num_threads=threads)  # warm-up
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        index.search(batch, k, num_threads=threads)
        times.append(time.perf_counter() - t0)
    med = float(np.median(times))
    return {"qps": batch.shape[0] / med, "p50_ms": med * 1e3 / batch.shape[0], "p99_ms": float("nan")}


class _NoBar:
    def update(self, n: int = 1) -> None:
        pass

    def __enter__(self) -> "_NoBar":
        return self

    def __exit__(self, *exc: Any) -> None:
        pass


def _progress(total: int) -> Any:
    """A tqdm bar over configurations (a no-op without tqdm: the index needs only numpy)."""
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return _NoBar()
    return tqdm(total=total, desc="bench", unit="config", leave=False)


def _configs(args: argparse.Namespace) -> Iterator[tuple]:
    for n in args.n:
        for nbits in args.bits:
            yield n, nbits


def _bench_one(args: argparse.Namespace, n: int, nbits: int, bar: Any) -> List[Dict[str, Any]]:
    centres = random_centres(n // 1000, nbits, args.seed + 7)
    db = synthetic_codes(n, nbits, args.data, args.seed, centres=centres)
    n_q = max(max(args.batch), _LATENCY_QUERIES)
    queries = synthetic_codes(n_q, nbits, args.data, args.seed + 1, centres=centres)
    rows: List[Dict[str, Any]] = []
    reference = None
    for kind in args.index:
        t0 = time.perf_counter()
        index = make_index(nbits, n_expected=n, kind=kind)
        index.add(db)
        build_s = time.perf_counter() - t0
        reference = _check_against(index, queries[:50], max(args.k), reference)
        for k in args.k:
            for batch in args.batch:
                for threads in args.threads:
                    m = (_time_single(index, queries, k, threads) if batch == 1
                         else _time_batch(index, queries[:batch], k, threads, args.repeat))
                    rows.append({"n": n, "bits": nbits, "index": type(index).__name__, "kind": kind, "k": k,
                                 "batch": batch, "threads": threads or get_num_threads(), "build_s": build_s, **m})
                    bar.update(1)
        del index
    return rows


def _check_against(index: Any, queries: np.ndarray, k: int, reference: Optional[tuple]) -> tuple:
    """Every index kind must return exactly the first kind's result (ties broken by id alike)."""
    distances, ids = index.search(queries, k)
    if reference is not None and not (np.array_equal(reference[0], distances) and np.array_equal(reference[1], ids)):
        raise RuntimeError(f"{type(index).__name__} returned another result than the first index")
    return distances, ids


# ---- reporting ---------------------------------------------------------------------------
def _print_table(rows: List[Dict[str, Any]]) -> None:
    head = f"{'N':>10} {'bits':>4} {'index':<18} {'k':>4} {'batch':>5} {'thr':>3} {'build s':>8} " \
           f"{'queries/s':>11} {'p50 ms':>8} {'p99 ms':>8}"
    print(head)
    print("-" * len(head))
    for r in rows:
        p99 = "-" if np.isnan(r["p99_ms"]) else f"{r['p99_ms']:.3f}"
        print(f"{r['n']:>10,} {r['bits']:>4} {r['index']:<18} {r['k']:>4} {r['batch']:>5} {r['threads']:>3} "
              f"{r['build_s']:>8.2f} {r['qps']:>11,.0f} {r['p50_ms']:>8.3f} {p99:>8}")


def _environment() -> Dict[str, Any]:
    return {"nash_index": __version__, "simd_level": simd_level(), "threads": get_num_threads(),
            "machine": platform.machine(), "processor": platform.processor(), "python": platform.python_version()}


def _plot(rows: List[Dict[str, Any]], path: Path) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    labels = [f"{r['index'].replace('Index', '').replace('MultiIndexHashing', 'MIH')}\n"
              f"N={r['n']:,} {r['bits']}b k={r['k']}\nbatch {r['batch']}, {r['threads']} thr" for r in rows]
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(rows)), 4.5))
    ax.bar(range(len(rows)), [r["qps"] for r in rows], color=["C0" if r["kind"] == "flat" else "C1" for r in rows])
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels(labels, fontsize=7)
    ax.set_yscale("log")
    ax.set_ylabel("queries / second")
    ax.set_title(f"nash_index exact Hamming k-NN ({_environment()['simd_level']})")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return True


def run(args: argparse.Namespace) -> int:
    """The ``bench`` subcommand."""
    if "mih" in args.index and min(args.bits) < 32:
        raise ValueError("multi-index hashing needs codes of at least 32 bits")
    total = len(args.n) * len(args.bits) * len(args.index) * len(args.k) * len(args.batch) * len(args.threads)
    rows: List[Dict[str, Any]] = []
    with _progress(total) as bar:
        for n, nbits in _configs(args):
            rows.extend(_bench_one(args, n, nbits, bar))
    _print_table(rows)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.json").write_text(json.dumps({"environment": _environment(), "data": args.data,
                                                "results": rows}, indent=2, default=str))
    plotted = not args.no_plot and _plot(rows, out / "bench.png")
    print(f"wrote {out / 'bench.json'}" + (f" and {out / 'bench.png'}" if plotted else ""))
    return 0
