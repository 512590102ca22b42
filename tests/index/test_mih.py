"""MultiIndexHashing: exact equality with FlatIndex (distances and ids) in every setting."""
from __future__ import annotations

import pickle

import numpy as np
import pytest

from nash_index.index import synthetic
from nash_index.index.base import load
from nash_index.index.flat import FlatIndex
from nash_index.index.mih import MultiIndexHashing


def clustered(rng, n, nbits, centres=8, p=0.08, centre_codes=None):
    """Codes near a few packed centres (each bit flipped with probability p); returns the centres
    too, so that queries can be drawn around the database's own centres."""
    if centre_codes is None:
        centre_codes = synthetic.random_centres(centres, nbits, rng)
    return synthetic.clustered_codes(n, nbits, centres=centre_codes, flip=p, seed=rng), centre_codes


def uniform(rng, n, nbits):
    return synthetic.uniform_codes(n, nbits, seed=rng)


def with_duplicates(rng, n, nbits):
    """Heavy duplicates: 20 distinct codes repeated, so ties at every distance."""
    return uniform(rng, 20, nbits)[rng.integers(0, 20, n)]


def build_pair(db, nbits, m=None, ids=None, fallback="never"):
    flat, mih = FlatIndex(nbits), MultiIndexHashing(nbits, m)
    flat.add(db, ids)
    mih.add(db, ids)
    mih.set_fallback(fallback)
    return flat, mih


def assert_same_knn(flat, mih, queries, k):
    a, b = flat.search(queries, k), mih.search(queries, k)
    assert b.distances.dtype == np.int32 and b.ids.dtype == np.int64
    np.testing.assert_array_equal(a.distances, b.distances)
    np.testing.assert_array_equal(a.ids, b.ids)


def assert_same_range(flat, mih, queries, radius):
    for x, y in zip(flat.range_search(queries, radius), mih.range_search(queries, radius)):
        np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("nbits", [32, 64, 128, 256])
@pytest.mark.parametrize("data", ["uniform", "clustered", "duplicates"])
def test_knn_equals_flat(nbits, data):
    rng = np.random.default_rng(nbits)
    if data == "clustered":
        db, centres = clustered(rng, 6000, nbits)
        queries, _ = clustered(rng, 30, nbits, centre_codes=centres)
    else:
        db = uniform(rng, 6000, nbits) if data == "uniform" else with_duplicates(rng, 6000, nbits)
        queries = np.concatenate([uniform(rng, 20, nbits), db[:10]])
    flat, mih = build_pair(db, nbits)
    for k in (1, 10, 100, 7000):
        assert_same_knn(flat, mih, queries, k)
        assert_same_knn(flat, mih, queries[:1], k)  # single-query path


