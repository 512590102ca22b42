"""Index files written by release 0.1.0 (tests/index/data/release-0.1.0, made by make_files.py there)
load in this build, every way, with their codes, ids and settings, and search like the numpy oracle.

The expected values were recorded by 0.1.0 itself when it wrote the files, so they are independent
of the reader under test. Files of builds before 0.1.0: test_file_safety.py.
"""
from __future__ import annotations

import base64
import json
import pickle
from pathlib import Path

import numpy as np
import pytest

import nash_index as ni
from conftest import assert_knn_matches, assert_range_matches, clustered_codes
from nash_index.index.base import from_bytes

DATA = Path(__file__).resolve().parent / "data" / "release-0.1.0"
EXPECTED = json.loads((DATA / "expected.json").read_text())


def _ways(name: str):
    path = DATA / f"{name}.nidx"
    yield "load", lambda: ni.load(path)
    yield "load(mmap)", lambda: ni.load(path, mmap=True)
    yield "load(mmap, verify=False)", lambda: ni.load(path, mmap=True, verify=False)
    yield "from_bytes", lambda: from_bytes(path.read_bytes())
    yield "pickle round trip", lambda: pickle.loads(pickle.dumps(ni.load(path)))


CASES = [(name, how) for name in EXPECTED for how, _ in _ways(name)]


def _load(name: str, how: str):
    return dict(_ways(name))[how]()


def test_every_recorded_file_is_present():
    assert sorted(p.stem for p in DATA.glob("*.nidx")) == sorted(EXPECTED)
    assert len(EXPECTED) == 7


@pytest.mark.parametrize("name,how", CASES)
def test_release_file_loads_with_its_codes_ids_and_settings(name, how):
    want = EXPECTED[name]
    index = _load(name, how)
    assert type(index).__name__ == want["class"]
    assert (index.nbits, index.ntotal) == (want["nbits"], want["ntotal"])
    codes = np.frombuffer(base64.b64decode(want["codes"]), np.uint8).reshape(want["ntotal"], want["nbits"] // 8)
    np.testing.assert_array_equal(index.codes(), codes)
    np.testing.assert_array_equal(index.ids(), np.asarray(want["ids"], np.int64))
    if want["class"] == "MultiIndexHashing":
        assert (index.m, index.m_is_auto, index.max_key_bits) == (want["m"], want["m_is_auto"], want["max_key_bits"])
        assert index.fallback_params() == want["fallback"]
        if 17 in want["sections"]:  # saved tables are served as they are: no tail left to scan
            assert index.indexed == index.ntotal and index.tombstones == 0
        if 18 in want["sections"]:
            assert index.segments == 2


@pytest.mark.parametrize("name,how", CASES)
def test_release_file_searches_like_the_oracle(name, how):
    want = EXPECTED[name]
    index = _load(name, how)
    db, ids = index.codes(), index.ids()
    rng = np.random.default_rng(len(name))
    queries = np.concatenate([db[rng.integers(0, len(db), 6)], clustered_codes(rng, 6, index.nbits, centres=2)])
    for fallback in ("never", "always") if want["class"] == "MultiIndexHashing" else (None,):
        if fallback:  # the tables as loaded, then the scan over the same codes
            index.set_fallback(fallback)
        for k in (1, 7, want["ntotal"] + 3):
            assert_knn_matches(index.search(queries, k), db, ids, queries, k)
        assert_range_matches(index.range_search(queries, index.nbits // 4), db, ids, queries, index.nbits // 4)


@pytest.mark.parametrize("name", list(EXPECTED))
def test_release_file_takes_changes_and_saves_again(name, tmp_path):
    index = ni.load(DATA / f"{name}.nidx", mmap=True)
    first_id = EXPECTED[name]["next_id"]  # recorded by 0.1.0: after a removal, not max id + 1
    rng = np.random.default_rng(9)
    extra = clustered_codes(rng, 40, index.nbits, centres=2)
    before = index.ids()
    index.add(extra)
    np.testing.assert_array_equal(index.ids(), np.concatenate([before, first_id + np.arange(40)]))
    index.save(tmp_path / "again.nidx")
    back = ni.load(tmp_path / "again.nidx")
    np.testing.assert_array_equal(back.codes(), index.codes())
    np.testing.assert_array_equal(back.ids(), index.ids())
    queries = extra[:5]
    assert_knn_matches(back.search(queries, 5), back.codes(), back.ids(), queries, 5)


@pytest.mark.parametrize("name", [n for n, e in EXPECTED.items() if e["class"] == "FlatIndex" or 17 in e["sections"]])
def test_unchanged_release_file_saves_to_the_same_bytes(name, tmp_path):
    # This build writes what 0.1.0 wrote (format version 1 while the sections fit). Files whose
    # tables 0.1.0 did not save (tombstones) gain them when saved again, so they are left out.
    data = (DATA / f"{name}.nidx").read_bytes()
    for index in (ni.load(DATA / f"{name}.nidx", mmap=True), from_bytes(data)):
        index.save(tmp_path / "again.nidx")
        assert (tmp_path / "again.nidx").read_bytes() == data
        assert pickle.loads(pickle.dumps(index))._impl.serialize() == data
