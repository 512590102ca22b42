"""MultiIndexHashing files built from disk (issue #13): ``build_mih_file`` from a .npy file, a raw
file, an array and an iterable of chunks gives a file whose index, loaded mapped or not, answers
exactly like the numpy oracle; bad sources are refused by name and leave nothing behind; saved
tables are served as stored; and the verification kernel reads positions past 2^31 correctly."""
from __future__ import annotations

import os
import sys

import numpy as np
import pytest

import nash_index as ni
from conftest import assert_knn_matches, assert_range_matches, clustered_codes, mih_setting, uniform_codes
from nash_index.index import _core

TAG_MIH_TABLES = 17  # cpp/src/file_sections.hpp


@pytest.fixture
def codes():
    rng = np.random.default_rng(7)
    return np.concatenate([clustered_codes(rng, 5000, 64, centres=20, p=0.08), uniform_codes(rng, 1000, 64)])


@pytest.fixture
def queries(codes):
    rng = np.random.default_rng(8)
    return np.concatenate([codes[:5], clustered_codes(rng, 5, 64, centres=codes[:3], p=0.1), uniform_codes(rng, 3, 64)])


def _check(path, db, queries, k=10, radius=9):
    ids = np.arange(len(db))
    for mmap, populate in ((True, False), (True, True), (False, False)):
        index = ni.load(path, mmap=mmap, populate=populate)
        assert isinstance(index, ni.MultiIndexHashing) and index.ntotal == len(db)
        assert index.indexed == len(db) and index.table_bytes > 0
        index.set_fallback("never")  # the tables answer, not the scan
        assert_knn_matches(index.search(queries, k), db, ids, queries, k)
        assert_range_matches(index.range_search(queries, radius), db, ids, queries, radius)
    return index


def _chunked(db, sizes):
    start = 0
    for size in sizes:
        yield db[start:start + size]
        start += size


@pytest.mark.parametrize("kind", ["npy", "raw", "array", "chunks"])
def test_built_file_answers_like_the_oracle(tmp_path, codes, queries, kind):
    path = tmp_path / "built.nidx"
    if kind == "npy":
        np.save(tmp_path / "codes.npy", codes)
        source, extra = tmp_path / "codes.npy", {}
    elif kind == "raw":
        codes.tofile(tmp_path / "codes.u8")
        source, extra = str(tmp_path / "codes.u8"), {"nbits": 64}
    elif kind == "array":
        source, extra = codes, {"chunk_codes": 777}
    else:
        source, extra = _chunked(codes, [1, 0, 2000, 3999]), {"nbits": 64}
    assert ni.build_mih_file(source, path, progress=False, **extra) == path
    _check(path, codes, queries)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary left


