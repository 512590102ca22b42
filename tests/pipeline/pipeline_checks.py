"""Shared by the pipeline tests: queries and a result comparison."""
from __future__ import annotations

import numpy as np
import pytest

QUERIES = ["parse a date string", "compress data with gzip", "read rows from a csv file",
           "regular expression match", "zzzz unknown words only"]


def assert_same_results(a, b, k: int = 10) -> None:
    """Two pipelines answer QUERIES identically (ids, distances, keys)."""
    ra, rb = a.search(QUERIES, k=k), b.search(QUERIES, k=k)
    np.testing.assert_array_equal(ra.ids, rb.ids)
    np.testing.assert_array_equal(ra.distances, rb.distances)
    assert ra.keys == rb.keys


@pytest.fixture(scope="module")
def corpus(docstring_raw):
    return docstring_raw


@pytest.fixture(scope="module")
def lsh_pipe(corpus):
    """An LSH pipeline over the training docstrings, keyed by qualified name."""
    from nash_index.pipeline import HashingPipeline

    pipe = HashingPipeline(nbits=32, hasher="lsh", verbose=False).fit(corpus.train_texts)
    pipe.add(corpus.train_texts, keys=corpus.train_keys)
    return pipe


# ---- a deterministic embedder for the dense-vector tests ---------------------------------------
EMBED_DIM = 48
_WORD_TABLE = np.random.default_rng(7).standard_normal((4096, EMBED_DIM)).astype(np.float32)


def word_embedder(texts):
    """Sum of a fixed random vector per word (crc32-hashed, lower-cased): the same vectors in
    every process, numpy only; a text with no word gets the zero vector."""
    import re
    import zlib

    out = np.zeros((len(texts), EMBED_DIM), dtype=np.float32)
    for i, text in enumerate(texts):
        for word in re.findall(r"\w+", text.lower()):
            out[i] += _WORD_TABLE[zlib.crc32(word.encode("utf-8")) % _WORD_TABLE.shape[0]]
    return out


def edited_copy(saved_dir, dest, edit):
    """A copy of a saved pipeline at ``dest`` whose manifest went through ``edit(manifest)``."""
    import json
    import shutil

    shutil.copytree(saved_dir, dest)
    manifest = json.loads((dest / "manifest.json").read_text())
    edit(manifest)
    (dest / "manifest.json").write_text(json.dumps(manifest))
    return dest
