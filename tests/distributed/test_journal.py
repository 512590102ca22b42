"""The shard journal: records round-trip, a torn tail is dropped, damage before valid records is reported."""
from __future__ import annotations

import os

import numpy as np
import pytest

from nash_index.distributed.journal import ADD, FILE_HEADER_SIZE, HEADER_SIZE, REMOVE, Journal

CODE_SIZE = 8


def _write_records(path, rng, count=4):
    journal = Journal(path, CODE_SIZE)
    written = []
    for r in range(count):
        ids = rng.integers(0, 1 << 40, size=r + 2).astype(np.int64)
        if r % 3 == 2:
            journal.append(REMOVE, bytes([r]) * 16, ids)
            written.append((REMOVE, ids, None))
        else:
            codes = rng.integers(0, 256, size=(ids.size, CODE_SIZE), dtype=np.uint8)
            journal.append(ADD, bytes([r]) * 16, ids, codes)
            written.append((ADD, ids, codes))
    journal.close()
    return written


def _same(records, written):
    assert len(records) == len(written)
    for rec, (op, ids, codes) in zip(records, written):
        assert rec.op == op
        np.testing.assert_array_equal(rec.ids, ids)
        if codes is None:
            assert rec.codes is None
        else:
            np.testing.assert_array_equal(rec.codes, codes)


def test_records_round_trip(tmp_path):
    written = _write_records(tmp_path / "g0.log", np.random.default_rng(0))
    records = list(Journal.replay(tmp_path / "g0.log", CODE_SIZE))
    _same(records, written)
    assert [r.op_id for r in records] == [bytes([r]) * 16 for r in range(4)]


def test_missing_journal_is_empty(tmp_path):
    assert list(Journal.replay(tmp_path / "none.log", CODE_SIZE)) == []


def test_every_torn_tail_is_dropped(tmp_path):
    """Cut the file at every byte of the last record: replay keeps the others and truncates the rest."""
    path = tmp_path / "g0.log"
    written = _write_records(path, np.random.default_rng(1))
    full = path.read_bytes()
    last_start = len(full) - (HEADER_SIZE + 8 * written[-1][1].size + CODE_SIZE * written[-1][1].size)
    for cut in range(last_start, len(full)):
        path.write_bytes(full[:cut])
        _same(list(Journal.replay(path, CODE_SIZE)), written[:-1])
        assert path.stat().st_size == last_start  # the torn bytes are gone, appends start clean


def test_zero_filled_tail_is_dropped(tmp_path):
    path = tmp_path / "g0.log"
    written = _write_records(path, np.random.default_rng(2))
    with open(path, "ab") as fh:
        fh.write(b"\0" * 4096)  # what a crash can leave after an extending write
    _same(list(Journal.replay(path, CODE_SIZE)), written)


def test_damage_before_valid_records_is_an_error(tmp_path):
    path = tmp_path / "g0.log"
    _write_records(path, np.random.default_rng(3))
    data = bytearray(path.read_bytes())
    data[FILE_HEADER_SIZE + HEADER_SIZE + 3] ^= 0xFF  # a payload byte of the first record
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=f"damaged at byte {FILE_HEADER_SIZE}"):
        list(Journal.replay(path, CODE_SIZE))
    assert path.stat().st_size == len(data)  # nothing truncated


def test_append_after_replay_continues(tmp_path):
    path = tmp_path / "g0.log"
    rng = np.random.default_rng(4)
    written = _write_records(path, rng, count=2)
    with open(path, "ab") as fh:
        fh.write(b"NJL1 torn")
    list(Journal.replay(path, CODE_SIZE))
    journal = Journal(path, CODE_SIZE)
    ids = np.array([7, 8], dtype=np.int64)
    journal.append(REMOVE, b"x" * 16, ids)
    journal.close()
    records = list(Journal.replay(path, CODE_SIZE))
    _same(records, written + [(REMOVE, ids, None)])


def test_failed_write_leaves_no_record(tmp_path, monkeypatch):
    path = tmp_path / "g0.log"
    journal = Journal(path, CODE_SIZE)
    journal.append(REMOVE, b"a" * 16, np.array([1], dtype=np.int64))
    size = path.stat().st_size

    def no_space(fd, data):
        os.ftruncate(fd, os.fstat(fd).st_size + 5)  # part of the record reached the file
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", no_space)
    with pytest.raises(OSError, match="No space"):
        journal.append(REMOVE, b"b" * 16, np.array([2], dtype=np.int64))
    monkeypatch.undo()
    assert path.stat().st_size == size
    journal.close()