@pytest.mark.parametrize("nbits,m", [(32, 1), (64, 2), (128, 0), (256, 0), (24, 0)])
def test_built_file_other_lengths_and_m(tmp_path, nbits, m):
    rng = np.random.default_rng(nbits)
    db = clustered_codes(rng, 3000, nbits, centres=10, p=0.1)
    q = np.concatenate([db[:4], uniform_codes(rng, 3, nbits)])
    path = tmp_path / "x.nidx"
    ni.build_mih_file(db, path, m=m or None, progress=False)
    index = _check(path, db, q, k=7, radius=nbits // 5)
    if m:
        assert index.m == m


def test_built_file_equals_a_saved_index(tmp_path, codes, queries):
    built, saved = tmp_path / "built.nidx", tmp_path / "saved.nidx"
    ni.build_mih_file(codes, built, progress=False)
    index = ni.MultiIndexHashing(64)
    index.add(codes)
    index.save(saved)
    # Same sections: codes, store metadata, MIH metadata and tables (the header records the same checksums).
    assert built.read_bytes() == saved.read_bytes()


def test_empty_source_builds_an_empty_index(tmp_path):
    path = tmp_path / "empty.nidx"
    ni.build_mih_file(iter([]), path, nbits=64, progress=False)
    index = ni.load(path, mmap=True)
    assert index.ntotal == 0 and index.search(np.zeros((1, 8), np.uint8), 3).ids.tolist() == [[-1, -1, -1]]


def test_progress_bar_path(tmp_path, codes, queries):
    path = tmp_path / "p.nidx"
    ni.build_mih_file(codes, path, progress=True)  # finish() runs in a thread beside the bar
    _check(path, codes, queries)


def test_progress_line_on_a_terminal_and_in_logs(monkeypatch, capsys):
    from nash_index.index.build import _ProgressLine

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    bar = _ProgressLine("MIH tables")
    bar.show(0, 0)  # no total yet: nothing
    bar.show(50, 100)
    bar.close()
    err = capsys.readouterr().err
    assert err.startswith("\rMIH tables: |" + "#" * 15 + " " * 15 + "|  50%") and err.endswith("\n")
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False)
    log = _ProgressLine("MIH tables")
    log.show(50, 100)  # logs get a line every 30 s, not every tick
    log.close()
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("source,kwargs,error,match", [
    (np.zeros((10, 8), np.int16), {}, ValueError, "source must hold uint8"),
    (np.zeros((10, 8), np.uint8), {"nbits": 32}, ValueError, "nbits = 32 does not match"),
    (iter([np.zeros((10, 8), np.uint8)]), {}, ValueError, "nbits is required"),
    (iter([np.zeros((10, 8), np.uint8), np.zeros((10, 4), np.uint8)]), {"nbits": 64}, ValueError, "source chunk 1"),
    (iter([np.zeros((10, 8), np.float32)]), {"nbits": 64}, TypeError, "source chunk 0"),
    (42, {}, TypeError, "source must be a path"),
    (np.zeros((10, 8), np.uint8), {"m": 1}, ValueError, "m must be between 2"),
    (np.zeros((10, 8), np.uint8), {"chunk_codes": 0}, ValueError, "chunk_codes"),
])
def test_bad_sources_are_named_and_leave_nothing(tmp_path, source, kwargs, error, match):
    path = tmp_path / "bad.nidx"
    with pytest.raises(error, match=match):
        ni.build_mih_file(source, path, progress=False, **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_bad_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="no codes file"):
        ni.build_mih_file(tmp_path / "missing.npy", tmp_path / "x.nidx")
    raw = tmp_path / "codes.u8"
    raw.write_bytes(b"\0" * 20)
    with pytest.raises(ValueError, match="nbits is required"):
        ni.build_mih_file(raw, tmp_path / "x.nidx")
    with pytest.raises(ValueError, match="not a whole number of 64-bit codes"):
        ni.build_mih_file(raw, tmp_path / "x.nidx", nbits=64)


def test_saved_tables_are_served_with_their_tombstones_after_a_removal(tmp_path, codes, queries):
    index = ni.MultiIndexHashing(64)
    index.add(codes)
    index.save(tmp_path / "a.nidx")
    ids = np.arange(len(codes))
    _check(tmp_path / "a.nidx", codes, queries)
    # Tombstones are saved with the tables (issue #25): load serves both, no rebuild.
    gone = ids[::40]  # under 1/8: stays as tombstones (see MultiIndexHashing.needs_rebuild)
    index.remove(gone)
    assert index.tombstones == len(gone)
    index.save(tmp_path / "b.nidx")
    assert _core.open_index_file(str(tmp_path / "a.nidx")).has_section(TAG_MIH_TABLES)
    assert _core.open_index_file(str(tmp_path / "b.nidx")).has_section(TAG_MIH_TABLES)
    back = ni.load(tmp_path / "b.nidx", mmap=True)
    assert back.tombstones == len(gone) and back.indexed == len(codes) - len(gone)
    keep = np.setdiff1d(ids, gone)
    back.set_fallback("never")
    assert_knn_matches(back.search(queries, 10), codes[keep], keep, queries, 10)


@pytest.fixture
def no_bitmap():
    with mih_setting("visited_bitmap_limit", 0):
        yield


