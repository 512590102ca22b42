"""Nothing loaded without verification is written back under a fresh checksum (#27, defect 2).

A file whose table section is damaged, loaded with ``verify=False`` (wrong candidates, never a bad
read), used to be saved with the damaged tables under new checksums: it then passed
``load(verify=True)`` and kept answering wrong. Saving (or pickling, copying) such an index now
checks the bytes it was loaded from first.
"""
from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

import nash_index as ni
from index_file_sections import damage_section

TAG_CODES, TAG_TABLES = 1, 17  # cpp/src/file_sections.hpp


def _saved_mih(path, n=4000, seed=0):
    codes = np.random.default_rng(seed).integers(0, 256, (n, 8), dtype=np.uint8)
    index = ni.MultiIndexHashing(64)
    index.add(codes)
    index.save(path)
    return codes


@pytest.mark.parametrize("mmap", [False, True])
@pytest.mark.parametrize("tag", [TAG_TABLES, TAG_CODES])
def test_a_damaged_file_loaded_unverified_is_never_saved(tmp_path, mmap, tag):
    src, out = tmp_path / "a.nidx", tmp_path / "b.nidx"
    _saved_mih(src)
    damage_section(src, tag)
    with pytest.raises(ValueError, match="checksum"):
        ni.load(src)  # the damage is real
    index = ni.load(src, mmap=mmap, verify=False)
    with pytest.raises(ValueError, match=r"loaded with verify=False.*a\.nidx.*damaged"):
        index.save(out)
    assert not out.exists() and not list(tmp_path.glob(".b.nidx*"))
    with pytest.raises(ValueError, match="verify=False"):
        index.save(src)  # in place: the damaged file stays as it is, still refused by verify=True
    with pytest.raises(ValueError, match="checksum"):
        ni.load(src)
    with pytest.raises(ValueError, match="verify=False"):
        pickle.dumps(index)
    with pytest.raises(ValueError, match="verify=False"):
        copy.deepcopy(index)


@pytest.mark.parametrize("mmap", [False, True])
def test_a_sound_file_loaded_unverified_saves_as_before(tmp_path, mmap):
    src, out = tmp_path / "a.nidx", tmp_path / "b.nidx"
    codes = _saved_mih(src)
    index = ni.load(src, mmap=mmap, verify=False)
    index.add(codes[:10])
    index.save(out)
    back = ni.load(out)  # verified
    assert back.ntotal == codes.shape[0] + 10
    queries = codes[:20]
    expected = ni.FlatIndex(64)
    expected.add(np.concatenate([codes, codes[:10]]))
    np.testing.assert_array_equal(back.search(queries, 5).distances, expected.search(queries, 5).distances)
    assert pickle.loads(pickle.dumps(index)).ntotal == back.ntotal


def test_reset_forgets_the_unverified_file(tmp_path):
    src = tmp_path / "a.nidx"
    codes = _saved_mih(src)
    damage_section(src, TAG_TABLES)
    index = ni.load(src, verify=False)
    index.reset()  # nothing of the file is left
    index.add(codes[:5])
    index.save(tmp_path / "b.nidx")
    assert ni.load(tmp_path / "b.nidx").ntotal == 5


def test_dedup_kind_is_checked_too(tmp_path):
    codes = np.repeat(np.random.default_rng(1).integers(0, 256, (300, 8), dtype=np.uint8), 3, axis=0)
    index = ni.index.dedup.MihDedupIndex(64)
    index.add(codes)
    src = tmp_path / "d.nidx"
    index.save(src)
    damage_section(src, TAG_CODES)
    loaded = ni.load(src, verify=False)
    with pytest.raises(ValueError, match="verify=False"):
        loaded.save(tmp_path / "e.nidx")
