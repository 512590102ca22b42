"""The corpus generator of bench/: determinism, independence of a document from N and shard size,
the JSONL format, near-duplicates at the stated rate, the streaming reader. Mechanics run on a
hand-made tiny model (no data needed); one test fits a small model on the real corpora."""
from __future__ import annotations

import hashlib
import json
import sys

import numpy as np
import pytest
from bench_helpers import BENCH

sys.path.insert(0, str(BENCH))
import corpus_model as cm  # noqa: E402
import generate_corpus as gc  # noqa: E402

WORDS = ["the", "of", "and", "to", "a", "in", "is", "market", "bank", "rate", "shares", "profit", "game", "team",
         "season", "goal", "god", "faith", "church", "truth", "disk", "drive", "scsi", "card", "xyzzy", "plugh"]


@pytest.fixture(scope="module")
def tiny_model() -> cm.TopicModel:
    """3 topics over 26 words, 2 sources with their background and residual, 4 labels, 60 templates."""
    rng = np.random.default_rng(7)
    v, k = len(WORDS), 3
    function = np.arange(v) < 7
    topics = np.zeros((k, v))
    for t, cols in enumerate([range(7, 12), range(12, 16), range(16, 24)]):
        topics[t, list(cols)] = rng.random(len(cols)) + 0.1
    backgrounds = [np.where(function, rng.random(v) + 0.5, 0.0) for _ in range(2)]
    residual = np.where(function, 0.0, 0.05)
    comps = np.vstack([topics, *backgrounds, residual, residual])
    comps /= comps.sum(1, keepdims=True)
    n = 60
    labels = np.arange(n) % 4
    mix = rng.dirichlet(np.ones(k), size=n).astype(np.float32)
    prob, alias = cm.alias_tables(comps)
    return cm.TopicModel(
        words=WORDS, components=comps, component_names=["t0", "t1", "t2", "b0", "b1", "r0", "r1"], n_topics=k,
        sources=["s0", "s1"], label_names=["s0/a", "s0/b", "s1/c", "s1/d"],
        template_label=labels.astype(np.int32), template_source=(labels >= 2).astype(np.int32),
        template_length=rng.integers(5, 40, size=n).astype(np.int32),
        template_function_share=np.full(n, 0.4, np.float32), template_topics=mix,
        alias_prob=prob, alias_index=alias, params={"tiny": True}, fit_seconds=0.0)


def alias_distribution(prob: np.ndarray, alias: np.ndarray) -> np.ndarray:
    """The exact distribution an alias table draws from: column j keeps prob[j] / V, the rest
    of its 1 / V goes to alias[j]."""
    v = prob.size
    out = prob.astype(np.float64) / v
    np.add.at(out, alias, (1.0 - prob.astype(np.float64)) / v)
    return out


def test_alias_table_is_exact_for_a_skewed_distribution():
    rng = np.random.default_rng(0)
    p = np.concatenate([[50.0, 0.0, 3.0], rng.pareto(1.2, 500) + 1e-6])
    prob, alias = cm.alias_table(p)
    np.testing.assert_allclose(alias_distribution(prob, alias), p / p.sum(), atol=1e-6)
    assert alias_distribution(prob, alias)[1] < 1e-7  # a zero-probability word is never drawn


def test_generate_is_deterministic_by_seed(tiny_model):
    a_texts, a_labels = gc.generate(300, seed=1, model=tiny_model)
    b_texts, b_labels = gc.generate(300, seed=1, model=tiny_model)
    c_texts, _ = gc.generate(300, seed=2, model=tiny_model)
    assert a_texts == b_texts and np.array_equal(a_labels, b_labels)
    assert sum(x != y for x, y in zip(a_texts, c_texts)) > 250


