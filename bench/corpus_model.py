"""The topic model behind ``generate_corpus.py``: fitted on 20 Newsgroups and Reuters-21578, cached.

What is fitted (deterministic: fixed tokenizer, vocabulary order, NNDSVD start, one BLAS thread):

* **Documents**: every post of 20 Newsgroups "bydate" (train and test, headers removed, the
  library's default cleaning) and every ModApte document of Reuters-21578 with one of its 20 most
  frequent topics (train and test), read through :mod:`nash_index.datasets`. Each is one
  *template*: its label (20 groups + 20 Reuters topics = 40 labels; a multi-topic Reuters document
  keeps its least frequent topic, the most specific), its source, its length and its word mix.
* **Tokens**: lower-cased ASCII runs ``[a-z0-9]+`` of at most 20 characters (so every generated
  word is one scikit-learn token or a single character, and a text never needs JSON escaping).
  The vocabulary is every token seen at least twice, ordered by count then spelling; stop words,
  single letters, numbers and rare words stay, so a vocabulary cut downstream still matters.
* **Function words** (scikit-learn's English stop words and single characters) come from a
  per-source *background* unigram; each template keeps its real share of them.
* **Content words** come from K topics: NMF (Frobenius loss, coordinate descent, NNDSVDa start)
  on the documents' term frequencies over the ``topic_words`` most frequent content words (92 % of
  the content tokens); normalised, each topic row is a word distribution and each template's row a
  topic mixture, an approximation of pLSA. pLSA proper (NMF with KL loss) took ~4 s per iteration
  on this machine, too slow for a fit of a minute. A per-source content unigram over the whole
  vocabulary (the "residual", weight ``generate_corpus.RESIDUAL``) keeps the long tail of rare words.

The fitted arrays are cached in an ``.npz`` keyed by the fit parameters and the archives' sizes
and modification times (``bench/out/`` by default; ``$NASH_CORPUS_MODEL_DIR`` overrides).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
import warnings
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import scipy.sparse as sp

REPO = Path(__file__).resolve().parents[1]
MODEL_VERSION = 3
TOKEN = re.compile(r"[a-z0-9]+")
MAX_WORD_CHARS = 20


@dataclass(frozen=True)
class FitParams:
    """What the fit depends on (besides the archives)."""

    n_topics: int = 64
    min_count: int = 2
    topic_words: int = 20000
    nmf_iter: int = 40
    max_docs_per_source: Optional[int] = None  # tests fit on a few hundred documents


@dataclass
class TopicModel:
    """Fitted arrays. ``components`` rows are word distributions over ``words``: K topics, then
    a background and a residual per source (``component_names``). Template arrays have one entry
    per real document."""

    words: List[str]
    components: np.ndarray          # (K + 2 * n_sources, V) float64, rows sum to 1
    component_names: List[str]
    n_topics: int
    sources: List[str]
    label_names: List[str]
    template_label: np.ndarray      # int32
    template_source: np.ndarray     # int32
    template_length: np.ndarray     # int32, tokens in the vocabulary
    template_function_share: np.ndarray  # float32, share of function words
    template_topics: np.ndarray     # (n_templates, K) float32, rows sum to 1
    alias_prob: np.ndarray          # (n_components, V) float32: Walker alias tables of components
    alias_index: np.ndarray         # (n_components, V) int32
    params: Dict[str, Any]
    fit_seconds: float

    def summary(self) -> Dict[str, Any]:
        """A small JSON-able description for ``meta.json``."""
        return {
            "kind": "NMF topics of term frequencies + per-source function-word background + per-source residual unigram",
            "model_version": MODEL_VERSION, "n_topics": self.n_topics, "vocabulary": len(self.words),
            "templates": int(self.template_label.size), "sources": self.sources, "params": self.params,
            "median_length": float(np.median(self.template_length)), "fit_seconds": round(self.fit_seconds, 1),
        }


# ------------------------------------------------------------------ reading the real corpora
def default_data_dir() -> Optional[Path]:
    """``$NASH_INDEX_DATA`` if set (None: the library reads it), else ``<repo>/../shared/data``."""
    if os.environ.get("NASH_INDEX_DATA"):
        return None
    shared = REPO.parent / "shared" / "data"
    return shared if shared.is_dir() else None


def primary_labels(indicator: np.ndarray) -> np.ndarray:
    """One label per row of a bool indicator: the least frequent label the row holds (ties: lowest
    column), the most specific topic of a multi-topic Reuters document."""
    freq = indicator.sum(0).astype(np.float64)
    score = np.where(indicator, freq[None, :], np.inf)
    return np.argmin(score, axis=1).astype(np.int32)


def read_real_corpora(data_dir: Optional[Path] = None,
                      max_docs_per_source: Optional[int] = None) -> Tuple[List[str], np.ndarray, np.ndarray, List[str],
                                                                         List[str]]:
    """Texts, labels (0..39), source ids, label names and source names of the two real corpora,
    in a fixed order (20 Newsgroups train, test; Reuters train, test)."""
    from nash_index.datasets import load_20newsgroups, load_reuters

    texts: List[str] = []
    labels: List[np.ndarray] = []
    sources: List[np.ndarray] = []
    label_names: List[str] = []
    source_names = ["20ng", "reuters"]
    for s, loader in enumerate((load_20newsgroups, load_reuters)):
        raw = loader(data_dir)
        docs = raw.train_texts + raw.test_texts
        lab = primary_labels(np.vstack([raw.train_labels, raw.test_labels])) + len(label_names)
        keep = np.arange(len(docs))
        if max_docs_per_source is not None and len(docs) > max_docs_per_source:
            keep = np.linspace(0, len(docs) - 1, max_docs_per_source).astype(np.int64)
        texts.extend(docs[i] for i in keep)
        labels.append(lab[keep])
        sources.append(np.full(keep.size, s, dtype=np.int32))
        label_names.extend(f"{source_names[s]}/{name}" for name in raw.label_names)
    return texts, np.concatenate(labels), np.concatenate(sources), label_names, source_names


def tokenize(text: str) -> List[str]:
    """The generator's tokens: lower-cased ``[a-z0-9]+`` runs of at most ``MAX_WORD_CHARS``."""
    return [w for w in TOKEN.findall(text.lower()) if len(w) <= MAX_WORD_CHARS]


