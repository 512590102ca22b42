"""``corpus.md`` and ``corpus.png`` of ``corpus_validate.py``: the prose, the measured tables, the figure."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any, Dict, List, Sequence

import numpy as np

import corpus_model as cm

INTRO = """# A generated corpus that looks real to a hashing model

`bench/generate_corpus.py` writes N labelled documents (sharded JSONL, deterministic by seed,
streaming); `bench/corpus_model.py` fits the model it samples from; this page is written by
`python bench/corpus_validate.py` (command below) and compares the generated text and its learned
codes with the real corpus the model was fitted on.

## How it is fitted
* **Real corpus**: 20 Newsgroups "bydate" (train + test, headers removed) and Reuters-21578
  ModApte with its 20 most frequent topics (train + test), read by `nash_index.datasets`:
  {templates} documents with at least 5 vocabulary tokens, 40 labels (20 groups, 20 topics; a
  multi-topic Reuters document keeps its most specific topic).
* **Vocabulary**: lower-cased `[a-z0-9]+` tokens of at most 20 characters seen at least twice:
  {vocabulary} words, stop words, numbers and rare words included.
* **Model**: each token is a *function word* (scikit-learn's English stop words and single
  characters; per-source unigram; each template keeps its real share), a *residual* content word
  (per-label content unigram: the label's own words and the rare tail; {residual_pct} % of content
  tokens), or a word of one of {topics} *topics* (NMF of the templates' term frequencies over the
  20,000 most frequent content words; topic rows and template rows normalised to distributions, an
  approximation of pLSA; the KL-loss NMF that is pLSA proper ran ~4 s per iteration here, too slow
  for a fit of a minute). Fit: {fit_s} s, one BLAS thread, NNDSVDa start (deterministic), cached in
  `bench/out/` (`$NASH_CORPUS_MODEL_DIR` overrides).

## How a document is drawn (and why)
* A random real document (template) gives the **label** (so labels follow the real prior), the
  **length** (the real length distribution, capped at {max_length} tokens: the 20 Newsgroups tail of
  uuencoded posts and FAQs is cut) and the **share of stop words**.
* Its **topic mixture** blends the template's ({blend_lo}-{blend_hi} of the weight) with another
  same-label document's, drops topics under {min_topic} (the NMF rows smear a little weight over
  many topics; with it, generated documents were far less alike than real ones: 24 % of
  Reuters-like documents shared a 32-bit PCA-ITQ code against 56 % of real ones; without it 46 %),
  and is jittered by a Dirichlet draw (concentration {concentration}): documents of a label spread
  over a continuum between real ones rather than around 40 label means (a per-label unigram model
  would make every label one tight cluster).
* **Word bursts**: {repeat_pct} % of tokens are copies of a random token of the same document. Real
  documents repeat their own words: the type/token ratio of content words was 0.80 / 0.76 / 0.70
  (real, documents of 20-60 / 60-150 / 150-400 content tokens) against 0.92 / 0.90 / 0.87 for
  independent draws, and 0.81 / 0.79 / 0.77 with the copies.
* **Threads**: {reply_pct} % of documents are replies to an earlier document of the same chunk
  (its label and topics, {quote_lo}-{quote_hi} of their words taken from it), as 20 Newsgroups
  threads and follow-up wire stories are.
* **Near-duplicates**: {dup_pct} % of documents are variants of an earlier document of the same
  chunk (families form): {exact_pct} % of them exact copies, the others with each word dropped or
  substituted with probability r ~ U({edit_lo}, {edit_hi}) and about r x length words inserted;
  they keep their source's label. The rate was set so that the share of documents with a
  near-identical neighbour (TF-IDF cosine >= 0.9) is close to the real corpora's (5-7 %; table below).