def test_document_i_does_not_depend_on_n_or_start(tiny_model):
    c = gc.CHUNK_DOCS
    texts, labels = gc.generate(c + 40, seed=3, model=tiny_model)
    part, part_labels = gc.generate(70, seed=3, start=c - 30, model=tiny_model)
    assert part == texts[c - 30:] and np.array_equal(part_labels, labels[c - 30:])
    short, _ = gc.generate(5, seed=3, model=tiny_model)
    assert short == texts[:5]


def test_texts_are_vocabulary_words_and_labels_in_range(tiny_model):
    texts, labels = gc.generate(2000, seed=0, model=tiny_model)
    vocab = set(WORDS)
    assert all(set(t.split()) <= vocab for t in texts)
    assert labels.dtype == np.int32 and labels.min() >= 0 and labels.max() < 4
    assert set(np.unique(labels)) == {0, 1, 2, 3}
    lengths = np.array([len(t.split()) for t in texts])
    assert lengths.max() <= 40 * 1.5 and np.median(lengths) > 5


def test_near_duplicates_at_the_stated_rate(tiny_model):
    n = 3 * gc.CHUNK_DOCS
    texts, labels, sources = gc.generate(n, seed=5, model=tiny_model, with_sources=True)
    dup = np.flatnonzero(sources >= 0)
    rate = dup.size / n
    assert abs(rate - gc.DUP_RATE) < 5 * np.sqrt(gc.DUP_RATE * (1 - gc.DUP_RATE) / n)
    assert np.all(sources[dup] < dup) and np.all(sources[dup] // gc.CHUNK_DOCS == dup // gc.CHUNK_DOCS)
    assert np.array_equal(labels[dup], labels[sources[dup]])

    def jaccard(a: str, b: str) -> float:
        x, y = set(a.split()), set(b.split())
        return len(x & y) / max(1, len(x | y))

    near = np.array([jaccard(texts[i], texts[s]) for i, s in zip(dup, sources[dup])])
    rng = np.random.default_rng(0)
    orig = np.flatnonzero(sources < 0)
    pairs = rng.choice(orig, size=(dup.size, 2))
    unrelated = np.array([jaccard(texts[i], texts[j]) for i, j in pairs if i != j])
    assert np.median(near) > 0.8 and np.median(unrelated) < np.median(near) - 0.3
    exact = np.mean([texts[i] == texts[s] for i, s in zip(dup, sources[dup])])
    assert exact >= gc.EXACT_SHARE - 0.05 and exact < 1.0


def read_lines(folder):
    meta = json.loads((folder / "meta.json").read_text())
    lines = []
    for shard in meta["shards"]:
        data = (folder / shard["file"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == shard["sha256"] and len(data) == shard["bytes"]
        lines.extend(data.decode("ascii").splitlines())
    return meta, lines


def test_write_corpus_format_shards_and_round_trip(tiny_model, tmp_path):
    n = gc.CHUNK_DOCS + 700
    a = gc.write_corpus(n, 4, tmp_path / "a", shard_docs=3000, workers=1, model=tiny_model)
    b = gc.write_corpus(n, 4, tmp_path / "b", shard_docs=7001, workers=1, model=tiny_model)
    meta_a, lines_a = read_lines(a)
    meta_b, lines_b = read_lines(b)
    assert lines_a == lines_b and len(lines_a) == n
    assert [s["docs"] for s in meta_a["shards"]] == [3000, 3000, 2892]
    assert sorted(p.name for p in a.iterdir()) == ["meta.json", "part-00000.jsonl", "part-00001.jsonl",
                                                  "part-00002.jsonl"]
    assert meta_a["n"] == n and meta_a["seed"] == 4 and meta_a["label_names"] == tiny_model.label_names
    assert meta_a["generator_version"] == gc.GENERATOR_VERSION
    records = [json.loads(line) for line in lines_a]
    assert all(list(r) == ["id", "text", "label"] for r in records)
    assert [r["id"] for r in records] == list(range(n))
    texts, labels = gc.generate(n, seed=4, model=tiny_model)
    assert [r["text"] for r in records] == texts and [r["label"] for r in records] == labels.tolist()
    got = list(gc.iter_corpus(a, batch=1000))
    assert [len(ids) for ids, _, _ in got] == [1000] * 8 + [n - 8000]
    ids = np.concatenate([i for i, _, _ in got])
    assert ids.dtype == np.int64 and np.array_equal(ids, np.arange(n))
    assert [t for _, ts, _ in got for t in ts] == texts
    assert np.array_equal(np.concatenate([lab for _, _, lab in got]), labels)


def test_two_workers_write_the_same_bytes(tiny_model, tmp_path):
    n = 2 * gc.CHUNK_DOCS + 10
    one = gc.write_corpus(n, 9, tmp_path / "one", shard_docs=5000, workers=1, model=tiny_model)
    two = gc.write_corpus(n, 9, tmp_path / "two", shard_docs=5000, workers=2, model=tiny_model)
    assert read_lines(one)[1] == read_lines(two)[1]


def test_rewrite_removes_stale_shards(tiny_model, tmp_path):
    gc.write_corpus(300, 0, tmp_path, shard_docs=100, workers=1, model=tiny_model)
    gc.write_corpus(150, 0, tmp_path, shard_docs=100, workers=1, model=tiny_model)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["meta.json", "part-00000.jsonl", "part-00001.jsonl"]
    assert sum(len(ids) for ids, _, _ in gc.iter_corpus(tmp_path)) == 150


def test_bad_arguments_are_named(tiny_model, tmp_path):
    for kwargs, name in [({"n": -1}, "n"), ({"seed": 1.5}, "seed"), ({"shard_docs": 0}, "shard_docs"),
                         ({"workers": 0}, "workers")]:
        args = {"n": 10, "seed": 0, "out_dir": tmp_path, "model": tiny_model, **kwargs}
        with pytest.raises(ValueError, match=name):
            gc.write_corpus(**args)
    with pytest.raises(ValueError, match="batch"):
        next(gc.iter_corpus(tmp_path, batch=0))
    with pytest.raises(FileNotFoundError, match="meta.json"):
        next(gc.iter_corpus(tmp_path / "missing"))


def test_parse_count_accepts_scientific_notation():
    assert gc.parse_count("1e7") == 10_000_000 and gc.parse_count("1_000") == 1000 and gc.parse_count("25") == 25
    for bad in ("1.5", "-3", "ten"):
        with pytest.raises(Exception, match="count"):
            gc.parse_count(bad)


def test_fit_on_the_real_corpora_is_deterministic(shared_data_dir, tmp_path):
    params = cm.FitParams(n_topics=5, topic_words=2000, nmf_iter=10, max_docs_per_source=250)
    a = cm.load_model(params, shared_data_dir, cache=tmp_path / "a")
    b = cm.read_model(next((tmp_path / "a").glob("corpus_model-*.npz")))
    c = cm.fit_model(params, shared_data_dir)
    for m in (b, c):
        assert m.words == a.words
        for name in ("components", "template_topics", "template_label", "template_length", "alias_prob", "alias_index"):
            assert np.array_equal(getattr(m, name), getattr(a, name)), name
    assert len(a.label_names) == 40 and a.label_names[0].startswith("20ng/") and a.label_names[-1].startswith("reuters/")
    assert {"the", "of", "and"} <= set(a.words) and all(w.isascii() and w == w.lower() for w in a.words)
    np.testing.assert_allclose(a.components.sum(1), 1.0, atol=1e-9)
    np.testing.assert_allclose(a.template_topics.sum(1), 1.0, atol=1e-4)
    for row in (0, a.n_topics, a.components.shape[0] - 1):
        np.testing.assert_allclose(alias_distribution(a.alias_prob[row], a.alias_index[row]), a.components[row],
                                   atol=1e-6)
    texts, labels = gc.generate(500, seed=0, model=a)
    words = set(a.words)
    assert all(set(t.split()) <= words for t in texts) and labels.max() < 40
