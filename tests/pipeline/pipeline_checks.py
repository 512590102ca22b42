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