* Each document's component mix is {slots} multinomial slots; a token draws a slot, then a word from
  that component's alias table (O(1) per word, numpy-vectorised over chunks of {chunk} documents).
  Document i depends only on (seed, i // {chunk}) and the model: the same whatever N, shard size
  or worker count.
"""

DISCUSSION = """## What matches and what does not (measured 2026-12-06, numbers in the tables above)
* **Identical codes** (what the index work of issue #24 depends on) come out near the real rates:
  32-bit PCA-ITQ codes are shared with another document by 53 % of generated documents (real 59 %),
  64 bits 15 % (19 %); NASH 32 bits 95 % (93 %), 64 bits 78 % (59 %, the largest gap); the distance
  to the nearest other code and the random-pair distances have the same shape (figure). At 10^5
  generated documents the rates rise (PCA-ITQ 32 bits 63 %, largest tie 1,516 documents), as
  they do when a real corpus grows.
* **Text**: lengths follow the real distribution up to the 1,000-token cap (hence a mean of 195
  tokens against 237); the stop-word share and the tokens the TF-IDF vectorizer keeps per document
  are close (96 against 104); documents with a near-identical neighbour (TF-IDF cosine >= 0.9):
  7.0 % against 6.0 %; >= 0.8: 10 % against 17 % (real threads quote more loosely).
* **Labels are harder to recover** than in the real corpus: precision@100 is 0.11-0.22 lower
  (PCA-ITQ 64 bits 0.33 against 0.55). The 64 shared topics and the 20 % per-label residual carry
  less label-specific vocabulary than real documents do. The ranking of the hashers also differs:
  on the real corpus PCA-ITQ is ahead of this 5-epoch NASH (0.47 / 0.46 at 32 bits, 0.55 / 0.52 at
  64), on the generated one NASH is ahead (0.34 / 0.34, 0.37 / 0.33). Absolute precision, and a
  NASH-over-PCA-ITQ margin, measured on generated text are not real-corpus figures.
* **Rare words**: the vocabulary has no hapaxes (words seen once are dropped) and the topics smooth
  the tail, so a generated sample holds fewer distinct words than a real one of the same size (see
  *types*); the 10,000-term vocabulary cut still binds (*terms_df3*). Near-duplicates and replies
  only point inside a chunk of 8,192 documents (ids close together).
* NASH here: library defaults but only 5 epochs without early stopping (shared machine), so its
  absolute figures are below a full training; they serve the comparison real vs generated.
"""

COMMAND = """## Reproduce
```
{command} --speed /tmp/corpus/1e6/meta.json   # this page
python bench/generate_corpus.py --docs 1e6 --seed 0 --out /tmp/corpus/1e6 --workers 2       # throughput
```
"""


def md_table(header: Sequence[str], rows: List[Sequence[Any]]) -> List[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return lines + ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]


def write_markdown(report: Dict[str, Any], path: Path, speed: Sequence[Dict[str, Any]] = ()) -> None:
    s, m = report["settings"], report["model"]
    corpora = report["corpora"]
    lines = [INTRO.format(templates=f"{m['templates']:,}", vocabulary=f"{m['vocabulary']:,}", topics=m["n_topics"],
                          fit_s=m["fit_seconds"], max_length=s["max_length"], concentration=s["topic_concentration"],
                          slots=s["slots"], chunk=s["chunk_docs"], dup_pct=round(100 * s["dup_rate"], 1),
                          residual_pct=round(100 * s["residual"]), blend_lo=s["blend_range"][0],
                          blend_hi=s["blend_range"][1], min_topic=s["min_topic_weight"],
                          repeat_pct=round(100 * s["repeat"]), reply_pct=round(100 * s["reply_rate"]),
                          quote_lo=s["quote_range"][0], quote_hi=s["quote_range"][1],
                          exact_pct=round(100 * s["exact_share"]), edit_lo=s["edit_range"][0],
                          edit_hi=s["edit_range"][1])]
    with_text = [c for c in corpora if "text" in c]
    keys = ["mean_tokens", "tokens_p5_p50_p95_p99", "mean_chars", "types", "stop_word_share", "single_char_share",
            "terms_df3", "mean_kept_tokens"]
    lines += ["## Text", "", "Tokens as the generator counts them (`[a-z0-9]+`); *kept* = tokens the TF-IDF "
              "vectorizer keeps (scikit-learn's tokenizer, stop words out, 10,000-term vocabulary fitted on the "
              "database).", ""]
    lines += md_table(["statistic"] + [c["name"] for c in with_text], [[k] + [c["text"][k] for c in with_text]
                                                                        for k in keys])
    lines += ["", "Share of database documents whose most similar other document has TF-IDF cosine >= t "
              "(near-duplicates):", ""]
    nd = list(with_text[0]["near_duplicates"])
    lines += md_table(["corpus"] + nd, [[c["name"]] + [c["near_duplicates"][k] for k in nd] for c in with_text])
    lines += ["", "## Learned codes", "",
              f"Database codes (queries: {corpora[0]['queries']} random documents). *dup-code*: share of database "
              "documents whose code equals another's; *nearest*: mean Hamming distance to the nearest other code "
              f"(exact, sample of 3,000); *pairs*: mean distance of random pairs. NASH: library defaults, "
              f"{report['nash_epochs']} epochs, no early stopping. p@100: index order / expected over ties.", ""]
    rows = []
    for c in corpora:
        for key, r in c["codes"].items():
            rows.append([c["name"], f"{c['database']:,}", key, f"{r['p100_index']:.4f} / {r['p100_expected']:.4f}",
                         r["duplicate_code_rate"], f"{r['distinct_codes']:,}", r["largest_tie"], r["nearest_mean"],
                         r["pair_mean"]])
    lines += md_table(["corpus", "database", "codes", "p@100", "dup-code", "distinct", "largest tie", "nearest",
                       "pairs"], rows)
    if speed:
        lines += ["", "## Generation speed", "", "`generate_corpus.py` (wall time including worker start and the "
                  "model load; CPU = main process + workers). The machine was shared (load average far above its "
                  "2 cores), so wall time is the pessimistic figure and CPU time / 2 the figure on 2 free cores:", ""]
        lines += md_table(["documents", "workers", "wall s", "docs/s (wall)", "CPU s", "docs/s per CPU core",
                           "GB written", "10^7: wall-rate min", "10^7: 2 free cores min"],
                          [[f"{x['n']:,}", x["workers"], x["seconds"], f"{x['docs_per_s']:,.0f}",
                            x.get("cpu_seconds", "-"),
                            f"{x['n'] / x['cpu_seconds']:,.0f}" if x.get("cpu_seconds") else "-",
                            round(sum(sh["bytes"] for sh in x["shards"]) / 1e9, 2),
                            round(1e7 / x["docs_per_s"] / 60, 1),
                            round(1e7 * x["cpu_seconds"] / x["n"] / 2 / 60, 1) if x.get("cpu_seconds") else "-"]
                           for x in speed])
    lines += ["", DISCUSSION]
    lines.append(COMMAND.format(command=report.get("command", "python bench/corpus_validate.py")))
    path.write_text("\n".join(lines) + "\n")


def write_plot(report: Dict[str, Any], real_texts: Sequence[str], gen_texts: Sequence[str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 3, figsize=(16, 9))
    real_tok = [cm.tokenize(t) for t in real_texts]
    gen_tok = [cm.tokenize(t) for t in gen_texts]
    ax = axes[0, 0]
    bins = np.logspace(0, 4, 50)
    for name, toks in (("real", real_tok), ("generated", gen_tok)):
        ax.hist([max(1, len(t)) for t in toks], bins=bins, histtype="step", label=name, density=True)
    ax.set(xscale="log", title="document length (tokens)", xlabel="tokens")
    ax.legend()
    ax = axes[0, 1]
    for name, toks in (("real", real_tok), ("generated", gen_tok)):
        freq = np.sort(np.array(list(Counter(w for t in toks for w in t).values())))[::-1]
        ax.loglog(np.arange(1, freq.size + 1), freq, label=name)
    ax.set(title="word frequency by rank", xlabel="rank", ylabel="count")
    ax.legend()
    corpora = report["corpora"]
    ax = axes[0, 2]
    labels, width = [], 0.8 / len(corpora)
    keys = list(corpora[0]["codes"])
    for i, c in enumerate(corpora):
        vals = [c["codes"].get(k, {}).get("p100_index", np.nan) for k in keys]
        ax.bar(np.arange(len(keys)) + i * width, vals, width, label=f"{c['name']} ({c['database']:,})")
    ax.set_xticks(np.arange(len(keys)) + 0.4 - width / 2, keys)
    ax.set(title="precision@100 (index order)", ylim=(0, 1))
    ax.legend(fontsize=8)
    del labels
    for col, nbits in enumerate(sorted({int(k.split("/")[1]) for k in keys})[:2]):
        ax = axes[1, col]
        for c in corpora:
            for kind, style in (("NASH", "-"), ("PCA-ITQ", ":")):
                r = c["codes"].get(f"{kind}/{nbits}")
                if r:
                    h = np.asarray(r["nearest_hist"], dtype=float)
                    ax.plot(np.arange(h.size), h / h.sum(), style, label=f"{kind} {c['name']}")
        ax.set(title=f"{nbits} bits: Hamming distance to the nearest other code", xlabel="distance",
               xlim=(-0.5, nbits // 2))
        ax.legend(fontsize=7)
    ax = axes[1, 2]
    for c in corpora:
        for key, r in c["codes"].items():
            if key.startswith("NASH"):
                h = np.asarray(r["pair_hist"], dtype=float)
                ax.plot(np.arange(h.size), h / h.sum(), label=f"{key} {c['name']}")
    ax.set(title="NASH: Hamming distance of random pairs", xlabel="distance")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
