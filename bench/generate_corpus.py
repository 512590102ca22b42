"""A realistic large labelled text corpus, generated: N documents as sharded JSONL, deterministic by seed.

    python bench/generate_corpus.py --docs 1e7 --seed 0 --out /tmp/corpus/1e7 [--shard-docs 1000000] [--workers 2]

writes ``part-00000.jsonl``, ``part-00001.jsonl``, ... (one ``{"id": i, "text": ..., "label": l}`` per
line, ids 0..N-1 in order) and ``meta.json`` (n, seed, label names, model summary, generator version,
each shard's document count, byte size and sha256). From Python (``bench/`` on ``sys.path``)::

    from generate_corpus import write_corpus, iter_corpus, generate, load_model
    texts, labels = generate(1000, seed=0)              # documents 0..999, in memory
    for ids, texts, labels in iter_corpus(out_dir, batch=10000): ...

**Model** (fitted by :mod:`corpus_model` on 20 Newsgroups and Reuters-21578, cached). Every
generated document starts from a real document of the two corpora picked at random (its
*template*: label, source, length, share of stop words), and a second real document of the same
label; its topic mixture is a random blend of the two documents' pLSA mixtures, jittered by a
Dirichlet draw (concentration ``TOPIC_CONCENTRATION``). So labels follow the real label prior,
lengths the real length distribution (capped at ``MAX_LENGTH`` tokens), and within a label
documents vary as much as real ones do, over a continuum between them rather than around 40 label
means. Each token is then a function word (from its source's stop-word unigram, with the
template's real share), a residual content word (the source's content unigram: rare words), or a
word of a topic drawn from the mixture. Word order is random (the downstream TF-IDF and every
hashing model see bags of words).

**Near-duplicates**: a share ``DUP_RATE`` of documents are variants of an earlier document of
the same chunk (itself possibly a variant: families form): an exact copy with probability
``EXACT_SHARE``, otherwise each word dropped or substituted with probability ``r ~ U(EDIT_RANGE)``
and about ``r * length`` words inserted; the label is the source's. Real news and web corpora are
full of such copies (wire stories re-sent with corrections, cross-posts, quoted replies).

**Determinism**: document ``i`` depends only on ``seed``, the fitted model and ``i``: randomness comes
from ``SeedSequence([seed, i // CHUNK_DOCS])`` and each chunk is always generated whole, so the same
document comes out whatever N, shard size or worker count. Changing any constant here changes the
documents; ``GENERATOR_VERSION`` is bumped then.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus_model import FitParams, TopicModel, load_model  # noqa: E402

__all__ = ["FitParams", "generate", "generate_chunk", "iter_corpus", "load_model", "write_corpus", "Sampler", "parse_count"]

GENERATOR_VERSION = 1
CHUNK_DOCS = 8192
MAX_LENGTH = 1000           # tokens (the 97th-99th percentile); the 20 Newsgroups tail (uuencoded posts, FAQs) is cut
TOPIC_CONCENTRATION = 50.0  # Dirichlet jitter of a document's topic mixture around its blend
SLOTS = 256                 # resolution of a document's component mix (multiples of 1/256)
RESIDUAL = 0.1              # share of content words from the source's unigram (the rare tail)
DUP_RATE = 0.04
EXACT_SHARE = 0.3
EDIT_RANGE = (0.01, 0.08)


# ------------------------------------------------------------------ sampling
class Sampler:
    """The fitted model in the form sampling needs: per-component CDFs, label groups, word bytes."""

    def __init__(self, model: TopicModel) -> None:
        self.model = model
        self.n_components, self.n_words = model.alias_prob.shape
        order = np.argsort(model.template_label, kind="stable")
        counts = np.bincount(model.template_label, minlength=len(model.label_names))
        self.label_members = order
        self.label_start = np.concatenate([[0], np.cumsum(counts)[:-1]])
        self.label_count = counts
        words = [w.encode("ascii") + b" " for w in model.words]
        self.word_len = np.array([len(w) for w in words], dtype=np.int64)
        self.word_start = np.concatenate([[0], np.cumsum(self.word_len)[:-1]])
        self.word_bytes = np.frombuffer(b"".join(words), dtype=np.uint8)

    def latent(self, rng: np.random.Generator, m: int) -> Dict[str, np.ndarray]:
        """Per-document label, source, length and component probabilities (m, n_components)."""
        mdl = self.model
        t1 = rng.integers(0, mdl.template_label.size, size=m)
        label = mdl.template_label[t1]
        pick = (rng.random(m) * self.label_count[label]).astype(np.int64)
        t2 = self.label_members[self.label_start[label] + pick]
        blend = rng.random(m)[:, None].astype(np.float32)
        mix = blend * mdl.template_topics[t1] + (1 - blend) * mdl.template_topics[t2]
        mix = rng.standard_gamma(TOPIC_CONCENTRATION * mix + 1e-3)
        mix /= mix.sum(axis=1, keepdims=True)
        source = mdl.template_source[t1]
        fshare = mdl.template_function_share[t1].astype(np.float64)
        probs = np.zeros((m, self.n_components))
        k = mdl.n_topics
        n_src = len(mdl.sources)
        probs[:, :k] = mix * ((1 - fshare) * (1 - RESIDUAL))[:, None]
        probs[np.arange(m), k + source] = fshare
        probs[np.arange(m), k + n_src + source] = (1 - fshare) * RESIDUAL
        length = np.minimum(mdl.template_length[t1], MAX_LENGTH).astype(np.int64)
        return {"label": label, "length": length, "probs": probs}

    def tokens(self, rng: np.random.Generator, probs: np.ndarray, length: np.ndarray) -> np.ndarray:
        """Word ids of all documents back to back: a component per token from its document's
        slot table, then a word from that component's alias table."""
        m, c = probs.shape
        doc = np.repeat(np.arange(m), length)
        # each document's component mix as SLOTS multinomial slots: one gather per token
        slots = rng.multinomial(SLOTS, probs / probs.sum(axis=1, keepdims=True))
        table = np.repeat(np.tile(np.arange(c, dtype=np.uint8), m), slots.ravel())
        comp = table[doc * SLOTS + rng.integers(0, SLOTS, size=doc.size)]
        order = np.argsort(comp, kind="stable")  # radix sort: tokens grouped by component
        bounds = np.searchsorted(comp[order], np.arange(c + 1))
        words = np.empty(doc.size, dtype=np.int64)
        scaled = rng.random(doc.size) * self.n_words
        for j in range(c):
            sel = order[bounds[j]:bounds[j + 1]]
            if sel.size:
                x = scaled[sel]
                col = x.astype(np.int64)
                keep = (x - col) < self.model.alias_prob[j, col]
                words[sel] = np.where(keep, col, self.model.alias_index[j, col])
        return words

    def texts(self, words: np.ndarray, length: np.ndarray) -> List[str]:
        """Space-joined words of each document (vectorised byte gather, one decode)."""
        wlen = self.word_len[words]
        out_start = np.cumsum(wlen) - wlen
        idx = np.repeat(self.word_start[words] - out_start, wlen) + np.arange(int(wlen.sum()))
        text = self.word_bytes[idx].tobytes().decode("ascii")
        ends = np.cumsum(np.bincount(np.repeat(np.arange(length.size), length), weights=wlen,
                                     minlength=length.size)).astype(np.int64)
        starts = np.concatenate([[0], ends[:-1]])
        return [text[a:b - 1] if b > a else "" for a, b in zip(starts.tolist(), ends.tolist())]


