"""DocumentKeys (nash_index.pipeline.keys): the id -> key map a pipeline saves next to its index."""
from __future__ import annotations

import numpy as np
import pytest

from nash_index.pipeline.keys import DocumentKeys


def test_round_trip_keeps_every_id_and_key(tmp_path):
    keys = DocumentKeys()
    keys.add([0, 1, 2])  # default keys: str(id)
    keys.add([10**12, 5], ["zeit: Größe ✓", ""])  # large ids, unicode and empty keys
    keys.add(np.array([7], dtype=np.int64), ["x" * 300])
    keys.save(tmp_path / "keys.npz")
    back = DocumentKeys.load(tmp_path / "keys.npz")
    assert len(back) == len(keys) == 6
    for doc_id, key in [(0, "0"), (1, "1"), (2, "2"), (10**12, "zeit: Größe ✓"), (5, ""), (7, "x" * 300)]:
        assert back.get(doc_id) == key and doc_id in back
    assert back.get(3) is None and 3 not in back
    assert back.next_ids(2).tolist() == [10**12 + 1, 10**12 + 2]


def test_empty_round_trip(tmp_path):
    DocumentKeys().save(tmp_path / "k.npz")
    back = DocumentKeys.load(tmp_path / "k.npz")
    assert len(back) == 0 and back.next_ids(3).tolist() == [0, 1, 2]
    with np.load(tmp_path / "k.npz", allow_pickle=False) as z:  # plain arrays, no pickle
        assert z["ids"].dtype == np.int64 and z["ids"].shape == (0,)


def test_check_new_ids():
    keys = DocumentKeys({4: "four", 9: "nine"})
    out = keys.check_new([1, 2, 3], 3)
    assert out.dtype == np.int64 and out.tolist() == [1, 2, 3]
    assert keys.next_ids(1).tolist() == [10]
    with pytest.raises(ValueError, match="unique and not already"):
        keys.check_new([1, 9], 2)
    with pytest.raises(ValueError, match="ids must be unique; id 1 is repeated"):
        keys.check_new([1, 1], 2)
    with pytest.raises(TypeError, match="ids must be integers, got float at position 0"):
        keys.check_new([1.0, 2.0], 2)
    with pytest.raises(ValueError, match="ids must be a 1-D array of length 3"):
        keys.check_new([1, 2], 3)


@pytest.mark.parametrize("ids", [[3, -1], [-5, 2], np.array([0, -1], dtype=np.int8)])
def test_negative_ids_are_refused(ids):
    """-1 pads search results: a document with a negative id would vanish from them (#12)."""
    keys = DocumentKeys()
    with pytest.raises(ValueError, match="ids must be >= 0"):
        keys.check_new(ids, 2)
    with pytest.raises(ValueError, match=">= 0"):
        keys.add(ids)
    with pytest.raises(ValueError, match=">= 0"):
        DocumentKeys({int(i): "x" for i in ids})
    assert len(keys) == 0


def test_ids_beyond_int64_are_refused():
    with pytest.raises(ValueError, match=r"must fit in int64 \(at most 2\*\*63 - 1\), got 9223372036854775808 at position 1"):
        DocumentKeys().check_new(np.array([1, 2**63], dtype=np.uint64), 2)


def test_keys_ending_in_nul_are_refused(tmp_path):
    """numpy's fixed-width strings drop trailing NULs: "a\\x00" would load back as "a"."""
    keys = DocumentKeys()
    with pytest.raises(ValueError, match=r"keys\[1\] ends with a NUL"):
        keys.add([0, 1], ["fine", "a\x00"])
    keys.add([0], ["inner \x00 NUL is kept"])
    keys.save(tmp_path / "k.npz")
    assert DocumentKeys.load(tmp_path / "k.npz").get(0) == "inner \x00 NUL is kept"
