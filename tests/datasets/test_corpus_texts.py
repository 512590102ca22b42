"""Corpus.split_texts: raw texts row-aligned with the processed splits (also through the cache)."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from nash_index import datasets as nd
from nash_index.datasets.cache import load_corpus_file, save_corpus
from nash_index.evaluation.labels import indicator_from_label_sets


def _raw() -> nd.RawCorpus:
    rng = np.random.default_rng(1)
    words = [f"w{i}" for i in range(25)]
    train = [f"doc{i} " + " ".join(rng.choice(words, 10)) for i in range(30)]
    test = [f"doc{i} " + " ".join(rng.choice(words, 10)) for i in range(30, 44)]
    names = ["a", "b"]
    return nd.RawCorpus(
        name="toy", train_texts=train, test_texts=test,
        train_labels=indicator_from_label_sets([[names[i % 2]] for i in range(30)], names),
        test_labels=indicator_from_label_sets([[names[i % 2]] for i in range(14)], names),
        label_names=names, train_keys=[f"tr{i}" for i in range(30)],
        test_keys=[f"te{i}" for i in range(14)])


def test_split_texts_follow_the_rows(tmp_path):
    raw = _raw()
    corpus = nd.vdsh_preprocess(raw, nd.Recipe(min_df=1, max_df=1.0, seed=3))
    texts = corpus.split_texts(raw)
    assert {s: len(t) for s, t in texts.items()} == corpus.sizes
    for split, source in (("train", "train"), ("val", "test"), ("test", "test")):
        lookup = dict(zip(getattr(raw, f"{source}_keys"), getattr(raw, f"{source}_texts")))
        assert texts[split] == [lookup[k] for k in getattr(corpus, f"keys_{split}")]
    assert texts["train"] != raw.train_texts          # the database is shuffled
    # the row provenance survives the on-disk cache
    save_corpus(corpus, tmp_path / "c.npz")
    assert load_corpus_file(tmp_path / "c.npz").split_texts(raw) == texts


def test_split_texts_refuses_a_mismatch():
    raw = _raw()
    corpus = nd.vdsh_preprocess(raw, nd.Recipe(min_df=1, max_df=1.0, seed=3))
    other = replace(raw, train_keys=[f"x{i}" for i in range(30)])
    with pytest.raises(ValueError, match="does not match"):
        corpus.split_texts(other)
    bare = replace(corpus, info={})
    with pytest.raises(ValueError, match="rows"):
        bare.split_texts(raw)


def test_cached_keys_are_not_fixed_width(tmp_path):
    """#27 (sibling of defect 7): keys were one unicode array, every key 4 bytes times the longest
    (and trailing NULs dropped); stored as JSON text they keep their own length and characters."""
    raw = _raw()
    corpus = nd.vdsh_preprocess(raw, nd.Recipe(min_df=1, max_df=1.0, seed=3))
    keys = list(corpus.keys_train)
    keys[0], keys[1] = "k" * 50_000, "ends in NUL\x00"
    corpus = replace(corpus, keys_train=keys)
    save_corpus(corpus, tmp_path / "c.npz")
    with np.load(tmp_path / "c.npz") as z:
        stored = z["keys_train"]
        assert stored.nbytes < 4 * (sum(len(k) for k in keys) + 64 * len(keys))  # not 4 * 50,000 per key
    back = load_corpus_file(tmp_path / "c.npz")
    assert back.keys_train == keys and back.vocabulary == list(corpus.vocabulary)