def _edit(rng: np.random.Generator, base: np.ndarray, fresh: np.ndarray) -> np.ndarray:
    """A variant of ``base``: exact, or words dropped, substituted and inserted (from ``fresh``)."""
    if rng.random() < EXACT_SHARE or fresh.size == 0:
        return base.copy()
    rate = rng.uniform(*EDIT_RANGE)
    u = rng.random(base.size)
    out = base.copy()
    sub = u < rate
    out[sub] = fresh[rng.integers(0, fresh.size, size=int(sub.sum()))]
    out = out[(u < rate) | (u >= 2 * rate)]  # substituted words stay, dropped ones go
    n_ins = rng.binomial(base.size, rate)
    if n_ins:
        at = rng.integers(0, out.size + 1, size=n_ins)
        out = np.insert(out, at, fresh[rng.integers(0, fresh.size, size=n_ins)])
    return out


def generate_chunk(sampler: Sampler, seed: int, chunk: int) -> Tuple[List[str], np.ndarray, np.ndarray]:
    """Documents ``chunk * CHUNK_DOCS`` .. ``+ CHUNK_DOCS - 1``: texts, labels (int32) and the
    in-chunk index of each document's near-duplicate source (-1 for an original)."""
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, chunk])))
    m = CHUNK_DOCS
    lat = sampler.latent(rng, m)
    position = np.arange(m)
    is_dup = (rng.random(m) < DUP_RATE) & (position > 0)
    source = np.where(is_dup, (rng.random(m) * position).astype(np.int64), -1)
    root = position.copy()
    for i in np.flatnonzero(is_dup):  # a variant of a variant keeps the original's latent draw
        root[i] = root[source[i]]
    label, length, probs = lat["label"][root], lat["length"][root], lat["probs"][root]
    words = sampler.tokens(rng, probs, length)
    docs = np.split(words, np.cumsum(length)[:-1])
    for i in np.flatnonzero(is_dup):
        docs[i] = _edit(rng, docs[source[i]], docs[i])
    final_length = np.array([d.size for d in docs], dtype=np.int64)
    texts = sampler.texts(np.concatenate(docs), final_length)
    return texts, label.astype(np.int32), source


