"""Printing and plotting for ``nash-index demo``: the summary table, example queries, the PNG."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence

__all__ = ["print_summary", "example_queries", "print_examples", "plot_demo", "snippet"]

#: Example queries per corpus (the demo adds any given with --query).
EXAMPLES = {
    "docstrings": ["parse a date string", "compress data with gzip", "send an email message",
                   "solve a linear system of equations", "random numbers from a normal distribution"],
    "reuters": ["oil prices opec production", "wheat grain exports", "interest rates central bank",
                "merger acquisition shares offer"],
    "20ng": ["space shuttle launch nasa", "gun control laws", "graphics card video driver",
             "hockey playoffs goalie"],
}


def print_summary(report: Dict[str, Any]) -> None:
    """Precision table (NASH and baselines) and the latency / throughput lines."""
    k = report["k"]
    print()
    print(f"precision@{k} of {report['n_queries']} held-out queries against {report['n_db']} documents "
          f"({report['labels']} labels; relevant = same label)")
    print(f"  {'method':<8} {'bits':>4}  {'ties by id':>10}  {'random ties':>11}")
    for row in report["nash"]:
        print(f"  {'NASH':<8} {row['bits']:>4}  {row['index_order']:10.3f}  {row['expected']:11.3f}")
    for row in report["baselines"]:
        print(f"  {row['method'].upper():<8} {row['bits']:>4}  {row['index_order']:10.3f}  {row['expected']:11.3f}")
    lsh = {r["bits"]: r["index_order"] for r in report["baselines"] if r["method"] == "lsh"}
    for row in report["nash"]:
        if lsh.get(row["bits"]):
            print(f"  NASH is {row['index_order'] / lsh[row['bits']]:.1f}x as precise as LSH at {row['bits']} bits")
    lat = report["latency"]
    print()
    print(f"query latency ({lat['bits']}-bit codes, {report['index']}, {report['n_db']} documents, "
          f"one query per call, {lat['queries']} calls): p50 {lat['p50_ms']:.3f} ms, p99 {lat['p99_ms']:.3f} ms")
    print(f"  medians: {report.get('features', 'TF-IDF')} {lat['vectorize_ms']:.3f} ms, "
          f"encoding (numpy, no torch) {lat['encode_ms']:.3f} ms, "
          f"Hamming search {lat['search_ms']:.3f} ms")
    print(f"throughput: {lat['batch_qps']:,.0f} queries/s end to end (batch of {lat['batch_queries']})")


def example_queries(corpus_name: str, given: Optional[Sequence[str]], test_texts: Sequence[str]) -> List[str]:
    """``--query`` values, else the corpus's canned examples, else the first words of test documents."""
    if given:
        return list(given)
    if corpus_name in EXAMPLES:
        return EXAMPLES[corpus_name]
    return [snippet(t, 8) for t in list(test_texts)[:3]]


def snippet(text: str, words: int = 12) -> str:
    """The first ``words`` words of ``text`` on one line."""
    parts = text.split()
    return " ".join(parts[:words]) + (" ..." if len(parts) > words else "")


def print_examples(pipe: Any, queries: Sequence[str], texts: Mapping[int, str], k: int = 5) -> None:
    """Each query's ``k`` nearest documents: distance, key and first words."""
    result = pipe.search(list(queries), k=k)
    print()
    print("example queries (nearest documents by Hamming distance):")
    for i, query in enumerate(queries):
        print(f"  \"{query}\"")
        for key, dist, doc_id in result.hits(i):
            print(f"    d={dist:<2d} {key}: {snippet(texts.get(doc_id, ''), 10)}")


def plot_demo(report: Dict[str, Any], path: Path) -> bool:
    """Precision@k vs bits (NASH points, baseline curves) and the latency breakdown; False
    when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    methods: Dict[str, List[tuple]] = {}
    for row in report["baselines"]:
        methods.setdefault(row["method"].upper(), []).append((row["bits"], row["index_order"]))
    for name, pts in methods.items():
        pts.sort()
        ax1.plot([b for b, _ in pts], [p for _, p in pts], "o--", label=name)
    nash = sorted((r["bits"], r["index_order"]) for r in report["nash"])
    ax1.plot([b for b, _ in nash], [p for _, p in nash], "s-", color="C3", markersize=9, label="NASH")
    ax1.set_xscale("log", base=2)
    ticks = sorted({b for pts in methods.values() for b, _ in pts} | {b for b, _ in nash})
    ax1.set_xticks(ticks)
    ax1.set_xticklabels([str(t) for t in ticks])
    ax1.set_xlabel("bits")
    ax1.set_ylabel(f"precision@{report['k']}")
    ax1.set_ylim(bottom=0)
    ax1.set_title(f"precision@{report['k']} vs code length")
    ax1.legend(loc="upper left")
    lat = report["latency"]
    parts = [(report.get("features", "TF-IDF"), lat["vectorize_ms"]), ("encode", lat["encode_ms"]), ("search", lat["search_ms"])]
    ax2.bar([p for p, _ in parts], [v for _, v in parts], color=["C0", "C1", "C2"])
    ax2.set_ylabel("ms per query (median)")
    ax2.set_title(f"single-query latency, p50 {lat['p50_ms']:.2f} ms; {lat['batch_qps']:,.0f} q/s batched")
    fig.suptitle(f"nash-index demo: {report['n_db']:,} documents", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
