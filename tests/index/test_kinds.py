"""The registry of index kinds (cpp/include/nash_index/index_kinds.hpp): what the core registers
is what Python offers, makes, loads and shards, and a kind needs nothing else.

The example kind "sorted" (cpp/test_kinds, built by scripts/setup.sh) has a C++ source and header
and no line anywhere else; the exactness, file and pickle tests of every kind run it too
(test_flat.py, test_flat_io.py, test_flat_properties.py; shards: tests/distributed/test_shard_kinds.py).
"""
from __future__ import annotations

import numpy as np
import pytest
from test_file_fuzz import FileImage

import nash_index as ni
from conftest import EXAMPLE_KIND, KINDS, assert_knn_matches, require_example_kind, uniform_codes
from nash_index.index import ClusterScanIndex, _core
from nash_index.index.base import GenericCoreIndex


def test_flat_and_mih_are_registered_under_their_file_tags():
    # Each kind registers itself from a static initialiser nothing references: an archive link
    # would drop it. Flat = 1 and MIH = 2 are on disk and must never change.
    kinds = dict(_core.index_kinds())
    assert kinds[1] == "flat" and kinds[2] == "mih"
    assert len(set(kinds.values())) == len(kinds)
    assert [tag for tag, _ in _core.index_kinds()] == sorted(kinds)


def test_the_example_kind_is_registered_with_a_test_tag():
    require_example_kind()
    tag = dict((name, tag) for tag, name in _core.index_kinds())[EXAMPLE_KIND]
    assert tag > 1000  # test-only kinds never take a tag a real kind could need


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_is_made_by_name_and_reports_it(kind):
    index = ni.make_index(72, kind=kind)
    assert index.kind == kind and index.nbits == 72 and index.ntotal == 0
    expected = {"flat": ni.FlatIndex, "mih": ni.MultiIndexHashing, "flat_dedup": ni.FlatDedupIndex,
                "mih_dedup": ni.MihDedupIndex, "cluster": ClusterScanIndex}.get(kind, GenericCoreIndex)
    assert type(index) is expected


def test_a_kind_without_a_python_class_is_served_by_the_generic_class(tmp_path):
    require_example_kind()
    index = GenericCoreIndex(EXAMPLE_KIND, 64)
    assert repr(index) == f"GenericCoreIndex(kind='{EXAMPLE_KIND}', nbits=64, ntotal=0)"
    rng = np.random.default_rng(4)
    db = uniform_codes(rng, 60, 64)
    index.add(db, np.arange(60) * 3)
    assert index.remove([0, 3, 5]) == 2
    np.testing.assert_array_equal(index.reconstruct(6), db[2])
    index.save(tmp_path / "s.nidx")
    back = ni.load(tmp_path / "s.nidx", mmap=True)
    assert type(back) is GenericCoreIndex and back.kind == EXAMPLE_KIND
    keep = np.arange(60) >= 2
    assert_knn_matches(back.search(db[:4], 9), db[keep], (np.arange(60) * 3)[keep], db[:4], 9)


def test_unknown_kinds_and_options_are_refused(tmp_path):
    with pytest.raises(ValueError, match=r"^kind must be one of"):
        GenericCoreIndex("ivf", 64)
    with pytest.raises(ValueError, match="unknown index kind 'ivf'"):
        _core.create_index("ivf", 64)
    with pytest.raises(ValueError, match="index kind 'flat' takes no option 'm'"):
        _core.create_index("flat", 64, {"m": 2})
    with pytest.raises(ValueError, match="registers no index kind 'ivf'"):
        ni.index.base.register_kind("ivf")
    assert _core.create_index("mih", 64, {"m": 4}).m == 4


def test_a_file_of_an_unregistered_kind_is_refused(tmp_path):
    index = ni.FlatIndex(64)
    index.add(uniform_codes(np.random.default_rng(1), 5, 64))
    index.save(tmp_path / "f.nidx")
    image = FileImage((tmp_path / "f.nidx").read_bytes())
    image.header["kind"] = 77
    (tmp_path / "x.nidx").write_bytes(bytes(image))
    for mmap in (False, True):
        with pytest.raises(ValueError, match="unknown index kind 77"):
            ni.load(tmp_path / "x.nidx", mmap=mmap)


def test_limits_come_from_the_core():
    assert (_core.MAX_BITS, _core.MAX_THREADS, _core.MAX_K) == (65536, 1024, 2**31 - 1)
    assert _core.MAX_SUBSTRING_BITS == 32
    assert _core.SCAN_FALLBACKS == ("auto", "never", "always")
    index = ni.MultiIndexHashing(64)
    for mode in _core.SCAN_FALLBACKS:
        index.set_fallback(mode)
        assert index.fallback == mode
    with pytest.raises(ValueError, match=r"^fallback must be one of \('auto', 'never', 'always'\), got 'x'"):
        index._impl.set_params("x", 1.0, 1.0, 1.0)  # the core's own check (the one list of modes)