_SAMPLERS: Dict[int, Sampler] = {}


def _sampler(model: Optional[TopicModel] = None) -> Sampler:
    model = model or load_model()
    key = id(model)
    if key not in _SAMPLERS:
        _SAMPLERS.clear()
        _SAMPLERS[key] = Sampler(model)
    return _SAMPLERS[key]


def generate(n: int, seed: int = 0, start: int = 0, model: Optional[TopicModel] = None,
             with_sources: bool = False) -> Any:
    """Documents ``start .. start + n - 1`` in memory: ``(texts, labels)``; with ``with_sources``
    also the global id of each document's near-duplicate source (-1 for an original)."""
    n, seed, start = check_count(n, "n"), check_count(seed, "seed"), check_count(start, "start")
    sampler = _sampler(model)
    texts: List[str] = []
    labels: List[np.ndarray] = []
    sources: List[np.ndarray] = []
    stop = start + n
    for chunk in range(start // CHUNK_DOCS, -(-stop // CHUNK_DOCS)):
        lo = chunk * CHUNK_DOCS
        t, lab, src = generate_chunk(sampler, seed, chunk)
        a, b = max(start, lo) - lo, min(stop, lo + CHUNK_DOCS) - lo
        texts.extend(t[a:b])
        labels.append(lab[a:b])
        sources.append(np.where(src[a:b] >= 0, src[a:b] + lo, -1))
    lab_all = np.concatenate(labels) if labels else np.zeros(0, np.int32)
    if with_sources:
        return texts, lab_all, (np.concatenate(sources) if sources else np.zeros(0, np.int64))
    return texts, lab_all


# ------------------------------------------------------------------ writing and reading
def check_count(value: Any, name: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def parse_count(text: str) -> int:
    """``"10000000"``, ``"1e7"`` or ``"1_000_000"`` -> int (argparse type)."""
    try:
        value = float(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a count such as 1000000 or 1e6, got {text!r}") from None
    if not value.is_integer() or value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole non-negative count, got {text!r}")
    return int(value)


def json_lines(texts: Sequence[str], labels: np.ndarray, first_id: int) -> bytes:
    """JSONL bytes; texts hold only ``[a-z0-9 ]`` so they need no escaping."""
    return "".join(f'{{"id": {first_id + i}, "text": "{t}", "label": {lab}}}\n'
                   for i, (t, lab) in enumerate(zip(texts, labels.tolist()))).encode("ascii")


_WORKER: Dict[str, Any] = {}


def _init_worker(model: Optional[TopicModel]) -> None:
    _WORKER.clear()
    _WORKER["sampler"] = Sampler(model if model is not None else load_model())


def _piece(task: Tuple[int, int, int, int]) -> Tuple[int, bytes]:
    """One shard's slice of one chunk as JSONL bytes."""
    seed, chunk, a, b = task
    cached = _WORKER.get("chunk")
    if cached is None or cached[0] != (seed, chunk):
        texts, labels, _ = generate_chunk(_WORKER["sampler"], seed, chunk)
        _WORKER["chunk"] = cached = ((seed, chunk), texts, labels)
    _, texts, labels = cached
    return b - a, json_lines(texts[a:b], labels[a:b], chunk * CHUNK_DOCS + a)


def _tasks(n: int, seed: int, shard_docs: int) -> List[List[Tuple[int, int, int, int]]]:
    """Per shard, the (seed, chunk, first, stop) pieces covering its ids."""
    shards = []
    for lo in range(0, n, shard_docs):
        hi = min(n, lo + shard_docs)
        pieces = []
        for chunk in range(lo // CHUNK_DOCS, -(-hi // CHUNK_DOCS)):
            c0 = chunk * CHUNK_DOCS
            pieces.append((seed, chunk, max(lo, c0) - c0, min(hi, c0 + CHUNK_DOCS) - c0))
        shards.append(pieces)
    return shards


def _write_shards(out: Path, shards: List[List[Tuple[int, int, int, int]]],
                  results: Iterator[Tuple[int, bytes]]) -> List[Dict[str, Any]]:
    """Writes the pieces' bytes in order, one shard at a time (temporary name, then renamed)."""
    records = []
    first_id = 0
    for k, pieces in enumerate(shards):
        name = f"part-{k:05d}.jsonl"
        tmp = out / (name + ".tmp")
        digest, size, docs = hashlib.sha256(), 0, 0
        with open(tmp, "wb") as fh:
            for _ in pieces:
                count, data = next(results)
                fh.write(data)
                digest.update(data)
                size, docs = size + len(data), docs + count
        os.replace(tmp, out / name)
        records.append({"file": name, "first_id": first_id, "docs": docs, "bytes": size, "sha256": digest.hexdigest()})
        first_id += docs
    return records


def write_corpus(n: int, seed: int, out_dir: Any, shard_docs: int = 1_000_000, workers: int = 2,
                 model: Optional[TopicModel] = None) -> Path:
    """Writes ``n`` documents to ``out_dir`` (shards, then ``meta.json``; each file written under a
    temporary name and renamed). Stale ``part-*.jsonl`` files of an earlier run are removed.
    Returns ``out_dir``. Memory stays at a few chunks per worker whatever ``n``. ``model``: another
    fitted model (sent to the workers), else the default one (each worker reads it from the cache);
    ``workers=1`` runs in this process."""
    n, seed = check_count(n, "n"), check_count(seed, "seed")
    shard_docs, workers = check_count(shard_docs, "shard_docs", 1), check_count(workers, "workers", 1)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary_model = model if model is not None else load_model()  # fitted here once, cached for the workers
    start = time.perf_counter()
    shards = _tasks(n, seed, shard_docs)
    flat = [t for pieces in shards for t in pieces]
    if workers == 1:
        _init_worker(summary_model)
        records = _write_shards(out, shards, map(_piece, flat))
        _WORKER.clear()
    else:
        with mp.get_context("spawn").Pool(workers, initializer=_init_worker, initargs=(model,)) as pool:
            records = _write_shards(out, shards, pool.imap(_piece, flat, chunksize=1))
    for stale in out.glob("part-*.jsonl"):
        if stale.name not in {r["file"] for r in records}:
            stale.unlink()
    seconds = time.perf_counter() - start
    meta = {"n": n, "seed": seed, "generator_version": GENERATOR_VERSION, "label_names": summary_model.label_names,
            "model": summary_model.summary(), "settings": settings(), "shard_docs": shard_docs, "workers": workers,
            "seconds": round(seconds, 2), "docs_per_s": round(n / seconds, 1) if seconds > 0 else None,
            "shards": records}
    tmp = out / "meta.json.tmp"
    tmp.write_text(json.dumps(meta, indent=1))
    os.replace(tmp, out / "meta.json")
    return out


def settings() -> Dict[str, Any]:
    """The generator constants (they define the documents together with the model and seed)."""
    return {"chunk_docs": CHUNK_DOCS, "max_length": MAX_LENGTH, "topic_concentration": TOPIC_CONCENTRATION,
            "residual": RESIDUAL, "dup_rate": DUP_RATE, "exact_share": EXACT_SHARE, "edit_range": list(EDIT_RANGE)}


def read_meta(out_dir: Any) -> Dict[str, Any]:
    path = Path(out_dir) / "meta.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: out_dir must hold a corpus written by write_corpus")
    return json.loads(path.read_text())


def iter_corpus(out_dir: Any, batch: int = 10000) -> Iterator[Tuple[np.ndarray, List[str], np.ndarray]]:
    """Batches ``(ids int64, texts, labels int32)`` of a written corpus, in id order, streaming."""
    batch = check_count(batch, "batch", 1)
    meta = read_meta(out_dir)
    ids: List[int] = []
    texts: List[str] = []
    labels: List[int] = []
    for shard in meta["shards"]:
        with open(Path(out_dir) / shard["file"], "r", encoding="ascii") as fh:
            for line in fh:
                rec = json.loads(line)
                ids.append(rec["id"])
                texts.append(rec["text"])
                labels.append(rec["label"])
                if len(ids) == batch:
                    yield np.asarray(ids, dtype=np.int64), texts, np.asarray(labels, dtype=np.int32)
                    ids, texts, labels = [], [], []
    if ids:
        yield np.asarray(ids, dtype=np.int64), texts, np.asarray(labels, dtype=np.int32)


def main(argv: Optional[Sequence[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--docs", type=parse_count, required=True, help="number of documents (1e7 style accepted)")
    p.add_argument("--seed", type=parse_count, default=0)
    p.add_argument("--out", type=Path, required=True, help="output folder (shards + meta.json)")
    p.add_argument("--shard-docs", type=parse_count, default=1_000_000)
    p.add_argument("--workers", type=parse_count, default=2)
    args = p.parse_args(argv)
    out = write_corpus(args.docs, args.seed, args.out, shard_docs=args.shard_docs, workers=args.workers)
    meta = read_meta(out)
    print(f"{meta['n']} documents in {len(meta['shards'])} shards, {meta['seconds']} s "
          f"({meta['docs_per_s']} docs/s, {args.workers} workers) -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
