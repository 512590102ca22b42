"""Drawing documents from the fitted topic model: the sampler behind ``generate_corpus.py``.

The constants below define the documents (with the model and the seed); ``generate_corpus.py``
explains each of them and ``bench/results/corpus.md`` checks the result against the real corpus.
Changing one changes the documents: bump ``GENERATOR_VERSION`` then.
"""

from __future__ import annotations

from typing import Any, Dict, List, Tuple

import numpy as np

from corpus_model import TopicModel

GENERATOR_VERSION = 1
CHUNK_DOCS = 8192
MAX_LENGTH = 1000           # tokens (the 97th-99th percentile); the 20 Newsgroups tail (uuencoded posts, FAQs) is cut
TOPIC_CONCENTRATION = 300.0 # Dirichlet jitter of a document's topic mixture around its blend
BLEND_RANGE = (0.7, 1.0)    # weight of the template's own topic mixture against its same-label partner
MIN_TOPIC_WEIGHT = 0.05     # topics weighing less in a blended mixture are dropped
SLOTS = 256                 # resolution of a document's component mix (multiples of 1/256)
RESIDUAL = 0.2              # share of content words from the label's unigram (its own words, the rare tail)
REPEAT = 0.18               # word bursts: share of tokens copied from the same document
DUP_RATE = 0.04
REPLY_RATE = 0.3            # replies / follow-ups: same label and topics as an earlier document, quoting it
QUOTE_RANGE = (0.1, 0.5)
EXACT_SHARE = 0.3
EDIT_RANGE = (0.01, 0.08)


# ------------------------------------------------------------------ sampling
class Sampler:
    """The fitted model in the form sampling needs: alias tables, label groups, word bytes."""

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
        blend = rng.uniform(*BLEND_RANGE, size=m)[:, None].astype(np.float32)
        mix = blend * mdl.template_topics[t1] + (1 - blend) * mdl.template_topics[t2]
        mix = np.where(mix >= MIN_TOPIC_WEIGHT, mix, 0.0)  # real documents use a few topics; NMF smears
        mix = rng.standard_gamma(TOPIC_CONCENTRATION * mix / np.maximum(mix.sum(1, keepdims=True), 1e-9) + 1e-3)
        mix /= mix.sum(axis=1, keepdims=True)
        source = mdl.template_source[t1]
        fshare = mdl.template_function_share[t1].astype(np.float64)
        probs = np.zeros((m, self.n_components))
        k = mdl.n_topics
        n_src = len(mdl.sources)
        probs[:, :k] = mix * ((1 - fshare) * (1 - RESIDUAL))[:, None]
        probs[np.arange(m), k + source] = fshare
        probs[np.arange(m), k + n_src + label] = (1 - fshare) * RESIDUAL
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
        return self.bursts(rng, words, length)

    @staticmethod
    def bursts(rng: np.random.Generator, words: np.ndarray, length: np.ndarray) -> np.ndarray:
        """Word bursts: each token, with probability ``REPEAT``, becomes a copy of a random token of
        its own document (real documents repeat their own words far more than independent draws do;
        a copy of a random token keeps the document's expected word distribution)."""
        rep = np.flatnonzero(rng.random(words.size) < REPEAT)
        doc_len = np.repeat(length, length)[rep]
        doc_start = np.repeat(np.cumsum(length) - length, length)[rep]
        words[rep] = words[doc_start + (rng.random(rep.size) * doc_len).astype(np.int64)]
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


def _quote(rng: np.random.Generator, quoted: np.ndarray, own: np.ndarray) -> np.ndarray:
    """A reply: its own words, a share ``q ~ U(QUOTE_RANGE)`` of them replaced by words of the
    document it answers (a thread, a follow-up story)."""
    if quoted.size == 0:
        return own
    take = np.flatnonzero(rng.random(own.size) < rng.uniform(*QUOTE_RANGE))
    out = own.copy()
    out[take] = quoted[rng.integers(0, quoted.size, size=take.size)]
    return out


def generate_chunk(sampler: Sampler, seed: int, chunk: int) -> Tuple[List[str], np.ndarray, np.ndarray]:
    """Documents ``chunk * CHUNK_DOCS`` .. ``+ CHUNK_DOCS - 1``: texts, labels (int32) and the
    in-chunk index of each document's near-duplicate source (-1 for an original)."""
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, chunk])))
    m = CHUNK_DOCS
    lat = sampler.latent(rng, m)
    position = np.arange(m)
    kind = np.searchsorted(np.cumsum([DUP_RATE, REPLY_RATE]), rng.random(m), side="right")  # 0 dup, 1 reply, 2 new
    kind[0] = 2
    earlier = (rng.random(m) * position).astype(np.int64)
    source = np.where(kind < 2, earlier, -1)
    root = position.copy()
    for i in np.flatnonzero(kind < 2):  # variants and replies share their source's label and topics
        root[i] = root[source[i]]
    label, probs = lat["label"][root], lat["probs"][root]
    length = np.where(kind == 0, lat["length"][root], lat["length"])
    words = sampler.tokens(rng, probs, length)
    docs = np.split(words, np.cumsum(length)[:-1])
    for i in np.flatnonzero(kind < 2):
        docs[i] = _edit(rng, docs[source[i]], docs[i]) if kind[i] == 0 else _quote(rng, docs[source[i]], docs[i])
    source = np.where(kind == 0, source, -1)
    final_length = np.array([d.size for d in docs], dtype=np.int64)
    texts = sampler.texts(np.concatenate(docs), final_length)
    return texts, label.astype(np.int32), source


def settings() -> Dict[str, Any]:
    """The generator constants (they define the documents together with the model and seed)."""
    return {"chunk_docs": CHUNK_DOCS, "max_length": MAX_LENGTH, "topic_concentration": TOPIC_CONCENTRATION,
            "blend_range": list(BLEND_RANGE), "min_topic_weight": MIN_TOPIC_WEIGHT, "slots": SLOTS,
            "residual": RESIDUAL, "repeat": REPEAT, "reply_rate": REPLY_RATE, "quote_range": list(QUOTE_RANGE),
            "dup_rate": DUP_RATE, "exact_share": EXACT_SHARE, "edit_range": list(EDIT_RANGE)}