@pytest.mark.parametrize("nbits", [64, 128, 256])
def test_duplicates_recognised_without_the_bitmap(no_bitmap, nbits):
    """Large indexes recognise a code met in an earlier table from its substrings, not a bitmap:
    exact on near-duplicate codes (met in every table), tombstones and a scanned tail included."""
    rng = np.random.default_rng(nbits)
    db = clustered_codes(rng, 4000, nbits, centres=3, p=0.02)
    ids = np.arange(len(db))
    q = np.concatenate([db[:5], clustered_codes(rng, 5, nbits, centres=db[:2], p=0.05)])
    index = ni.MultiIndexHashing(nbits)
    index.add(db[:3500])
    index.add(db[3500:])  # the tail
    index.set_fallback("never")
    for k in (1, 10, 300):
        assert_knn_matches(index.search(q, k), db, ids, q, k)
    assert_range_matches(index.range_search(q, nbits // 8), db, ids, q, nbits // 8)
    index.remove(ids[:1000:2])
    keep = np.setdiff1d(ids, ids[:1000:2])
    assert index.tombstones > 0
    assert_knn_matches(index.search(q, 50), db[keep], keep, q, 50)


@pytest.mark.parametrize("level", ["scalar", "popcnt", "avx2", "avx512"])
def test_gather_kernel_reads_positions_past_2_31(tmp_path, flat_restore_runtime, level):
    """Positions are unsigned: a 32-bit signed gather would read 2^31 and up before the codes.
    A sparse file of 2^31 + 64 codes is mapped; only the pages touched are ever read."""
    if ["scalar", "popcnt", "avx2", "avx512"].index(level) > ["scalar", "popcnt", "avx2", "avx512"].index(
            ni.detected_simd_level()):
        pytest.skip(f"{level} not supported here")
    ni.set_simd_level(level)
    n, cs = (1 << 31) + 64, 8
    path = tmp_path / "sparse.u8"
    with open(path, "wb") as f:
        f.truncate(n * cs)
    codes = np.memmap(path, dtype=np.uint8, mode="r+", shape=(n, cs))
    rng = np.random.default_rng(3)
    positions = np.concatenate([np.arange(8), (1 << 31) + np.arange(0, 64, 3), [(1 << 31) - 1]]).astype(np.uint32)
    values = rng.integers(0, 256, (len(positions), cs), dtype=np.uint8)
    codes[positions.astype(np.int64)] = values
    query = rng.integers(0, 256, cs, dtype=np.uint8)
    got = _core._gather_distances(codes, positions, query)
    expected = np.unpackbits(values ^ query, axis=1).sum(axis=1)
    np.testing.assert_array_equal(got, expected)
    del codes
    os.remove(path)


@pytest.mark.parametrize("max_key_bits", [1, 5, 12, 31])
def test_max_key_bits_tables_stay_exact(tmp_path, codes, queries, max_key_bits):
    """Tables keyed by fewer bits than their substrings: smaller, same answers, in memory, saved,
    built from disk and after adds (the cap is kept by every rebuild and by the file)."""
    ids = np.arange(len(codes))
    full = ni.MultiIndexHashing(64, 2)
    full.add(codes)
    capped = ni.MultiIndexHashing(64, 2, max_key_bits=max_key_bits)
    capped.add(codes[:3000])
    capped.add(codes[3000:])
    capped.optimize()
    assert capped.max_key_bits == max_key_bits and full.max_key_bits is None
    assert capped.table_bytes < full.table_bytes
    capped.save(tmp_path / "saved.nidx")  # before set_fallback: the settings are saved too
    capped.set_fallback("never")
    assert_knn_matches(capped.search(queries, 10), codes, ids, queries, 10)
    assert_range_matches(capped.range_search(queries, 8), codes, ids, queries, 8)
    ni.build_mih_file(codes, tmp_path / "built.nidx", m=2, max_key_bits=max_key_bits, progress=False)
    assert (tmp_path / "saved.nidx").read_bytes() == (tmp_path / "built.nidx").read_bytes()
    back = _check(tmp_path / "built.nidx", codes, queries)
    assert back.max_key_bits == max_key_bits and back.table_bytes == capped.table_bytes
    back.add(codes[:10])  # copies the mapped codes; the next rebuild keeps the cap
    back.optimize()
    assert back.max_key_bits == max_key_bits and back.table_bytes < full.table_bytes * 1.01


@pytest.mark.parametrize("bad", [0, 33, -1, 2.5, "8"])
def test_max_key_bits_is_checked(tmp_path, bad):
    error = TypeError if isinstance(bad, (float, str)) else ValueError
    with pytest.raises(error, match="max_key_bits"):
        ni.MultiIndexHashing(64, max_key_bits=bad)
    with pytest.raises(error, match="max_key_bits"):
        ni.build_mih_file(np.zeros((4, 8), np.uint8), tmp_path / "x.nidx", max_key_bits=bad)
    assert list(tmp_path.iterdir()) == []