@pytest.mark.parametrize("nbits,m", [(64, 5), (64, 3), (32, 3), (128, 5), (128, 7), (256, 9), (40, 2), (24, 1)])
def test_odd_splits(nbits, m):
    rng = np.random.default_rng(m)
    db, centres = clustered(rng, 4000, nbits, p=0.1)
    queries, _ = clustered(rng, 20, nbits, centre_codes=centres)
    flat, mih = build_pair(db, nbits, m=m)
    assert mih.m == m and sum(mih.substring_bits) == nbits
    assert max(mih.substring_bits) - min(mih.substring_bits) <= 1
    for k in (1, 10, 100):
        assert_same_knn(flat, mih, queries, k)
    assert_same_range(flat, mih, queries, nbits // 6)


def test_sparse_hashed_tables_equal_flat():
    # m = 2 over 64 bits: 32-bit substrings on 3000 codes use the hashed tables.
    rng = np.random.default_rng(5)
    db, centres = clustered(rng, 3000, 64, p=0.05)
    queries, _ = clustered(rng, 20, 64, centre_codes=centres)
    flat, mih = build_pair(db, 64, m=2)
    assert mih.table_bytes < 3000 * 64  # no 2^32 offset array
    for k in (1, 10, 100):
        assert_same_knn(flat, mih, queries, k)
    assert_same_range(flat, mih, queries, 9)


@pytest.mark.parametrize("fallback", ["never", "auto", "always"])
def test_fallback_modes_agree(fallback):
    rng = np.random.default_rng(11)
    db, centres = clustered(rng, 8000, 64, p=0.12)
    queries, _ = clustered(rng, 300, 64, centre_codes=centres)
    flat, mih = build_pair(db, 64, fallback=fallback)
    assert mih.fallback == fallback
    for k in (1, 10, 600):
        assert_same_knn(flat, mih, queries, k)
    res, work = mih.search_with_work(queries, 10)
    assert work.candidates.shape == (300,) and work.scanned.dtype == bool
    if fallback == "always":
        assert work.scanned.all()
    if fallback == "never":
        assert not work.scanned.any() and (work.candidates < 8000).all()


def test_uniform_batch_goes_to_scan_under_auto():
    rng = np.random.default_rng(2)
    db = uniform(rng, 20000, 64)
    flat, mih = build_pair(db, 64, fallback="auto")
    queries = uniform(rng, 200, 64)
    _, work = mih.search_with_work(queries, 10)
    assert work.scanned.mean() > 0.9
    assert_same_knn(flat, mih, queries, 10)


def test_arbitrary_ids_and_ties():
    rng = np.random.default_rng(3)
    db = with_duplicates(rng, 5000, 64)
    ids = rng.choice(10**12, 5000, replace=False).astype(np.int64)
    flat, mih = build_pair(db, 64, ids=ids)
    queries = uniform(rng, 20, 64)
    for k in (1, 10, 100, 6000):
        assert_same_knn(flat, mih, queries, k)
    assert_same_range(flat, mih, queries, 30)


def test_range_search_equals_flat():
    rng = np.random.default_rng(4)
    db, centres = clustered(rng, 6000, 128, p=0.1)
    queries, _ = clustered(rng, 25, 128, centre_codes=centres)
    flat, mih = build_pair(db, 128)
    for radius in (0, 3, 12, 25, 128):
        assert_same_range(flat, mih, queries, radius)
    assert_same_range(flat, mih, queries[:1], 20)


def _clustered_pair(seed, n):
    """Clustered 64-bit codes, 20 queries near their centres, and an empty FlatIndex / table-only MIH."""
    rng = np.random.default_rng(seed)
    db, centres = clustered(rng, n, 64, p=0.1)
    queries, _ = clustered(rng, 20, 64, centre_codes=centres)
    mih = MultiIndexHashing(64)
    mih.set_fallback("never")
    return rng, db, queries, FlatIndex(64), mih


def test_incremental_adds_and_removals():
    rng, db, queries, flat, mih = _clustered_pair(6, 12000)
    for lo in range(0, 12000, 1500):  # some adds stay in the scanned tail, some rebuild
        flat.add(db[lo:lo + 1500])
        mih.add(db[lo:lo + 1500])
        assert_same_knn(flat, mih, queries, 10)
    for chunk in (np.arange(0, 12000, 3), rng.choice(12000, 500, replace=False), np.array([10**12])):
        assert flat.remove(chunk) == mih.remove(chunk)
        assert_same_knn(flat, mih, queries, 10)
        assert_same_range(flat, mih, queries, 10)
    flat.add(db[:300], ids=np.arange(10**6, 10**6 + 300))
    mih.add(db[:300], ids=np.arange(10**6, 10**6 + 300))
    assert_same_knn(flat, mih, queries, 100)
    np.testing.assert_array_equal(flat.ids(), mih.ids())
    mih.reset()
    assert len(mih) == 0
    d, i = mih.search(queries, 3)
    assert (i == -1).all() and (d == np.iinfo(np.int32).max).all()


def test_indexed_counts_the_codes_the_tables_cover():
    rng, db, queries, flat, mih = _clustered_pair(7, 16000)
    flat.add(db[:15000])
    mih.add(db[:15000])
    assert mih.indexed == 15000
    flat.add(db[15000:15100])
    mih.add(db[15000:15100])  # 100 codes, under 1/16 of the index: the scanned tail
    assert (mih.indexed, mih.ntotal) == (15000, 15100)
    assert_same_knn(flat, mih, queries, 10)
    mih.optimize()
    assert mih.indexed == mih.ntotal == 15100
    assert_same_knn(flat, mih, queries, 10)


def test_auto_m_follows_size():
    assert MultiIndexHashing.auto_m(64, 10_000_000) == 3
    assert MultiIndexHashing.auto_m(64, 1_000_000) == 3
    assert MultiIndexHashing.auto_m(128, 10_000_000) == 6
    assert MultiIndexHashing.auto_m(256, 100) == 32  # at least 8-bit substrings
    assert MultiIndexHashing.auto_m(32, 10**9) >= 1
    rng = np.random.default_rng(7)
    mih = MultiIndexHashing(64)
    mih.add(uniform(rng, 300, 64))
    m_small = mih.m
    mih.add(uniform(rng, 70000, 64))
    mih.optimize()
    assert mih.m_is_auto and mih.m == MultiIndexHashing.auto_m(64, 70300) and mih.m <= m_small
    mih.optimize(m=5)
    assert mih.m == 5 and not mih.m_is_auto


@pytest.mark.parametrize("use_mmap", [False, True])
def test_save_load_and_pickle(tmp_path, use_mmap):
    rng = np.random.default_rng(8)
    db, centres = clustered(rng, 5000, 64)
    queries, _ = clustered(rng, 20, 64, centre_codes=centres)
    flat, mih = build_pair(db, 64, m=5, ids=np.arange(5000, dtype=np.int64) * 7)
    path = tmp_path / "mih.nidx"
    mih.save(path)
    loaded = load(path, mmap=use_mmap)
    assert isinstance(loaded, MultiIndexHashing) and loaded.m == 5 and not loaded.m_is_auto
    loaded.set_fallback("never")
    assert_same_knn(flat, loaded, queries, 10)
    copy = pickle.loads(pickle.dumps(mih))
    copy.set_fallback("never")
    assert_same_knn(flat, copy, queries, 100)
    loaded.add(db[:10], ids=np.arange(10) * 7 + 1)  # mapped: copied on first add; ids >= 0
    flat.add(db[:10], ids=np.arange(10) * 7 + 1)
    assert_same_knn(flat, loaded, queries, 10)


def test_flat_file_is_not_mih(tmp_path):
    # The header's kind tag picks the loader: a Flat file relabelled as MIH lacks MIH's metadata.
    from test_file_fuzz import FileImage

    flat = FlatIndex(64)
    flat.add(uniform(np.random.default_rng(0), 10, 64))
    flat.save(tmp_path / "f.nidx")
    assert type(load(tmp_path / "f.nidx")) is FlatIndex
    image = FileImage((tmp_path / "f.nidx").read_bytes())
    image.header["kind"] = 2
    (tmp_path / "m.nidx").write_bytes(bytes(image))
    with pytest.raises(ValueError, match="lacks section 16"):
        load(tmp_path / "m.nidx")


def test_bad_input():
    with pytest.raises(ValueError):
        MultiIndexHashing(63)
    with pytest.raises(TypeError):
        MultiIndexHashing(64, m=2.5)
    with pytest.raises(ValueError, match="between 2"):
        MultiIndexHashing(64, m=1)  # a 64-bit substring is too long
    with pytest.raises(ValueError):
        MultiIndexHashing(64, m=65)
    mih = MultiIndexHashing(64)
    with pytest.raises(TypeError):
        mih.add(np.zeros((3, 8), dtype=np.int32))
    with pytest.raises(ValueError):
        mih.add(np.zeros((3, 7), dtype=np.uint8))
    mih.add(np.zeros((3, 8), dtype=np.uint8))
    with pytest.raises(ValueError):
        mih.add(np.zeros((1, 8), dtype=np.uint8), ids=[0])  # id already present
    with pytest.raises(ValueError):
        mih.search(np.zeros((1, 8), dtype=np.uint8), 0)
    with pytest.raises(ValueError):
        mih.range_search(np.zeros((1, 8), dtype=np.uint8), -1)
    with pytest.raises(ValueError):
        mih.set_fallback("sometimes")
    with pytest.raises(ValueError):
        mih.set_fallback("auto", probe_cost=-1)
    with pytest.raises(ValueError):
        mih.optimize(m=100)
    assert "MultiIndexHashing(nbits=64" in repr(mih)


def test_top_level_exports():
    import nash_index
    from nash_index.index import factory

    assert nash_index.MultiIndexHashing is MultiIndexHashing
    assert nash_index.make_index is factory.make_index
    assert {"MultiIndexHashing", "make_index"} <= set(nash_index.__all__)
    assert isinstance(nash_index.make_index(64, n_expected=1_000_000), MultiIndexHashing)
    assert isinstance(nash_index.make_index(64, n_expected=1000), FlatIndex)


@pytest.mark.parametrize("nbits,m", [(128, 4), (64, 2), (96, 3)])
def test_wide_substrings_reach_every_code(nbits, m):
    # 32-bit substrings at radius up to 16 have C(32, 16) = 6e8 masks: the walk must
    # sweep the table's values instead (this case used to run for hours).
    rng = np.random.default_rng(11)
    db, queries = uniform(rng, 400, nbits), uniform(rng, 6, nbits)
    flat, mih = build_pair(db, nbits, m=m, fallback="never")
    assert_same_knn(flat, mih, queries, 450)
    assert_same_range(flat, mih, queries, nbits // 2)
