"""Does the generated corpus look real to a hashing model?  Learned codes, text and near-duplicate
statistics of the real corpus (20 Newsgroups + Reuters, the generator's templates) beside a
generated corpus of the same size, and of larger generated corpora.

    python bench/corpus_validate.py [--large 100000] [--bits 32,64] [--nash-epochs 8] [--out bench/results]

writes ``corpus.json``, ``corpus.png`` and the measured tables of ``corpus.md`` (the prose around
them is in ``corpus_report.py``). Each corpus is split into 1,000 random queries and a database;
the TF-IDF vectorizer (library defaults, 10,000 terms), PCA-ITQ and NASH (library defaults, one
torch thread, ``--nash-epochs`` epochs without early stopping) are fitted on the database.
Code statistics are over the database codes; distances to the nearest other code are exact over
the whole database for a sample of 3,000 documents (numpy, not the project's index).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Sequence

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parent))
import corpus_model as cm  # noqa: E402
import generate_corpus as gc  # noqa: E402

N_QUERIES = 1000
SAMPLE = 3000


# ------------------------------------------------------------------ statistics
def text_stats(texts: Sequence[str], X_counts: sp.csr_matrix, stop: frozenset) -> Dict[str, Any]:
    """Lengths (raw tokens and tokens the TF-IDF tokenizer keeps) and vocabulary statistics."""
    raw = [cm.tokenize(t) for t in texts]
    lengths = np.array([len(r) for r in raw])
    flat = [w for r in raw for w in r]
    kept = np.asarray(X_counts.sum(axis=1)).ravel()
    df = np.bincount(X_counts.indices, minlength=X_counts.shape[1])
    return {
        "docs": len(texts), "mean_tokens": round(float(lengths.mean()), 1),
        "tokens_p5_p50_p95_p99": np.percentile(lengths, [5, 50, 95, 99]).round().tolist(),
        "mean_chars": round(float(np.mean([len(t) for t in texts])), 1),
        "types": len(set(flat)), "stop_word_share": round(sum(w in stop for w in flat) / max(1, len(flat)), 3),
        "single_char_share": round(sum(len(w) == 1 for w in flat) / max(1, len(flat)), 3),
        "terms_df3": int((df >= 3).sum()), "mean_kept_tokens": round(float(kept.mean()), 1),
    }


def near_duplicate_shares(X: sp.csr_matrix, thresholds=(0.99, 0.9, 0.8)) -> Dict[str, float]:
    """Share of documents whose most similar other document has TF-IDF cosine >= each threshold."""
    best = np.zeros(X.shape[0])
    for start in range(0, X.shape[0], 2000):
        block = (X[start:start + 2000] @ X.T).toarray()
        block[np.arange(block.shape[0]), np.arange(start, start + block.shape[0])] = -1
        best[start:start + block.shape[0]] = block.max(axis=1)
    return {f"cos>={t}": round(float((best >= t).mean()), 4) for t in thresholds}


def as_words(codes: np.ndarray) -> np.ndarray:
    """Packed uint8 codes -> one unsigned integer per row (32 or 64 bits)."""
    dtype = {4: np.uint32, 8: np.uint64}[codes.shape[1]]
    return np.ascontiguousarray(codes).view(dtype).ravel()


def code_stats(codes: np.ndarray, rng: np.random.Generator) -> Dict[str, Any]:
    """Duplicate-code rate, distinct codes, nearest-other and random-pair Hamming distances."""
    words = as_words(codes)
    nbits = codes.shape[1] * 8
    _, inverse, counts = np.unique(words, return_inverse=True, return_counts=True)
    sample = rng.choice(words.size, size=min(SAMPLE, words.size), replace=False)
    nearest = np.empty(sample.size, dtype=np.int64)
    for i, row in enumerate(sample):
        d = np.bitwise_count(words ^ words[row]).astype(np.int64)
        d[row] = nbits + 1
        nearest[i] = d.min()
    a, b = rng.integers(0, words.size, size=(2, 20000))
    pairs = np.bitwise_count(words[a[a != b]] ^ words[b[a != b]]).astype(np.int64)
    return {
        "duplicate_code_rate": round(float((counts[inverse] > 1).mean()), 4),
        "distinct_codes": int(counts.size), "largest_tie": int(counts.max()),
        "nearest_hist": np.bincount(nearest, minlength=nbits + 1)[:nbits + 1].tolist(),
        "nearest_mean": round(float(nearest.mean()), 3),
        "pair_hist": np.bincount(pairs, minlength=nbits + 1).tolist(), "pair_mean": round(float(pairs.mean()), 2),
        "bit_balance_min": round(float(np.unpackbits(codes, axis=1).mean(0).min()), 3),
    }


# ------------------------------------------------------------------ one corpus
def evaluate(name: str, texts: List[str], labels: np.ndarray, bits: Sequence[int], nash_epochs: int,
             nash_bits: Sequence[int], seed: int = 0, with_text_stats: bool = True) -> Dict[str, Any]:
    from nash_index import NASH
    from nash_index.baselines import PCAITQ
    from nash_index.evaluation import precision_at_k
    from nash_index.text import TextVectorizer

    rng = np.random.default_rng(seed)
    order = rng.permutation(len(texts))
    q_idx, db_idx = order[:N_QUERIES], order[N_QUERIES:]
    db_texts = [texts[i] for i in db_idx]
    t0 = time.perf_counter()
    vec = TextVectorizer().fit(db_texts)
    X_db, X_q = vec.transform(db_texts), vec.transform([texts[i] for i in q_idx])
    out: Dict[str, Any] = {"name": name, "docs": len(texts), "database": len(db_idx), "queries": N_QUERIES,
                           "vectorize_s": round(time.perf_counter() - t0, 1), "codes": {}}
    if with_text_stats:
        out["text"] = text_stats(texts, vec._get_counter().transform(texts), cm.function_words())
        out["near_duplicates"] = near_duplicate_shares(X_db)
    y_db, y_q = labels[db_idx], labels[q_idx]
    for nbits in bits:
        hashers = [("PCA-ITQ", PCAITQ(nbits=nbits))]
        if nbits in nash_bits:
            hashers.append(("NASH", NASH(nbits=nbits, epochs=nash_epochs, verbose=False, seed=0)))
        for kind, model in hashers:
            t0 = time.perf_counter()
            model.fit(X_db)
            c_db, c_q = model.encode(X_db), model.encode(X_q)
            p = precision_at_k(c_db, y_db, c_q, y_q, k=100)
            rec = {"fit_s": round(time.perf_counter() - t0, 1), "p100_index": round(p.index_order, 4),
                   "p100_expected": round(p.expected, 4), **code_stats(c_db, rng)}
            out["codes"][f"{kind}/{nbits}"] = rec
            print(f"{name:>12} {kind:>8} {nbits}: p@100 {rec['p100_index']:.4f}  dup-code {rec['duplicate_code_rate']:.4f}"
                  f"  distinct {rec['distinct_codes']}  nearest {rec['nearest_mean']}  ({rec['fit_s']} s)", flush=True)
    return out


def real_corpus() -> tuple:
    """The templates: real documents with >= 5 vocabulary tokens, their primary labels."""
    texts, labels, _, _, _ = cm.read_real_corpora(cm.default_data_dir())
    model = cm.load_model()
    index = {w for w in model.words}
    keep = [i for i, t in enumerate(texts) if sum(w in index for w in cm.tokenize(t)) >= 5]
    return [texts[i] for i in keep], labels[keep]


def measure(args: argparse.Namespace, real_texts: List[str], real_labels: np.ndarray, gen_texts: List[str],
            gen_labels: np.ndarray) -> Dict[str, Any]:
    """Every corpus evaluated: the real one, a generated one of its size, the larger generated ones."""
    bits = [int(b) for b in args.bits.split(",")]
    large_nash = [int(b) for b in args.large_nash_bits.split(",") if b]
    nash_bits = [int(b) for b in args.nash_bits.split(",") if b]
    report: Dict[str, Any] = {"nash_epochs": args.nash_epochs, "settings": gc.settings(),
                              "generator_version": gc.GENERATOR_VERSION, "model": cm.load_model().summary(),
                              "corpora": [],
                              "command": (f"python bench/corpus_validate.py --large {' '.join(map(str, args.large))} "
                                          f"--bits {args.bits} --nash-epochs {args.nash_epochs} "
                                          f"--nash-bits '{args.nash_bits}' --large-nash-bits '{args.large_nash_bits}'")}
    report["corpora"].append(evaluate("real", real_texts, real_labels, bits, args.nash_epochs, nash_bits))
    report["corpora"].append(evaluate("generated", gen_texts, gen_labels, bits, args.nash_epochs, nash_bits))
    for size in args.large:
        texts, labels = gc.generate(size, seed=1)
        report["corpora"].append(evaluate(f"generated-{size}", texts, labels, bits, args.nash_epochs, large_nash,
                                          with_text_stats=False))
    return report


def main(argv: Sequence[str] = ()) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--large", type=gc.parse_count, nargs="*", default=[100_000])
    p.add_argument("--bits", default="32,64")
    p.add_argument("--nash-epochs", type=int, default=8)
    p.add_argument("--nash-bits", default="32,64", help="NASH code lengths on the real-size corpora ('' for none)")
    p.add_argument("--large-nash-bits", default="32", help="NASH code lengths at the large sizes ('' for none)")
    p.add_argument("--speed", type=Path, nargs="*", default=[],
                   help="meta.json files of generate_corpus.py runs to report their throughput")
    p.add_argument("--limit", type=int, default=None, help="a random subset of the real corpus (quick checks)")
    p.add_argument("--render-only", action="store_true",
                   help="re-write corpus.md / corpus.png from the corpus.json in --out (and --speed files)")
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    args = p.parse_args(argv or None)
    real_texts, real_labels = real_corpus()
    if args.limit:
        keep = np.sort(np.random.default_rng(0).choice(len(real_texts), size=args.limit, replace=False))
        real_texts, real_labels = [real_texts[i] for i in keep], real_labels[keep]
    gen_texts, gen_labels = gc.generate(len(real_texts), seed=0)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.render_only:
        report = json.loads((args.out / "corpus.json").read_text())
    else:
        report = measure(args, real_texts, real_labels, gen_texts, gen_labels)
    speed = [json.loads(Path(x).read_text()) for x in args.speed]
    if speed:
        report["speed"] = [{k: x.get(k) for k in ("n", "workers", "seconds", "docs_per_s", "cpu_seconds")}
                           for x in speed]
    (args.out / "corpus.json").write_text(json.dumps(report, indent=1))
    from corpus_report import write_markdown, write_plot

    write_plot(report, real_texts, gen_texts, args.out / "corpus.png")
    write_markdown(report, args.out / "corpus.md", speed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
