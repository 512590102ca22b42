"""The common call's path into the core (``_core.CodeIndex.search_common``, used by
``CoreIndex.search``): exact against the numpy oracle for every kind, and every other input goes
through the Python checks, so that it is answered, or refused with the same error, as before."""
from __future__ import annotations

import numpy as np
import pytest

import nash_index as ni
from conftest import assert_knn_matches, clustered_codes
from nash_index.index.base import BaseIndex

KINDS = ("flat", "mih", "cluster")


@pytest.fixture(params=KINDS)
def filled(request):
    rng = np.random.default_rng(41)
    db = clustered_codes(rng, 3000, 64, centres=8, p=0.1)
    index = ni.make_index(64, kind=request.param)
    index.add(db)
    return index, db, rng


def test_common_calls_are_exact(filled):
    index, db, rng = filled
    ids = np.arange(len(db), dtype=np.int64)
    queries = np.concatenate([db[:5], clustered_codes(rng, 20, 64, centres=8, p=0.2)])
    for k in (1, 10, 100, 5000):  # 5000 > ntotal: padded rows
        assert index._impl.search_common(queries, k, None) is not None
        assert_knn_matches(index.search(queries, k), db, ids, queries, k)
        one = index.search(queries[3], k, num_threads=1)  # one 1-D query
        assert one.distances.shape == (1, k)
        assert_knn_matches(one, db, ids, queries[3:4], k)
    assert type(index.search(queries, 10)) is ni.SearchResult


class _Sub(np.ndarray):
    pass


def _uncommon_calls(q: np.ndarray):
    """(queries, k, num_threads) that the core path must leave to the Python checks."""
    wide = np.zeros((q.shape[0], 16), np.uint8)
    wide[:, ::2] = q
    return [
        (q.view(_Sub), 10, None),                      # an ndarray subclass
        (q.astype(np.int64), 10, None),                # another dtype
        (q.tolist(), 10, None),                        # a list
        (wide[:, ::2], 10, None),                      # not C-contiguous
        (q[:, :7].copy(), 10, None),                   # the wrong width
        (q.reshape(-1), 10, None),                     # a 1-D array of several queries' bytes
        (q[None], 10, None),                           # 3-D
        (q, True, None), (q, np.int64(10), None), (q, 10.0, None), (q, 0, None), (q, -1, None),
        (q, 2**70, None), (q, 10, 0), (q, 10, True), (q, 10, 2.0), (q, 10, 5000), (q, 10, "2"),
        (q, 300_000, None),                            # a result of 16 MiB or more: the full path's memory check
    ]


def test_every_other_call_takes_the_python_checks(filled):
    index, db, _ = filled
    q = db[:7].copy()
    for queries, k, threads in _uncommon_calls(q):
        assert index._impl.search_common(queries, k, threads) is None
        try:
            expected = BaseIndex.search(index, queries, k, num_threads=threads)
        except Exception as exc:  # the same refusal, type and message
            with pytest.raises(type(exc)) as got:
                index.search(queries, k, num_threads=threads)
            assert str(got.value) == str(exc)
        else:
            got = index.search(queries, k, num_threads=threads)
            np.testing.assert_array_equal(got.distances, expected.distances)
            np.testing.assert_array_equal(got.ids, expected.ids)
