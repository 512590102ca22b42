"""Issue #27 defect 4: a torn journal tail never bricks a shard, even when the torn record's own
bytes (user codes) hold something that parses as a record; format-1 journals still replay."""
from __future__ import annotations

import numpy as np
import pytest

from nash_index.distributed import journal_v1
from nash_index.distributed.journal import ADD, FILE_HEADER_SIZE, HEADER_SIZE, REMOVE, Journal, _encode
from nash_index.distributed.layout import ShardState, journal_path, shard_directory
from nash_index.distributed.store import ShardStore

CODE_SIZE = 16  # 128-bit codes


def _forgeries(seq: int) -> bytes:
    """Bytes that are a valid record of every format an attacker can write without the file's key:
    a format-1 record, and format-2 records under guessable keys with the next sequence numbers."""
    ids = np.array([123456789], dtype=np.int64)
    codes = np.full((1, CODE_SIZE), 0x5A, dtype=np.uint8)
    out = journal_v1.encode(ADD, b"f" * 16, ids, codes)
    for key in (bytes(16), b"\xff" * 16):
        for s in (seq, seq + 1):
            out += _encode(key, s, REMOVE, b"g" * 16, ids, None)
    return out


def _codes_holding(payload: bytes, rows: int) -> np.ndarray:
    """``rows`` codes whose bytes, read in order, contain ``payload`` (padded with zeros)."""
    data = np.zeros(rows * CODE_SIZE, dtype=np.uint8)
    data[8:8 + len(payload)] = np.frombuffer(payload, dtype=np.uint8)
    return data.reshape(rows, CODE_SIZE)


def test_a_torn_add_holding_valid_looking_records_is_dropped(tmp_path):
    rng = np.random.default_rng(0)
    ShardStore.create(tmp_path, 0, 8 * CODE_SIZE)
    store = ShardStore(tmp_path, 0)
    base = rng.integers(0, 256, size=(40, CODE_SIZE), dtype=np.uint8)
    store.add(base, np.arange(40, dtype=np.int64), b"a" * 16)
    assert store.remove(np.arange(5, dtype=np.int64), b"b" * 16) == 5
    path = journal_path(shard_directory(tmp_path, 0), 0)
    acknowledged = path.stat().st_size
    forged = _forgeries(seq=2)
    rows = -(-(len(forged) + 64) // CODE_SIZE)
    hostile = _codes_holding(forged, rows)
    store.add(hostile, np.arange(1000, 1000 + rows, dtype=np.int64), b"c" * 16)
    store.close()
    full = path.read_bytes()
    payload_start = acknowledged + HEADER_SIZE + 8 * rows  # ids first, then the hostile codes
    forged_end = payload_start + 8 + len(forged)
    for cut in (forged_end, forged_end + 3, len(full) - 1):  # torn after the forged bytes were written
        path.write_bytes(full[:cut])
        reopened = ShardStore(tmp_path, 0)  # the shard opens: the torn add was never acknowledged
        assert reopened.index.ntotal == 35
        np.testing.assert_array_equal(np.sort(reopened.ids()), np.arange(5, 40))
        assert path.stat().st_size == acknowledged  # the tear is cut off; appends start clean
        reopened.add(base[:1], np.array([77], dtype=np.int64), cut.to_bytes(16, "little"))
        reopened.close()
        assert ShardStore(tmp_path, 0, writable=False).index.ntotal == 36
        path.write_bytes(full[:acknowledged])  # back to the acknowledged state for the next cut


def test_damage_before_valid_records_is_still_reported(tmp_path):
    path = tmp_path / "g0.log"
    journal = Journal(path, CODE_SIZE)
    for r in range(3):
        journal.append(REMOVE, bytes([r]) * 16, np.array([r], dtype=np.int64))
    journal.close()
    data = bytearray(path.read_bytes())
    data[FILE_HEADER_SIZE + HEADER_SIZE + 2] ^= 1  # the first record's payload
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="before valid records"):
        list(Journal.replay(path, CODE_SIZE))


def test_a_reader_never_truncates(tmp_path):
    path = tmp_path / "g0.log"
    journal = Journal(path, CODE_SIZE)
    journal.append(REMOVE, b"a" * 16, np.array([1], dtype=np.int64))
    journal.close()
    with open(path, "ab") as fh:
        fh.write(b"NJR2 half a record")  # what a reader sees while the writer appends
    size = path.stat().st_size
    assert len(list(Journal.replay(path, CODE_SIZE, truncate=False))) == 1
    assert path.stat().st_size == size


@pytest.mark.parametrize("torn", [b"", b"\0" * 100, b"NJL2\2"])
def test_a_torn_first_write_leaves_an_empty_journal(tmp_path, torn):
    path = tmp_path / "g0.log"
    path.write_bytes(torn)
    assert list(Journal.replay(path, CODE_SIZE)) == []
    journal = Journal(path, CODE_SIZE)
    journal.append(REMOVE, b"a" * 16, np.array([4], dtype=np.int64))
    journal.close()
    assert [r.ids.tolist() for r in Journal.replay(path, CODE_SIZE)] == [[4]]


def test_format_1_journals_replay_and_are_compacted_by_a_writer(tmp_path):
    rng = np.random.default_rng(1)
    ShardStore.create(tmp_path, 0, 8 * CODE_SIZE)
    codes = rng.integers(0, 256, size=(30, CODE_SIZE), dtype=np.uint8)
    ids = np.arange(30, dtype=np.int64) * 3
    path = journal_path(shard_directory(tmp_path, 0), 0)
    path.write_bytes(journal_v1.encode(ADD, b"a" * 16, ids, codes)
                     + journal_v1.encode(REMOVE, b"b" * 16, ids[:4], None) + b"NJL1 torn")
    reader = ShardStore(tmp_path, 0, writable=False)
    assert reader.index.ntotal == 26 and path.read_bytes().endswith(b"NJL1 torn")  # read, not changed
    store = ShardStore(tmp_path, 0)
    assert store.index.ntotal == 26 and store.applied(b"a" * 16)
    assert ShardState.read(shard_directory(tmp_path, 0)).generation == 1  # folded into format 2
    store.remove(ids[4:6], b"c" * 16)
    store.close()
    again = ShardStore(tmp_path, 0)
    np.testing.assert_array_equal(np.sort(again.ids()), ids[6:])
    order = np.argsort(again.ids())
    np.testing.assert_array_equal(again.codes()[order], codes[6:])
