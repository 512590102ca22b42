"""Printing and plotting for ``nash-index demo``: the summary table, example queries, the PNG."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

from ..text import DEFAULT_HASHER, display_name

__all__ = ["example_queries", "headline", "main_bits", "plot_demo", "print_examples", "print_summary",
           "snippet"]

#: Example queries per corpus (the demo adds any given with --query).
EXAMPLES = {
    "docstrings": ["parse a date string", "compress data with gzip", "send an email message",
                   "solve a linear system of equations", "random numbers from a normal distribution"],
    "reuters": ["oil prices opec production", "wheat grain exports", "interest rates central bank",
                "merger acquisition shares offer"],
    "20ng": ["space shuttle launch nasa", "gun control laws", "graphics card video driver",
             "hockey playoffs goalie"],
}



def main_bits(bits: Sequence[int]) -> int:
    """The length the headline speaks of: 64 when it was run, else the first given."""
    return 64 if 64 in bits else int(bits[0])


def _grid(rows: Sequence[Mapping[str, Any]]) -> Tuple[List[str], List[int], Dict[Tuple[str, int], Mapping[str, Any]]]:
    """(methods in first-seen order, sorted bit lengths, {(method, bits): row})."""
    methods: List[str] = []
    cells: Dict[Tuple[str, int], Mapping[str, Any]] = {}
    for row in rows:
        if row["method"] not in methods:
            methods.append(row["method"])
        cells[(row["method"], int(row["bits"]))] = row
    return methods, sorted({b for _, b in cells}), cells


def cosine_label(features: str) -> str:
    """How the float ceiling is named: "exact TF-IDF cosine", "exact minilm cosine"."""
    return f"exact {features} cosine"


def headline(rows: Sequence[Mapping[str, Any]], bits: int, k: int,
             cosine: Optional[Mapping[str, Any]] = None, features: str = "TF-IDF") -> str:
    """One honest sentence: NASH at ``bits`` against the best other method at that length
    (by precision@k, ties by id; the wording follows the printed 3-decimal numbers, whether
    NASH leads or trails), then exact float cosine, the unhashed reference."""
    at = [r for r in rows if int(r["bits"]) == bits]
    nash = next((r for r in at if r["method"] == DEFAULT_HASHER), None)  # the demo's hasher
    others = [r for r in at if r["method"] != DEFAULT_HASHER]
    if nash is None:
        raise ValueError(f"no {display_name(DEFAULT_HASHER)} result at {bits} bits")
    p = float(nash["index_order"])
    text = f"{display_name(DEFAULT_HASHER)} {bits} bits: precision@{k} {p:.3f}"
    if others:
        best = max(others, key=lambda r: float(r["index_order"]))  # the first of equals
        q, name = float(best["index_order"]), display_name(best["method"])
        diff = round(p, 3) - round(q, 3)  # of the numbers printed, so that the sentence adds up
        if abs(diff) < 5e-4:
            text += f", level with {name}, the strongest baseline ({q:.3f})"
        elif diff > 0:
            text += f", ahead of {name}, the strongest baseline ({q:.3f}), by {diff:.3f}"
        else:
            text += f", behind {name}, the strongest baseline ({q:.3f}), by {-diff:.3f}"
    else:
        text += " (no baseline run)"
    if cosine is not None:
        text += f"; {cosine_label(features)} (float, no hashing) {float(cosine['precision']):.3f}"
    return text


def _table(rows: Sequence[Mapping[str, Any]], key: str, train: bool) -> List[str]:
    methods, bits, cells = _grid(rows)
    head = f"  {'method':<9}" + "".join(f"{str(b) + ' bits':>10}" for b in bits)
    lines = [head + (f"  {'train s':>8}" if train else "")]
    for m in methods:
        vals = "".join(f"{cells[(m, b)][key]:10.3f}" if (m, b) in cells else f"{'-':>10}" for b in bits)
        line = f"  {display_name(m):<9}" + vals
        if train:
            line += f"  {sum(float(cells[(m, b)]['train_s']) for b in bits if (m, b) in cells):8.1f}"
        lines.append(line)
    return lines


def print_summary(report: Dict[str, Any]) -> None:
    """Precision table (methods x bit lengths, and the float cosine), the headline sentence and
    the latency / throughput lines."""
    k, rows, features = report["k"], report["results"], report.get("features", "TF-IDF")
    print()
    print(f"precision@{k} of {report['n_queries']} held-out queries against {report['n_db']} documents "
          f"({report['labels']} labels; relevant = same label), ties broken by database id:")
    for line in _table(rows, "index_order", train=True):
        print(line)
    cos = report.get("cosine")
    if cos is not None:
        print(f"  {cosine_label(features)} (float vectors, no hashing): {cos['precision']:.3f}"
              f"  ({cos['seconds']:.1f} s brute force)")
    for note in report.get("skipped", []):
        print(f"  not run: {note}")
    print("  (train s: all lengths together)")
    print(f"the same, ties broken at random (expected precision@{k}):")
    for line in _table(rows, "expected", train=False):
        print(line)
    print()
    print(report["headline"])
    lat = report["latency"]
    print()
    print(f"query latency ({lat['bits']}-bit codes, {report['index']}, {report['n_db']} documents, "
          f"one query per call, {lat['queries']} calls): p50 {lat['p50_ms']:.3f} ms, p99 {lat['p99_ms']:.3f} ms")
    print(f"  medians: {features} {lat['vectorize_ms']:.3f} ms, "
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
    """Precision@k vs bits (every method, the float cosine as a dashed line) and the latency
    breakdown; False when matplotlib is not installed."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    k, features = report["k"], report.get("features", "TF-IDF")
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 5.4), gridspec_kw={"width_ratios": [1.35, 1]})
    methods, bits, cells = _grid(report["results"])
    styles = {DEFAULT_HASHER: ("s-", "C3", 8, 2.4)}
    top = 0.0
    for i, m in enumerate(methods):
        pts = [(b, float(cells[(m, b)]["index_order"])) for b in bits if (m, b) in cells]
        marker, color, size, width = styles.get(m, ("o--", f"C{[0, 1, 2, 4, 5][i % 5]}", 6, 1.6))
        ax1.plot([b for b, _ in pts], [v for _, v in pts], marker, color=color, markersize=size, linewidth=width,
                 label=display_name(m), zorder=3 if m == DEFAULT_HASHER else 2)
        top = max([top] + [v for _, v in pts])
    cos = report.get("cosine")
    if cos is not None:
        ax1.axhline(cos["precision"], color="0.3", linestyle="--", linewidth=1.4,
                    label=f"{cosine_label(features)} (float) {cos['precision']:.3f}")
        top = max(top, float(cos["precision"]))
    ax1.set_xscale("log", base=2)
    ax1.set_xticks(bits)
    ax1.set_xticklabels([str(b) for b in bits])
    ax1.minorticks_off()
    ax1.set_xlabel("code length (bits)")
    ax1.set_ylabel(f"precision@{k}")
    ax1.set_ylim(0, top * 1.25 if top > 0 else 1)
    ax1.grid(True, alpha=0.3)
    ax1.set_title(f"precision@{k} vs code length ({features})")
    ax1.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, fontsize=9, frameon=False)
    lat = report["latency"]
    parts = [(features, lat["vectorize_ms"]), ("encode", lat["encode_ms"]), ("search", lat["search_ms"])]
    ax2.bar([p for p, _ in parts], [v for _, v in parts], color=["C0", "C1", "C2"])
    ax2.set_ylabel("ms per query (median)")
    ax2.set_title(f"single-query latency ({lat['bits']} bits): p50 {lat['p50_ms']:.2f} ms\n"
                  f"{lat['batch_qps']:,.0f} queries/s batched", fontsize=10)
    fig.suptitle(f"nash-index demo: {report['n_db']:,} documents, {report['n_queries']:,} queries", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True