def function_words() -> frozenset:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS)


# ------------------------------------------------------------------ fitting
def build_vocabulary(token_lists: Sequence[List[str]], min_count: int) -> List[str]:
    counts = Counter(w for doc in token_lists for w in doc)
    kept = [(c, w) for w, c in counts.items() if c >= min_count]
    return [w for _, w in sorted(kept, key=lambda cw: (-cw[0], cw[1]))]


def count_matrix(token_lists: Sequence[List[str]], index: Dict[str, int]) -> sp.csr_matrix:
    """Documents x vocabulary counts (float64); out-of-vocabulary tokens are dropped."""
    indptr = [0]
    cols: List[int] = []
    for doc in token_lists:
        cols.extend(index[w] for w in doc if w in index)
        indptr.append(len(cols))
    data = np.ones(len(cols), dtype=np.float64)
    m = sp.csr_matrix((data, np.asarray(cols, dtype=np.int64), np.asarray(indptr)), shape=(len(token_lists), len(index)))
    m.sum_duplicates()
    return m


def unigram(counts: sp.csr_matrix, rows: np.ndarray, cols_mask: np.ndarray) -> np.ndarray:
    """Word distribution of ``rows`` restricted to the columns in ``cols_mask`` (add-0.01 smoothing
    on those columns so every word of the mask can occur)."""
    total = np.asarray(counts[rows].sum(axis=0)).ravel() + 0.01
    total[~cols_mask] = 0.0
    return total / total.sum()


def fit_topics(content: sp.csr_matrix, n_topics: int, n_iter: int) -> Tuple[np.ndarray, np.ndarray]:
    """NMF of the term frequencies (Frobenius loss, coordinate descent, NNDSVDa start): template
    mixtures (rows sum to 1) and topic word distributions (rows sum to 1)."""
    from sklearn.decomposition import NMF
    from sklearn.exceptions import ConvergenceWarning
    from threadpoolctl import threadpool_limits

    length = np.asarray(content.sum(axis=1)).ravel()
    tf = sp.diags(1.0 / np.maximum(length, 1.0)) @ content
    with threadpool_limits(1), warnings.catch_warnings():  # one thread: deterministic sums, no oversubscription
        warnings.simplefilter("ignore", ConvergenceWarning)  # the iteration cap is deliberate (fit time)
        nmf = NMF(n_components=n_topics, init="nndsvda", solver="cd", max_iter=n_iter, tol=1e-4, random_state=0)
        W = nmf.fit_transform(tf)
    H = nmf.components_
    mass = H.sum(axis=1)
    mass[mass == 0] = 1.0
    topics = H / mass[:, None]
    mix = W * mass[None, :]
    row = mix.sum(axis=1)
    empty = row == 0
    mix[empty] = 1.0
    row[empty] = n_topics
    return (mix / row[:, None]).astype(np.float32), topics


