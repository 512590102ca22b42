"""MultiIndexHashing fallback settings survive save / load, pickle and deepcopy (issue #12);
files with the version 1 metadata (before the settings were saved) still load; bad saved
settings are rejected as a corrupted file."""
from __future__ import annotations

import copy
import math
import pickle
import struct

import numpy as np
import pytest

import nash_index as ni
from conftest import assert_knn_matches, clustered_codes

SETTINGS = {"fallback": "never", "probe_cost": 3.25, "scan_cost_single": 0.5, "scan_cost_batch": 0.0}
DEFAULTS = ni.MultiIndexHashing(64).fallback_params()

# ------------------------------------------------- the file layout (cpp/src/index_file.cpp)
HEADER = struct.Struct("<8s4IQ2I")  # magic, version, kind, nbits, flags, ntotal, nsections, reserved
SECTION = struct.Struct("<2I3Q")    # tag, reserved, offset, bytes, checksum
MAX_SECTIONS, TAG_MIH_META = 8, 16
CHECKSUMMED = HEADER.size + MAX_SECTIONS * SECTION.size  # the header checksum follows
M64 = (1 << 64) - 1


def _rotl(x: int, r: int) -> int:
    return ((x << r) | (x >> (64 - r))) & M64


def _mix(acc: int, word: int) -> int:
    return _rotl((acc + word * 0xC2B2AE3D27D4EB4F) & M64, 31) * 0x9E3779B185EBCA87 & M64


def checksum64(data: bytes) -> int:
    """index_file.cpp's checksum64 (seed 0), for the few bytes these tests rewrite."""
    lanes = [0x9E3779B185EBCA87, 0xC2B2AE3D27D4EB4F, 0, -0x9E3779B185EBCA87 & M64]
    i = 0
    while i + 32 <= len(data):
        for j in range(4):
            lanes[j] = _mix(lanes[j], int.from_bytes(data[i + 8 * j:i + 8 * j + 8], "little"))
        i += 32
    h = (_rotl(lanes[0], 1) + _rotl(lanes[1], 7) + _rotl(lanes[2], 12) + _rotl(lanes[3], 18) + len(data)) & M64
    for b in data[i:]:
        h = _mix(h, b)
    h ^= h >> 33
    h = h * 0xFF51AFD7ED558CCD & M64
    return h ^ (h >> 33)


def rewrite_meta(path, words: bytes) -> None:
    """Replaces the MIH metadata section of a saved file by `words`, checksums updated."""
    raw = bytearray(path.read_bytes())
    nsections = HEADER.unpack_from(raw)[6]
    for i in range(nsections):
        at = HEADER.size + i * SECTION.size
        tag, reserved, offset, _, _ = SECTION.unpack_from(raw, at)
        if tag == TAG_MIH_META:
            raw[offset:offset + len(words)] = words  # sections are 4096-aligned: room enough
            SECTION.pack_into(raw, at, tag, reserved, offset, len(words), checksum64(words))
            break
    else:
        raise AssertionError("no MIH metadata section")
    struct.pack_into("<Q", raw, CHECKSUMMED, checksum64(bytes(raw[:CHECKSUMMED])))
    path.write_bytes(bytes(raw))


def meta_v2(m_requested: int, m_in_use: int, fallback: int, costs) -> bytes:
    return struct.pack("<6I3d", 2, m_requested, m_in_use, 0, fallback, 0, *costs)


# ----------------------------------------------------------------------------- tests
@pytest.fixture()
def configured():
    rng = np.random.default_rng(11)
    db = clustered_codes(rng, 3000, 64, centres=5, p=0.1)
    queries = clustered_codes(rng, 10, 64, centres=5, p=0.1)
    index = ni.MultiIndexHashing(64, m=4)
    index.add(db)
    index.set_fallback(**SETTINGS)
    return index, db, queries


@pytest.mark.parametrize("how", ["file", "mmap", "bytes", "pickle", "deepcopy"])
def test_fallback_settings_round_trip(tmp_path, configured, how):
    index, db, queries = configured
    if how in ("file", "mmap"):
        index.save(tmp_path / "mih.nidx")
        back = ni.load(tmp_path / "mih.nidx", mmap=how == "mmap")
    elif how == "bytes":
        back = ni.from_bytes(index.__reduce__()[1][0])
    elif how == "pickle":
        back = pickle.loads(pickle.dumps(index))
    else:
        back = copy.deepcopy(index)
    assert back.fallback_params() == SETTINGS and back.m == 4
    assert_knn_matches(back.search(queries, 10), db, np.arange(3000), queries, 10)
    _, work = back.search_with_work(queries, 10)
    assert not work.scanned.any()  # "never" is in force


def test_version_1_metadata_loads_with_default_settings(tmp_path, configured):
    index, db, queries = configured
    path = tmp_path / "v1.nidx"
    index.save(path)
    rewrite_meta(path, struct.pack("<4I", 1, 4, 4, 0))
    back = ni.load(path)
    assert back.fallback_params() == DEFAULTS and back.m == 4 and not back.m_is_auto
    assert_knn_matches(back.search(queries, 5), db, np.arange(3000), queries, 5)


def test_rewritten_file_with_good_settings_loads(tmp_path, configured):
    index, _, _ = configured
    path = tmp_path / "ok.nidx"
    index.save(path)
    rewrite_meta(path, meta_v2(0, 4, 2, (1.0, 0.0, 7.5)))  # the helper itself is right
    back = ni.load(path)
    assert back.m == 4 and back.m_is_auto
    assert back.fallback_params() == {"fallback": "always", "probe_cost": 1.0, "scan_cost_single": 0.0,
                                      "scan_cost_batch": 7.5}


@pytest.mark.parametrize("words", [
    meta_v2(4, 4, 3, (1.0, 1.0, 1.0)),            # fallback out of range
    meta_v2(4, 4, 0, (-1.0, 1.0, 1.0)),           # negative cost
    meta_v2(4, 4, 0, (1.0, math.nan, 1.0)),       # not a number
    meta_v2(4, 4, 0, (1.0, 1.0, math.inf)),       # infinite
    meta_v2(4, 4, 0, (1.0, 1.0, 1.0))[:40],       # truncated
    struct.pack("<4I", 3, 4, 4, 0),               # unknown version
    struct.pack("<4I", 2, 4, 4, 0),               # version 2 without the settings
    struct.pack("<6I3d", 1, 4, 4, 0, 0, 0, 1.0, 1.0, 1.0),  # version 1 with extra words
])
def test_bad_saved_settings_are_a_format_error(tmp_path, configured, words):
    index, _, _ = configured
    path = tmp_path / "bad.nidx"
    index.save(path)
    rewrite_meta(path, words)
    with pytest.raises(ValueError, match="multi-index metadata"):
        ni.load(path)


def test_set_fallback_rejects_values_that_could_not_be_saved():
    index = ni.MultiIndexHashing(64)
    for bad in (math.inf, math.nan, -0.5):
        with pytest.raises(ValueError):
            index.set_fallback("auto", probe_cost=bad)
    assert index.fallback_params() == DEFAULTS
