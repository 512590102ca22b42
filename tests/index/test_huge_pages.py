"""Index files of 2 MiB and more are mapped in 2 MiB pages (MADV_HUGEPAGE before the pages are
populated), unless NASH_INDEX_HUGE_PAGES=0; every way of loading answers as the numpy oracle."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import nash_index as ni
from conftest import clustered_codes, oracle_knn

linux_only = pytest.mark.skipif(not Path("/proc/self/smaps").exists(),
                                reason="Linux: the advice is read back from /proc/self/smaps")

# Reports whether the mapping of the file argv[1] carries the huge-page advice (VmFlags "hg").
PROBE = """
import sys, nash_index as ni
index = ni.load(sys.argv[1], mmap=True, populate=bool(int(sys.argv[2])))
path, flags, inside = sys.argv[1], [], False
for line in open('/proc/self/smaps'):
    if '-' in line.split(' ', 1)[0]:
        inside = line.rstrip().endswith(path)
    elif inside and line.startswith('VmFlags:'):
        flags.append('hg' in line.split())
print(int(any(flags)), len(flags))
"""


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    rng = np.random.default_rng(7)
    db = clustered_codes(rng, 400_000, 64, centres=50, p=0.08)  # 3.2 MB of codes: past 2 MiB
    queries = np.concatenate([db[:20], clustered_codes(rng, 20, 64, centres=50, p=0.08)])
    index = ni.MultiIndexHashing(64)
    index.add(db)
    path = tmp_path_factory.mktemp("huge") / "mih.nidx"
    index.save(path)
    assert path.stat().st_size > 2 << 20
    return path, db, queries


def mapping_advice(path: Path, populate: bool, env_value=None):
    env = dict(os.environ)
    env.pop("NASH_INDEX_HUGE_PAGES", None)
    if env_value is not None:
        env["NASH_INDEX_HUGE_PAGES"] = env_value
    out = subprocess.run([sys.executable, "-c", PROBE, str(path), str(int(populate))], env=env,
                         capture_output=True, text=True, check=True).stdout.split()
    return bool(int(out[0])), int(out[1])


@linux_only
@pytest.mark.parametrize("populate", [False, True])
def test_mapped_file_is_advised_huge(saved, populate):
    advised, mappings = mapping_advice(saved[0], populate)
    assert mappings >= 1 and advised


@linux_only
def test_advice_can_be_turned_off(saved):
    advised, mappings = mapping_advice(saved[0], True, env_value="0")
    assert mappings >= 1 and not advised


@pytest.fixture(scope="module")
def oracle(saved):
    _, db, queries = saved
    return {k: oracle_knn(db, np.arange(len(db)), queries, k) for k in (1, 10)}


@pytest.mark.parametrize("how", [dict(mmap=False), dict(mmap=True), dict(mmap=True, populate=True),
                                 dict(mmap=False, verify=False)])
def test_every_load_answers_as_the_oracle(saved, oracle, how):
    path, _, queries = saved
    index = ni.load(path, **how)
    for k, (distances, ids) in oracle.items():
        got = index.search(queries, k)
        np.testing.assert_array_equal(got.distances, distances)
        np.testing.assert_array_equal(got.ids, ids)
        for q in range(0, len(queries), 7):  # single queries: the walk's own path
            one = index.search(queries[q:q + 1], k)
            np.testing.assert_array_equal(one.distances[0], distances[q])
            np.testing.assert_array_equal(one.ids[0], ids[q])


@pytest.mark.parametrize("mmap", [False, True])
def test_a_loaded_index_changes_apart_from_its_file(saved, oracle, mmap):
    """Read or mapped, a loaded index serves the file's bytes until its first add / remove copies
    them: the changes then answer as the oracle and leave the file as it was."""
    path, db, queries = saved
    index = ni.load(path, mmap=mmap)
    assert index.is_mapped == mmap
    rng = np.random.default_rng(3)
    doomed = rng.choice(len(db), 1000, replace=False)
    assert index.remove(doomed) == 1000
    extra = clustered_codes(rng, 500, 64, centres=50, p=0.08)
    index.add(extra)
    keep = np.setdiff1d(np.arange(len(db)), doomed)
    now_db = np.concatenate([db[keep], extra])
    now_ids = np.concatenate([keep, np.arange(len(db), len(db) + 500)])
    distances, ids = oracle_knn(now_db, now_ids, queries, 10)
    got = index.search(queries, 10)
    np.testing.assert_array_equal(got.distances, distances)
    np.testing.assert_array_equal(got.ids, ids)
    again = ni.load(path)
    assert len(again) == len(db)
    np.testing.assert_array_equal(again.search(queries, 10).ids, oracle[10][1])
