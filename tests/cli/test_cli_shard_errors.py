"""``nash-index shard``: every failure is one ``nash-index shard ACTION: error:`` line naming the
file and row (#27 defects 10-12): a malformed JSON Lines row, an id beyond int64, a damaged
journal (info and search), a directory another writer holds (search still answers)."""
from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("ray")
pytest.importorskip("sklearn")

from conftest import start_local_ray  # noqa: E402
from nash_index.cli import app  # noqa: E402
from nash_index.pipeline import HashingPipeline  # noqa: E402

TEXTS = [f"w{i % 13} w{(i * 7) % 29} topic{i % 4}" for i in range(60)]


@pytest.fixture(scope="module")
def pipe_dir(tmp_path_factory):
    start_local_ray()
    base = tmp_path_factory.mktemp("cli_shard_errors")
    HashingPipeline(nbits=32, hasher="lsh", verbose=False).fit(TEXTS).save(base / "pipe")
    return base / "pipe"


@pytest.fixture(autouse=True)
def no_debug(monkeypatch):
    monkeypatch.delenv("NASH_INDEX_DEBUG", raising=False)


def _one_error_line(capsys, action):
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(err) == 1, err
    assert err[0].startswith(f"nash-index shard {action}: error: ")
    return err[0]


def _build(pipe_dir, inputs, out, *extra):
    return app.main(["shard", "build", "--pipeline", str(pipe_dir), "--input", str(inputs), "--out", str(out),
                     "--shards", "2", "--batch-size", "16", *extra])


def test_malformed_row_is_one_line_naming_file_and_line(pipe_dir, tmp_path, capsys):
    rows = [json.dumps({"text": t}) for t in TEXTS]
    rows[37] = '{"text": "no closing brace"'
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a.jsonl").write_text("\n".join(rows[:30]) + "\n")
    (tmp_path / "in" / "b.jsonl").write_text("\n".join(rows[30:]) + "\n")
    assert _build(pipe_dir, tmp_path / "in", tmp_path / "out") == 1
    line = _one_error_line(capsys, "build")
    assert f"file '{(tmp_path / 'in' / 'b.jsonl').resolve()}' line 8 is not valid JSON" in line
    assert not (tmp_path / "out").exists()  # nothing half-written


@pytest.mark.parametrize("mixed", [False, True], ids=["all-uint64", "mixed-read-as-float"])
def test_id_beyond_int64_names_the_id_and_the_input_line(pipe_dir, tmp_path, capsys, mixed):
    big = (1 << 63) + 5
    ids = [(i if mixed else big + i) for i in range(len(TEXTS))]
    ids[41] = big
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps({"text": t, "id": i}) + "\n" for t, i in zip(TEXTS, ids)))
    assert _build(pipe_dir, path, tmp_path / "out", "--id-field", "id") == 1
    line = _one_error_line(capsys, "build")
    where, found = line.split(": id_field: ")
    number = int(where.split(" line ")[1])  # blocks fail in any order: any bad row, named right
    assert where.endswith(f"file '{path.resolve()}' line {number}") and "0..9223372036854775807" in found
    assert ids[number - 1] >= 1 << 63 and (number == 42 or not mixed)
    if "read as floats" in found:  # a reader may turn a column of mixed ids into floats
        assert "found 9.22337203685477" in found
    else:
        assert found.endswith(f"found {ids[number - 1]} in field 'id'")


@pytest.fixture(scope="module")
def built(pipe_dir, tmp_path_factory):
    base = tmp_path_factory.mktemp("cli_shard_built")
    path = base / "rows.jsonl"
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in TEXTS))
    assert _build(pipe_dir, path, base / "out") == 0
    return base / "out"


def test_damaged_journal_is_one_line_for_info_and_search(built, tmp_path, capsys):
    import shutil

    from nash_index.distributed import ShardedIndex
    from nash_index.distributed.layout import journal_path, shard_directory

    shutil.copytree(built, tmp_path / "out")
    with ShardedIndex.open(tmp_path / "out", cpus_per_shard=0.2) as index:
        for step in range(3):
            index.add(np.full((6, 4), step, dtype=np.uint8))
    journal = max((journal_path(shard_directory(tmp_path / "out", s), 0) for s in range(2)),
                  key=lambda p: p.stat().st_size)
    data = bytearray(journal.read_bytes())
    data[40] ^= 0xFF  # the first record: valid records follow it
    journal.write_bytes(bytes(data))
    for action in (["info"], ["info", "--json"], ["search", "w3 topic1"]):
        assert app.main(["shard", action[0], str(tmp_path / "out"), *action[1:]]) == 1
        line = _one_error_line(capsys, action[0])
        assert f"journal '{journal.resolve()}' is damaged at byte" in line or f"journal '{journal}' is damaged" in line


def test_search_and_info_answer_beside_a_writer(built, tmp_path, capsys):
    import shutil

    from nash_index.distributed import ShardedIndex

    shutil.copytree(built, tmp_path / "out")
    with ShardedIndex.open(tmp_path / "out", cpus_per_shard=0.4) as writer:
        writer.remove([0])
        capsys.readouterr()
        assert app.main(["shard", "search", str(tmp_path / "out"), "w3 topic1", "-k", "3"]) == 0
        assert "id=" in capsys.readouterr().out
        assert app.main(["shard", "info", str(tmp_path / "out"), "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["ntotal"] == len(TEXTS) - 1
