"""The cluster-pruned exact scan (kind "cluster"): results equal the numpy brute force, ties by
id, on clustered and uniform codes of several widths, through adds (tail), removals (remapped
clusters), rebuilds, files and pickles."""
from __future__ import annotations

import pickle

import numpy as np
import pytest

import nash_index as ni
from conftest import assert_knn_matches, assert_range_matches, clustered_codes, scrambled_ids, uniform_codes
from nash_index.index import _core
from nash_index.index.base import new_index


def make(nbits: int, clusters: int = 0):
    return new_index("cluster", nbits) if clusters == 0 else new_index("cluster", nbits, clusters=clusters)


def near(rng, db: np.ndarray, nq: int, p: float = 0.08) -> np.ndarray:
    """Queries: database codes with a share ``p`` of their bits flipped (they fall inside clusters)."""
    picks = db[rng.integers(0, len(db), nq)]
    bits = np.unpackbits(picks, axis=1, bitorder="little")
    bits ^= (rng.random(bits.shape) < p).astype(np.uint8)
    return np.packbits(bits, axis=1, bitorder="little")


# widths of the fixed centre loops (64, 128, 256 bits) and of the generic one (8, 96 bits)
@pytest.mark.parametrize("nbits", [8, 64, 96, 128, 256])
@pytest.mark.parametrize("shape", ["clustered", "uniform"])
def test_knn_and_range_equal_the_oracle(nbits, shape):
    rng = np.random.default_rng(nbits)
    n = 6000
    db = clustered_codes(rng, n, nbits, centres=40, p=0.06) if shape == "clustered" else uniform_codes(rng, n, nbits)
    ids = scrambled_ids(rng, n)
    index = make(nbits)
    index.add(db, ids)
    assert index.ntotal == n
    queries = np.concatenate([near(rng, db, 30), uniform_codes(rng, 10, nbits), db[:5]])
    for k in (1, 10, 100, n + 5):
        assert_knn_matches(index.search(queries, k), db, ids, queries, k)
    for radius in (0, nbits // 8, nbits // 4):
        assert_range_matches(index.range_search(queries, radius), db, ids, queries, radius)


def test_ties_are_broken_by_id():
    rng = np.random.default_rng(1)
    base = clustered_codes(rng, 50, 64, centres=2, p=0.02)
    db = np.concatenate([base] * 40)  # every code 40 times: ties at every distance
    ids = scrambled_ids(rng, len(db))
    index = make(64, clusters=7)
    index.add(db, ids)
    queries = near(rng, base, 20, 0.05)
    for k in (1, 5, 39, 41, 200):
        assert_knn_matches(index.search(queries, k), db, ids, queries, k)


@pytest.mark.parametrize("clusters", [0, 1, 3, 500, 10_000])
def test_any_cluster_count_is_exact(clusters):
    rng = np.random.default_rng(clusters)
    db = clustered_codes(rng, 3000, 64, centres=25, p=0.1)
    index = make(64, clusters)
    index.add(db)
    queries = near(rng, db, 25)
    assert_knn_matches(index.search(queries, 10), db, np.arange(len(db)), queries, 10)


def test_tail_removals_rebuilds_and_files_stay_exact(tmp_path):
    rng = np.random.default_rng(7)
    nbits = 64
    codes = clustered_codes(rng, 20_000, nbits, centres=60, p=0.08)
    ids = scrambled_ids(rng, len(codes))
    index = make(nbits)
    model_codes, model_ids = codes[:8000], ids[:8000]
    index.add(model_codes, model_ids)
    queries = near(rng, codes, 25)
    checks = 0

    def check():
        nonlocal checks
        checks += 1
        for k in (1, 10):
            assert_knn_matches(index.search(queries, k), model_codes, model_ids, queries, k)
        assert_range_matches(index.range_search(queries, 9), model_codes, model_ids, queries, 9)

    check()
    index.add(codes[8000:8300], ids[8000:8300])  # a short tail: scanned, clusters kept
    model_codes, model_ids = codes[:8300], ids[:8300]
    check()
    doomed = np.concatenate([ids[10:600:3], ids[8100:8200]])  # in the clusters and in the tail
    keep = ~np.isin(model_ids, doomed)
    assert index.remove(doomed) == int((~keep).sum())
    model_codes, model_ids = model_codes[keep], model_ids[keep]
    check()
    index.add(codes[8300:], ids[8300:])  # a long tail: rebuilt over everything
    model_codes, model_ids = np.concatenate([model_codes, codes[8300:]]), np.concatenate([model_ids, ids[8300:]])
    check()
    index.save(tmp_path / "c.nidx")
    for loaded in (ni.load(tmp_path / "c.nidx"), ni.load(tmp_path / "c.nidx", mmap=True),
                   pickle.loads(pickle.dumps(index))):
        assert loaded.kind == "cluster" and loaded.ntotal == len(model_ids)
        for k in (1, 10):
            assert_knn_matches(loaded.search(queries, k), model_codes, model_ids, queries, k)
    index.reset()
    assert index.ntotal == 0
    assert index.search(queries, 3).ids.tolist() == [[-1] * 3] * len(queries)
    assert checks == 4


def test_batches_on_threads_equal_single_queries():
    rng = np.random.default_rng(3)
    db = clustered_codes(rng, 10_000, 128, centres=30, p=0.1)
    index = make(128)
    index.add(db)
    queries = near(rng, db, 64)
    batch = index.search(queries, 10, num_threads=2)
    for q in range(0, 64, 9):
        one = index.search(queries[q:q + 1], 10, num_threads=1)
        np.testing.assert_array_equal(one.ids[0], batch.ids[q])
    assert_knn_matches(batch, db, np.arange(len(db)), queries, 10)


def diffuse(nbits: int, seed: int, n: int, centres: int, clusters: int, tail: int, doomed: slice):
    """Clusters about as close as their radii (20% of bits flipped), with a quarter of the codes
    duplicated (ties at every distance), ``clusters`` built over all but the last ``tail`` codes (a
    tail under 256 codes and 1/16 of the rest: scanned, not rebuilt) and the ids at ``doomed`` removed. Returns the generator, the index,
    the live codes and their ids, and the codes before duplication."""
    rng = np.random.default_rng(seed)
    base = clustered_codes(rng, n, nbits, centres=centres, p=0.2)
    db = np.concatenate([base, base[: n // 4]])
    ids = scrambled_ids(rng, len(db))
    index = make(nbits, clusters=clusters)
    built = len(db) - tail
    index.add(db[:built], ids[:built])
    index.add(db[built:], ids[built:])
    index.remove(ids[doomed])
    keep = ~np.isin(ids, ids[doomed])
    return rng, index, db[keep], ids[keep], base


@pytest.mark.parametrize("nbits", [64, 512])  # byte and int32 centre distances
def test_batches_cluster_by_cluster_equal_the_oracle(nbits):
    # A batch's sample verifies far more than 1/32 of the codes, so the rest goes cluster by
    # cluster (cluster_batch.cpp), with one shared top-k per query across threads.
    rng, index, db, ids, base = diffuse(nbits, nbits + 5, 4000, 30, clusters=40, tail=250, doomed=slice(100, 400, 2))
    queries = np.concatenate([near(rng, base, 60, 0.15), db[:6], uniform_codes(rng, 6, nbits)])
    for k in (1, 10, 64):
        for threads in (1, 2):
            assert_knn_matches(index.search(queries, k, num_threads=threads), db, ids, queries, k)


@pytest.mark.parametrize("nbits", [64, 512])  # byte and int32 centre distances
def test_long_single_walks_split_between_threads_equal_the_oracle(flat_restore_runtime, nbits):
    # A lone query verifies far more than 2^15 codes, so past them its walk goes on split between the
    # pool's threads, each an interleaved share of the candidate clusters, with one shared top-k (the
    # smallest ids must win the ties whichever thread meets them).
    ni.set_num_threads(2)  # the split needs 2 pool threads, whatever the CPU count
    rng, index, db, ids, base = diffuse(nbits, nbits + 11, 112_000, 600, clusters=400, tail=5000,
                                        doomed=slice(100, 3000, 3))
    queries = np.concatenate([near(rng, base, 10, 0.15), db[:2], uniform_codes(rng, 2, nbits)])
    _, _, (_, verified, _) = index._impl.search(queries, 10, 1, True)
    assert (verified - 5000 >= 2**15).mean() >= 0.9  # long enough to split (the tail comes after)
    for k in (1, 10, 100):
        for q in range(len(queries)):
            one = queries[q : q + 1]
            assert_knn_matches(index.search(one, k, num_threads=2), db, ids, one, k)
    one = queries[:1]
    assert_knn_matches(index.search(one, 10, num_threads=1), db, ids, one, 10)  # no split


def test_bad_cluster_count_is_a_clear_error():
    with pytest.raises(ValueError, match="clusters must be between 0"):
        make(64, clusters=-1)
    with pytest.raises(ValueError, match="clusters"):
        ni.index.ClusterScanIndex(64, clusters=2**31)
    with pytest.raises(TypeError):
        new_index("cluster", 64, clusterz=3)


def test_automatic_count_follows_the_groups_not_the_codes():
    # About twice the groups of the data (radius nbits / 4), whatever the codes per group: a query
    # reads every centre, so 10^7 codes around 1,000 centres want ~2,000 clusters, not n / 64.
    rng = np.random.default_rng(5)
    for nbits in (64, 128):
        for groups in (20, 200):
            db = clustered_codes(rng, 40_000, nbits, centres=groups, p=0.05)
            count = ni.ClusterScanIndex.auto_clusters(db)
            assert groups <= count <= 4 * groups, (groups, count)
            more = ni.ClusterScanIndex.auto_clusters(np.concatenate([db] * 4))  # more codes, same groups
            assert abs(more - count) <= count // 10, (count, more)
    with pytest.raises(TypeError, match="codes must have dtype uint8"):
        ni.ClusterScanIndex.auto_clusters(np.zeros((3, 8), dtype=np.float32))


@pytest.mark.parametrize("nbits", [64, 128])
def test_automatic_count_is_sqrt_n_where_the_groups_are_loose(nbits):
    # Clusters wider than the leader radius (20% of bits flipped: members ~0.32 nbits apart) and
    # uniform codes: the sampled codes that join a leader sit near the radius, the leaders pile up
    # with the sample, and sqrt(n) clusters ran faster (bench/results/cluster_count*.md). At 128
    # bits, 14% flipped (members ~0.24 nbits apart) still counts as tight: distances spread as
    # sqrt(nbits), such clusters stay apart, and following the groups ran 4x faster there.
    rng = np.random.default_rng(nbits)
    n = 40_000
    cases = {"tight": clustered_codes(rng, n, nbits, centres=200, p=0.05),
             "loose": clustered_codes(rng, n, nbits, centres=200, p=0.2),
             "uniform": uniform_codes(rng, n, nbits)}
    choices = {name: dict(_core.cluster_auto_choice(db, db.shape[1])) for name, db in cases.items()}
    assert choices["tight"]["tight"] and choices["tight"]["tight_share"] >= 0.3, choices["tight"]
    for name in ("loose", "uniform"):
        c = choices[name]
        assert not c["tight"] and c["tight_share"] < 0.3, (name, c)
        assert c["count"] == c["from_size"] == int(np.sqrt(n)), (name, c)
        assert ni.ClusterScanIndex.auto_clusters(cases[name]) == int(np.sqrt(n))
        assert c["from_groups"] > 2 * c["from_size"]  # what the groups alone would have asked for (n / 64 here)
    assert choices["tight"]["count"] == choices["tight"]["from_groups"] == ni.ClusterScanIndex.auto_clusters(cases["tight"])
    if nbits == 128:
        wide = clustered_codes(rng, n, nbits, centres=200, p=0.14)
        assert dict(_core.cluster_auto_choice(wide, wide.shape[1]))["tight"]
    # tiny inputs: at least one cluster, at most one per 64 codes
    assert ni.ClusterScanIndex.auto_clusters(uniform_codes(rng, 10, nbits)) == 1
    assert ni.ClusterScanIndex.auto_clusters(uniform_codes(rng, 640, nbits)) == 10


@pytest.mark.parametrize("nbits", [64, 128])
def test_automatic_count_falls_back_where_tight_groups_outnumber_the_clusters(nbits):
    # 2,000 tight groups of ~20 codes in 40,000 codes: more groups than the n / 64 = 625 clusters
    # allowed, so clusters mix groups, their radii reach the gaps and walks visit most of them: the
    # probe walks cost more there than on sqrt(n)'s clusters, and the count falls back to sqrt(n)
    # (2 * 10^6 codes around 3-5 * 10^4 centres ran 2-4x faster so, bench/results/cluster_count*.md).
    # 200 groups fit: walks visit under 1/16 of the clusters, sqrt(n) is not even probed.
    rng = np.random.default_rng(7 + nbits)
    n = 40_000
    many = clustered_codes(rng, n, nbits, centres=2000, p=0.08)
    few = clustered_codes(rng, n, nbits, centres=200, p=0.05)
    c_many, c_few = (dict(_core.cluster_auto_choice(db, db.shape[1])) for db in (many, few))
    assert c_many["tight"] and c_many["from_groups"] == n // 64 and c_many["visited_share"] > 1 / 16, c_many
    assert c_many["groups_cost"] > c_many["size_cost"] > 0, c_many
    assert c_many["fell_back"] and c_many["count"] == int(np.sqrt(n)), c_many
    assert c_few["tight"] and 0 < c_few["visited_share"] < 1 / 16 and not c_few["fell_back"], c_few
    assert c_few["groups_cost"] == c_few["size_cost"] == 0, c_few
    assert c_few["count"] == c_few["from_groups"] > int(np.sqrt(n)), c_few
    # The share is what single 10-NN walks of the probed codes (32, evenly spread) visit.
    probed = many[np.arange(32) * n // 32]
    grouped = make(nbits, c_many["from_groups"])
    grouped.add(many)
    visits = [grouped._impl.search(q[None], 10, 1, True)[2][0][0] for q in probed]
    assert np.mean(visits) / c_many["from_groups"] == pytest.approx(c_many["visited_share"], rel=1e-9)
    for db, choice in ((many, c_many), (few, c_few)):
        index = make(nbits)  # automatic: the clusters an explicit request of the choice's count builds
        index.add(db)
        explicit = make(nbits, choice["count"])
        explicit.add(db)
        assert choice["count"] == ni.ClusterScanIndex.auto_clusters(db)
        assert 0 < index.clusters == explicit.clusters <= choice["count"]  # fewer where no far code seeds more
        queries = near(rng, db, 20)
        assert_knn_matches(index.search(queries, 10), db, np.arange(n), queries, 10)


LEVELS = ["scalar", "popcnt", "avx2", "avx512"]
AVAILABLE = LEVELS[: LEVELS.index(ni.detected_simd_level()) + 1]
BYTE_LEVELS = [level for level in AVAILABLE if level in ("avx2", "avx512")]  # levels with the byte kernels


@pytest.mark.parametrize("level", AVAILABLE)
@pytest.mark.parametrize("nbits", [8, 64, 128, 256, 1024])
def test_centre_kernel_gives_every_distance_and_the_first_nearest(flat_restore_runtime, level, nbits):
    # The cluster scan visits the first centre at the least distance first, and the build assigns
    # far codes by it: ties at the least across vector lanes and in the tail must give the first.
    from nash_index.index import _core
    ni.set_simd_level(level)
    rng = np.random.default_rng(nbits)
    cs = nbits // 8
    for count in (1, 7, 8, 9, 16, 37, 200):
        query = rng.integers(0, 256, cs, dtype=np.uint8)
        noise = rng.integers(0, 256, (count, cs), dtype=np.uint8)
        noise[:, 0] |= 0b110  # every code 2+ bits away, but the planted ones
        codes = query ^ noise
        for at in sorted({count - 1, count // 2, min(3, count - 1), min(12, count - 1)}, reverse=True):
            codes[at] = query ^ np.eye(1, cs, 0, dtype=np.uint8)[0]  # 1 bit away, several times
        expected = np.unpackbits(codes ^ query, axis=1).sum(axis=1)
        distances, least, nearest = _core._all_distances(codes, query)
        np.testing.assert_array_equal(distances, expected)
        assert least == expected.min() == 1 and nearest == int(np.argmin(expected)), (count, nearest)


@pytest.mark.parametrize("level", BYTE_LEVELS)
@pytest.mark.parametrize("nbits", [8, 64, 128, 248])
def test_byte_centre_kernel_gives_every_distance_and_the_first_nearest(flat_restore_runtime, level, nbits):
    # Codes of at most 248 bits take the byte kernel: 32 codes a vector at 64 bits, then a tail.
    from nash_index.index import _core
    ni.set_simd_level(level)
    rng = np.random.default_rng(nbits + 1)
    cs = nbits // 8
    for count in (1, 31, 32, 33, 64, 95, 200):
        for planted in ([count - 1], [count // 2, count - 1], [min(5, count - 1), count // 2], []):
            query = rng.integers(0, 256, cs, dtype=np.uint8)
            noise = rng.integers(0, 256, (count, cs), dtype=np.uint8)
            noise[:, 0] |= 0b110  # every code 2+ bits away, but the planted ones
            codes = query ^ noise
            for at in planted:
                codes[at] = query ^ np.eye(1, cs, 0, dtype=np.uint8)[0]
            expected = np.unpackbits(codes ^ query, axis=1).sum(axis=1)
            distances, least, nearest = _core._all_distances(codes, query, as_bytes=True)
            assert distances.dtype == np.uint8
            np.testing.assert_array_equal(distances, expected)
            assert least == expected.min() and nearest == int(np.argmin(expected)), (count, planted, nearest)
    far = np.full((40, cs), 255, dtype=np.uint8)  # every code at the greatest distance: the first
    assert _core._all_distances(far, np.zeros(cs, dtype=np.uint8), as_bytes=True)[1:] == (nbits, 0)


@pytest.mark.parametrize("level", BYTE_LEVELS)
def test_byte_candidate_kernel_matches_numpy(flat_restore_runtime, level):
    from nash_index.index import _core
    ni.set_simd_level(level)
    rng = np.random.default_rng(5)
    for count in (0, 1, 31, 32, 33, 100, 1000):
        lower = rng.integers(0, 256, count, dtype=np.uint8)
        minus = rng.integers(0, 256, count, dtype=np.uint8)
        lower[: count // 3] = 255  # saturation: 255 - 0 is above every tau below 255
        for tau in (-3, 0, 1, 7, 128, 254, 255, 256, 2**31 - 1):
            expected = np.flatnonzero(lower.astype(int) - minus.astype(int) <= tau)
            np.testing.assert_array_equal(_core._within_u8(lower, minus, tau), expected)


@pytest.mark.parametrize("level", [level for level in AVAILABLE if level not in BYTE_LEVELS])
def test_levels_without_vectors_have_no_byte_kernels(flat_restore_runtime, level):
    # There the walk keeps int32 centre distances (bytes sliced by 32 cost a popcount per byte).
    from nash_index.index import _core
    ni.set_simd_level(level)
    codes = np.zeros((40, 8), dtype=np.uint8)
    with pytest.raises(ValueError, match="no byte kernels"):
        _core._all_distances(codes, codes[0], as_bytes=True)
    with pytest.raises(ValueError, match="no byte kernels"):
        _core._within_u8(codes[:, 0].copy(), codes[:, 1].copy(), 3)


@pytest.mark.parametrize("level", AVAILABLE)
def test_emptied_clusters_and_every_level_stay_exact(flat_restore_runtime, level):
    # Removing every code of some clusters leaves empty clusters (rows with no shells) until the
    # rebuild; rings and the prefetch ahead of them must skip them at every SIMD level.
    ni.set_simd_level(level)
    rng = np.random.default_rng(11)
    centres = rng.integers(0, 256, (30, 8), dtype=np.uint8)
    which = rng.integers(0, 30, 6000)
    bits = np.unpackbits(centres[which], axis=1) ^ (rng.random((6000, 64)) < 0.08)
    db = np.packbits(bits.astype(np.uint8), axis=1)
    index = make(64, clusters=60)
    index.add(db)
    doomed = np.flatnonzero(which < 3)  # every code of three groups: under 1/4, no rebuild
    assert index.remove(doomed) == len(doomed)
    kept = np.setdiff1d(np.arange(len(db)), doomed)
    queries = np.concatenate([near(rng, db, 30), db[doomed[:10]]])  # some aim at the emptied groups
    for k in (1, 10, 50):
        assert_knn_matches(index.search(queries, k), db[kept], kept, queries, k)
    assert_range_matches(index.range_search(queries, 12), db[kept], kept, queries, 12)
