"""Writes the index files of release 0.1.0 that every later build must keep loading.

Run once with the 0.1.0 build (``python tests/index/data/release-0.1.0/make_files.py``); the files
and ``expected.json`` (codes, ids and settings of each index, as that build reported them) are
committed beside this script and read by tests/index/test_release_files.py. Running it again with a
later build would overwrite the evidence: it refuses while expected.json exists.
"""
from __future__ import annotations

import base64
import json
import pickle
import sys
from pathlib import Path

import numpy as np

import nash_index as ni
from nash_index.index import _core, synthetic

HERE = Path(__file__).resolve().parent


def flat_default_ids():
    index = ni.FlatIndex(64)
    index.add(synthetic.clustered_codes(120, 64, centres=3, flip=0.1, seed=1))
    return index


def flat_scrambled_removed():
    rng = np.random.default_rng(2)
    index = ni.FlatIndex(128)
    index.add(synthetic.clustered_codes(150, 128, centres=4, flip=0.08, seed=2), rng.permutation(150) * 7 + 3)
    index.remove([3 + 7 * 5, 3 + 7 * 77, 3 + 7 * 149])
    return index


def mih_tables():
    index = ni.MultiIndexHashing(64, m=4)
    index.add(synthetic.clustered_codes(300, 64, centres=5, flip=0.06, seed=3))
    return index


def mih_delta():
    # 4096 indexed codes (the least a delta segment builds on), then a tail past 256 codes.
    previous = _core.MultiIndexHashing.max_tail
    _core.MultiIndexHashing.max_tail = 64
    try:
        index = ni.MultiIndexHashing(32)
        codes = synthetic.clustered_codes(4096 + 300, 32, centres=6, flip=0.05, seed=4)
        index.add(codes[:4096])
        index.add(codes[4096:])
    finally:
        _core.MultiIndexHashing.max_tail = previous
    assert index.segments == 2, index.segments
    return index


def mih_fallback():
    index = ni.MultiIndexHashing(64, max_key_bits=12)
    index.add(synthetic.clustered_codes(200, 64, centres=3, flip=0.1, seed=5), np.arange(200) * 3 + 1)
    index.set_fallback("never", probe_cost=3.5, scan_cost_single=0.25, scan_cost_batch=0.125)
    return index


def mih_removed():
    # Removals leave tombstones: the tables are not saved, load rebuilds them.
    index = ni.MultiIndexHashing(64, m=2)
    index.add(synthetic.clustered_codes(250, 64, centres=4, flip=0.07, seed=6))
    index.remove(np.arange(0, 250, 9))
    assert index.tombstones > 0
    return index


def describe(index) -> dict:
    """What a later build must read back from the file."""
    entry = {"class": type(index).__name__, "nbits": index.nbits, "ntotal": index.ntotal,
             "codes": base64.b64encode(index.codes().tobytes()).decode(), "ids": index.ids().tolist()}
    probe = pickle.loads(pickle.dumps(index))
    probe.add(np.zeros((1, index.code_size), np.uint8))
    entry["next_id"] = int(probe.ids()[-1])  # the default id of the next code added
    if isinstance(index, ni.MultiIndexHashing):
        entry.update(m=index.m, m_is_auto=index.m_is_auto, max_key_bits=index.max_key_bits,
                     fallback=index.fallback_params())
    return entry


def main() -> int:
    if (HERE / "expected.json").exists():
        print("the files of release 0.1.0 are recorded already (expected.json exists); not overwriting them")
        return 1
    expected = {}
    makers = [flat_default_ids, flat_scrambled_removed, mih_tables, mih_delta, mih_fallback, mih_removed]
    for make in makers:
        index = make()
        index.save(HERE / f"{make.__name__}.nidx")
        expected[make.__name__] = describe(index)
    codes = synthetic.clustered_codes(500, 64, centres=4, flip=0.08, seed=7)
    ni.build_mih_file(codes, HERE / "built_mih_file.nidx", m=3, progress=False)
    built = ni.load(HERE / "built_mih_file.nidx")
    expected["built_mih_file"] = describe(built)
    assert np.array_equal(built.codes(), codes)
    expected["built_mih_file"]["segments"] = built.segments
    for name, entry in expected.items():
        file = _core.open_index_file(str(HERE / f"{name}.nidx"), False, True)
        entry["sections"] = [tag for tag in range(1, 32) if file.has_section(tag)]
    (HERE / "expected.json").write_text(json.dumps(expected, separators=(",", ":")) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
