"""DocumentKeys (nash_index.pipeline.keys): the id -> key map a pipeline saves next to its index."""
from __future__ import annotations

import tracemalloc

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


def test_keys_keep_every_character(tmp_path):
    """Keys are stored as UTF-8 bytes: NULs (which numpy's fixed-width strings dropped at the end)
    and any other character come back as they were."""
    keys = DocumentKeys()
    values = ["fine", "a\x00", "inner \x00 NUL", "\u2028 line\x0bsep\x85", "😀" * 3, ""]
    keys.add(range(len(values)), values)
    keys.save(tmp_path / "k.npz")
    back = DocumentKeys.load(tmp_path / "k.npz")
    assert [back.get(i) for i in range(len(values))] == values


def test_a_key_without_a_utf8_form_is_refused():
    with pytest.raises(ValueError, match=r"keys\[1\] cannot be stored"):
        DocumentKeys().add([0, 1], ["ok", "lone \ud800 surrogate"])


# ---- #27 defect 7: keys are stored as UTF-8 bytes + offsets, not fixed-width -----------------------
def _peak_bytes(fn):
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_one_long_key_does_not_widen_every_key(tmp_path):
    """One 100,000-character key among 1,000 short ones made a 400 MB keys.npz (4 bytes times the
    longest key, for every key) and as much memory at every load."""
    values = [f"doc-{i}" for i in range(1000)] + ["x" * 100_000]
    keys = DocumentKeys()
    keys.add(range(len(values)), values)
    keys.save(tmp_path / "k.npz")
    text_bytes = sum(len(v) for v in values)
    assert (tmp_path / "k.npz").stat().st_size < text_bytes + 16 * len(values) + 4096
    loaded = {}
    peak = _peak_bytes(lambda: loaded.setdefault("keys", DocumentKeys.load(tmp_path / "k.npz")))
    assert peak < 3 * text_bytes + 64 * len(values) + (1 << 20)
    back = loaded["keys"]
    assert back.get(1000) == "x" * 100_000 and back.get(7) == "doc-7"
    rows = back.of_rows(np.array([[1000, 3, -1]]))
    assert rows == [["x" * 100_000, "doc-3", None]]


def test_default_keys_store_no_strings(tmp_path):
    """An attached index's keys are its ids: none is stored, nor made per id (was one Python str per
    id: ~2 GB of memory at 10^7)."""
    ids = np.arange(0, 2_000_000, 2, dtype=np.int64)
    made = {}
    peak = _peak_bytes(lambda: made.setdefault("keys", DocumentKeys.of_ids(ids)))
    assert peak < 4 * ids.nbytes
    keys = made["keys"]
    assert keys.get(1_999_998) == "1999998" and keys.get(3) is None and len(keys) == ids.size
    keys.save(tmp_path / "k.npz")
    with np.load(tmp_path / "k.npz") as z:
        assert sorted(z.files) == ["ids", "keys_format"]
    assert DocumentKeys.load(tmp_path / "k.npz").of_rows(np.array([[4, 5]])) == [["4", None]]


def test_mixed_default_and_given_keys(tmp_path):
    keys = DocumentKeys.of_ids(np.array([5, 6], dtype=np.int64))
    keys.add([9, 10], ["nine", "ten"])
    keys.add([11])
    keys.save(tmp_path / "k.npz")
    back = DocumentKeys.load(tmp_path / "k.npz")
    assert [back.get(i) for i in (5, 6, 9, 10, 11)] == ["5", "6", "nine", "ten", "11"]
    assert back.ids().tolist() == [5, 6, 9, 10, 11]


def test_files_of_the_old_format_still_load(tmp_path):
    """keys.npz as written before format 2: fixed-width unicode arrays."""
    with open(tmp_path / "old.npz", "wb") as fh:
        np.savez(fh, ids=np.array([3, 1, 7], dtype=np.int64), keys=np.array(["three", "one", "sieben ✓"]),
                 text_ids=np.array([7], dtype=np.int64), texts=np.array(["seven's text"]))
    back = DocumentKeys.load(tmp_path / "old.npz")
    assert [back.get(i) for i in (3, 1, 7)] == ["three", "one", "sieben ✓"]
    assert back.text(7) == "seven's text" and back.text(3) is None
    back.save(tmp_path / "new.npz")  # written in the new format
    again = DocumentKeys.load(tmp_path / "new.npz")
    assert again.get(7) == "sieben ✓" and again.text(7) == "seven's text"


@pytest.mark.parametrize("change, fragment", [
    (lambda a: a.update(key_offsets=a["key_offsets"][::-1].copy()), "offsets must rise"),
    (lambda a: a.update(key_bytes=np.concatenate([a["key_bytes"], [0xFF]]).astype(np.uint8)), "offsets must rise"),
    (lambda a: a["key_bytes"].__setitem__(0, 0xFF), "not valid UTF-8"),
    (lambda a: a.update(key_offsets=np.array([0, 1, 4], dtype=np.int64)), "starts inside a UTF-8 character"),
    (lambda a: a.update(keys_format=np.array([3, 0])), "keys format"),
    (lambda a: a.pop("key_bytes"), "lacks"),
])
def test_damaged_keys_files_are_refused(tmp_path, change, fragment):
    keys = DocumentKeys()
    keys.add([0, 1], ["éa", "b"])
    keys.save(tmp_path / "k.npz")
    with np.load(tmp_path / "k.npz") as z:
        arrays = {name: z[name] for name in z.files}
    change(arrays)
    with open(tmp_path / "k.npz", "wb") as fh:
        np.savez(fh, **arrays)
    with pytest.raises(ValueError, match=fragment):
        DocumentKeys.load(tmp_path / "k.npz")


def test_texts_round_trip(tmp_path):
    keys = DocumentKeys()
    keys.add([0, 1, 2], ["a", "b", "c"], texts=["first  text", "x" * 1000, "third\u2028text"])
    keys.save(tmp_path / "k.npz")
    back = DocumentKeys.load(tmp_path / "k.npz")
    assert back.has_texts and back.text(0) == "first text" and back.text(1).endswith("...")
    assert back.text(2) == "third text"  # excerpts fold whitespace, U+2028 included