def fit_model(params: FitParams, data_dir: Optional[Path] = None) -> TopicModel:
    """Fits the model on the real corpora (see the module docstring)."""
    start = time.perf_counter()
    texts, labels, sources, label_names, source_names = read_real_corpora(data_dir, params.max_docs_per_source)
    token_lists = [tokenize(t) for t in texts]
    words = build_vocabulary(token_lists, params.min_count)
    index = {w: i for i, w in enumerate(words)}
    counts = count_matrix(token_lists, index)
    stop = function_words()
    is_function = np.array([len(w) == 1 or w in stop for w in words])
    lengths = np.asarray(counts.sum(axis=1)).ravel()
    keep = lengths >= 5  # as the VDSH recipe: a template needs a few words
    counts, labels, sources, lengths = counts[keep], labels[keep], sources[keep], lengths[keep]
    function_count = np.asarray(counts[:, np.flatnonzero(is_function)].sum(axis=1)).ravel()
    content = counts @ sp.diags((~is_function).astype(np.float64))
    content.eliminate_zeros()
    topic_cols = np.flatnonzero(~is_function)[:params.topic_words]  # the vocabulary is sorted by count
    mix, topic_rows = fit_topics(content.tocsr()[:, topic_cols], params.n_topics, params.nmf_iter)
    topics = np.zeros((params.n_topics, len(words)))
    topics[:, topic_cols] = topic_rows
    rows_by_source = [np.flatnonzero(sources == s) for s in range(len(source_names))]
    background = [unigram(counts, r, is_function) for r in rows_by_source]
    residual = [unigram(counts, r, ~is_function) for r in rows_by_source]
    components = np.vstack([topics] + background + residual)
    names = [f"topic{k}" for k in range(params.n_topics)] + [f"background/{s}" for s in source_names] + [
        f"residual/{s}" for s in source_names]
    alias_prob, alias_index = alias_tables(components)
    return TopicModel(
        words=words, components=components, alias_prob=alias_prob, alias_index=alias_index, component_names=names, n_topics=params.n_topics,
        sources=source_names, label_names=label_names, template_label=labels.astype(np.int32),
        template_source=sources.astype(np.int32), template_length=lengths.astype(np.int32),
        template_function_share=(function_count / lengths).astype(np.float32), template_topics=mix,
        params=asdict(params), fit_seconds=time.perf_counter() - start,
    )


def alias_table(p: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Walker's alias table (Vose's construction) of a distribution: draw ``j`` uniform and ``f``
    uniform, take ``j`` if ``f < prob[j]`` else ``alias[j]``; O(1) per draw whatever its size."""
    n = p.size
    q = (p / p.sum() * n).tolist()
    prob = [1.0] * n
    alias = list(range(n))
    small = [i for i, v in enumerate(q) if v < 1.0]
    large = [i for i, v in enumerate(q) if v >= 1.0]
    while small and large:
        s, big = small.pop(), large[-1]
        prob[s], alias[s] = q[s], big
        q[big] -= 1.0 - q[s]
        if q[big] < 1.0:
            large.pop()
            small.append(big)
    return np.asarray(prob, dtype=np.float32), np.asarray(alias, dtype=np.int32)


def alias_tables(components: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    tables = [alias_table(row) for row in components]
    return np.vstack([t[0] for t in tables]), np.vstack([t[1] for t in tables])


# ------------------------------------------------------------------ cache
def _archives(data_dir: Optional[Path]) -> List[Path]:
    from nash_index.datasets.locate import locate
    from nash_index.datasets.newsgroups import ARCHIVE_NAMES as NG
    from nash_index.datasets.reuters import ARCHIVE_NAMES as RT

    return [locate("20 Newsgroups (bydate)", NG, data_dir), locate("Reuters-21578", RT, data_dir)]


def cache_key(params: FitParams, data_dir: Optional[Path]) -> str:
    stamp = [MODEL_VERSION, asdict(params)] + [[p.name, p.stat().st_size, int(p.stat().st_mtime)]
                                               for p in _archives(data_dir)]
    return hashlib.sha256(json.dumps(stamp, sort_keys=True).encode()).hexdigest()[:16]


def model_dir() -> Path:
    env = os.environ.get("NASH_CORPUS_MODEL_DIR")
    return Path(env) if env else REPO / "bench" / "out"


def save_model(model: TopicModel, path: Path) -> None:
    """One ``.npz`` (no pickle), written to a temporary name then renamed."""
    meta = {k: getattr(model, k) for k in ("component_names", "n_topics", "sources", "label_names", "params",
                                            "fit_seconds")}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    with open(tmp, "wb") as fh:
        np.savez(fh, words=np.asarray(model.words, dtype=str), components=model.components,
                 template_label=model.template_label, template_source=model.template_source,
                 template_length=model.template_length, template_function_share=model.template_function_share,
                 template_topics=model.template_topics, alias_prob=model.alias_prob,
                 alias_index=model.alias_index, meta=np.asarray(json.dumps(meta)))
    os.replace(tmp, path)


def read_model(path: Path) -> TopicModel:
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(str(z["meta"]))
        arrays = {k: z[k] for k in ("components", "template_label", "template_source", "template_length",
                                    "template_function_share", "template_topics", "alias_prob", "alias_index")}
        words = z["words"].tolist()
    return TopicModel(words=words, **arrays, **meta)


def load_model(params: Optional[FitParams] = None, data_dir: Optional[Path] = None,
               cache: Optional[Path] = None) -> TopicModel:
    """The fitted model, from the cache if there, else fitted (about a minute) and cached."""
    params = params or FitParams()
    data_dir = data_dir if data_dir is not None else default_data_dir()
    path = (cache or model_dir()) / f"corpus_model-{cache_key(params, data_dir)}.npz"
    if path.exists():
        return read_model(path)
    model = fit_model(params, data_dir)
    save_model(model, path)
    return model
