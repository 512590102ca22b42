"""Property tests: MultiIndexHashing == FlatIndex on arbitrary small databases; make_index rule."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nash_index.index.factory import MIH_MIN_CODES, make_index
from nash_index.index.flat import FlatIndex
from nash_index.index.mih import MultiIndexHashing


@st.composite
def databases(draw):
    nbits = draw(st.sampled_from([16, 24, 32, 64, 72, 128]))
    lowest = -(-nbits // 32)
    m = draw(st.one_of(st.none(), st.integers(lowest, min(nbits, lowest + 6))))
    n = draw(st.integers(0, 400))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    # Few distinct rows with bit noise: many ties and near-duplicates.
    base = rng.integers(0, 256, (draw(st.integers(1, 8)), nbits // 8), dtype=np.uint8)
    noise = rng.random((n, nbits)) < draw(st.sampled_from([0.0, 0.02, 0.2, 0.5]))
    db = base[rng.integers(0, len(base), n)] ^ np.packbits(noise, axis=1)
    queries = np.concatenate([db[:3], rng.integers(0, 256, (3, nbits // 8), dtype=np.uint8)])
    return nbits, m, db, queries, seed


@settings(max_examples=60, deadline=None)
@given(databases(), st.integers(1, 450), st.sampled_from(["never", "auto"]), st.booleans())
def test_mih_matches_flat(case, k, fallback, scrambled_ids):
    nbits, m, db, queries, seed = case
    ids = np.random.default_rng(seed).permutation(len(db)).astype(np.int64) * 3 if scrambled_ids else None
    flat, mih = FlatIndex(nbits), MultiIndexHashing(nbits, m)
    half = len(db) // 2
    for lo, hi in ((0, half), (half, len(db))):  # two adds: exercises the scanned tail
        flat.add(db[lo:hi], None if ids is None else ids[lo:hi])
        mih.add(db[lo:hi], None if ids is None else ids[lo:hi])
    mih.set_fallback(fallback)
    a, b = flat.search(queries, k), mih.search(queries, k)
    np.testing.assert_array_equal(a.distances, b.distances)
    np.testing.assert_array_equal(a.ids, b.ids)
    radius = int(np.random.default_rng(seed).integers(0, nbits // 2 + 1))
    for x, y in zip(flat.range_search(queries, radius), mih.range_search(queries, radius)):
        np.testing.assert_array_equal(x, y)
    if len(db):
        doomed = flat.ids()[:: 3]
        flat.remove(doomed)
        mih.remove(doomed)
        a, b = flat.search(queries, k), mih.search(queries, k)
        np.testing.assert_array_equal(a.distances, b.distances)
        np.testing.assert_array_equal(a.ids, b.ids)


def test_make_index_rule():
    assert isinstance(make_index(64), FlatIndex)  # unknown size
    assert isinstance(make_index(64, n_expected=10_000), FlatIndex)
    assert isinstance(make_index(64, n_expected=MIH_MIN_CODES), MultiIndexHashing)
    assert isinstance(make_index(128, n_expected=10_000_000), MultiIndexHashing)
    assert isinstance(make_index(32, n_expected=10_000_000), FlatIndex)
    assert isinstance(make_index(512, n_expected=10_000_000), FlatIndex)
    assert isinstance(make_index(64, kind="mih", m=5), MultiIndexHashing)
    assert isinstance(make_index(64, n_expected=10**8, kind="flat"), FlatIndex)
    with pytest.raises(ValueError):
        make_index(64, kind="ivf")
    with pytest.raises(ValueError):
        make_index(64, m=3)
    with pytest.raises(TypeError):
        make_index(64, n_expected=1.5)
    with pytest.raises(ValueError):
        make_index(64, n_expected=-1)
