"""``nash-index shard``: build, info, search and serve in process on a small TF-IDF LSH pipeline and
a local Ray cluster; without Ray, one line naming the extra and exit status 2."""
from __future__ import annotations

import contextlib
import io
import json
import subprocess
import sys

import pytest

ray = pytest.importorskip("ray")
pytest.importorskip("sklearn")

from nash_index import FlatIndex  # noqa: E402
from nash_index.cli import app  # noqa: E402
from nash_index.cli.shard import DISTRIBUTED_HINT  # noqa: E402
from nash_index.pipeline import HashingPipeline  # noqa: E402

TEXTS = [f"w{i % 13} w{(i * 7) % 29} w{(i * 5) % 31} topic{i % 4}" for i in range(80)]
QUERIES = ["w3 w21 topic1", "w5 topic2 w10"]


@pytest.fixture(scope="module")
def local_ray():
    from conftest import start_local_ray

    return start_local_ray()  # the session's one cluster, on loopback (tests/distributed's ray_local)


@pytest.fixture(autouse=True)
def no_debug(monkeypatch):
    monkeypatch.delenv("NASH_INDEX_DEBUG", raising=False)


@pytest.fixture(scope="module")
def built(tmp_path_factory, local_ray):
    """(index directory, output of shard build, the pipeline) for TEXTS in two JSONL files."""
    base = tmp_path_factory.mktemp("cli_shard")
    pipe = HashingPipeline(nbits=32, hasher="lsh", verbose=False).fit(TEXTS)
    pipe.save(base / "pipe")
    (base / "in").mkdir()
    for name, rows in (("a.jsonl", TEXTS[:50]), ("b.jsonl", TEXTS[50:])):
        (base / "in" / name).write_text("".join(json.dumps({"text": t}) + "\n" for t in rows))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = app.main(["shard", "build", "--pipeline", str(base / "pipe"), "--input", str(base / "in"),
                           "--out", str(base / "index"), "--shards", "2", "--batch-size", "16"])
    assert status == 0
    return base / "index", out.getvalue(), pipe


def expected_hits(pipe: HashingPipeline, queries, k: int):
    flat = FlatIndex(pipe.nbits)
    flat.add(pipe.encode(TEXTS))
    result = flat.search(pipe.encode(queries), k)
    return [(result.ids[i].tolist(), result.distances[i].tolist()) for i in range(len(queries))]


def test_build_prints_one_summary_line(built):
    _, output, _ = built
    lines = [line for line in output.splitlines() if line.startswith("encoded")]
    assert len(lines) == 1 and lines[0].startswith(f"encoded {len(TEXTS)} codes into 2 shards")


def test_info_text_and_json(built, capsys):
    index, _, _ = built
    assert app.main(["shard", "info", str(index)]) == 0
    out = capsys.readouterr().out
    assert f"{len(TEXTS)} codes of 32 bits in 2 shards" in out and out.count("generation=0") == 2
    assert app.main(["shard", "info", str(index), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["num_shards"] == 2 and info["ntotal"] == len(TEXTS) and info["pipeline"] is True
    assert sum(s["ntotal"] for s in info["shards"]) == len(TEXTS)
    assert all(s["kind"] == "flat" and s["journal_bytes"] == 0 for s in info["shards"])


def test_info_after_changes_counts_the_journals(built, capsys, tmp_path):
    """Changes since build are in the journals: info asks the shards, and says the same as the files do
    once they are compacted."""
    import shutil

    from nash_index.distributed import ShardedIndex

    index = tmp_path / "index"
    shutil.copytree(built[0], index)
    with ShardedIndex.open(index) as sharded:
        sharded.add(sharded.codes()[:7])  # new ids 80..86
        sharded.remove([0, 1, 2])
    assert app.main(["shard", "info", str(index), "--json"]) == 0
    shards = json.loads(capsys.readouterr().out)["shards"]
    assert sum(s["ntotal"] for s in shards) == len(TEXTS) + 7 - 3 and any(s["journal_bytes"] for s in shards)
    assert all(list(s) == ["shard", "kind", "ntotal", "generation", "max_id", "journal_bytes"] for s in shards)
    assert max(s["max_id"] for s in shards) == len(TEXTS) + 6
    with ShardedIndex.open(index) as sharded:
        sharded.save()  # compacts: the files alone are exact again
    assert app.main(["shard", "info", str(index), "--json"]) == 0
    compacted = json.loads(capsys.readouterr().out)["shards"]
    assert [s["ntotal"] for s in compacted] == [s["ntotal"] for s in shards]
    assert all(s["journal_bytes"] == 0 and s["generation"] == 1 for s in compacted)


def test_search_prints_the_exact_neighbours(built, capsys):
    index, _, pipe = built
    assert app.main(["shard", "search", str(index), *QUERIES, "-k", "5"]) == 0
    out = capsys.readouterr().out.splitlines()
    for query, (ids, distances) in zip(QUERIES, expected_hits(pipe, QUERIES, 5)):
        start = out.index(f"query: {query}")
        rows = out[start + 1:start + 6]
        assert [int(r.split("id=")[1]) for r in rows] == ids
        assert [int(r.split("d=")[1].split()[0]) for r in rows] == distances


def test_serve_answers_each_stdin_line(built, capsys, monkeypatch):
    index, _, pipe = built
    monkeypatch.setattr(sys, "stdin", io.StringIO(f"{QUERIES[0]}\n\n{QUERIES[1]}\n"))
    assert app.main(["shard", "serve", str(index), "-k", "3"]) == 0
    answers = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [a["query"] for a in answers] == QUERIES
    assert [(a["ids"], a["distances"]) for a in answers] == expected_hits(pipe, QUERIES, 3)


def test_no_index_is_one_line(tmp_path, capsys):
    assert app.main(["shard", "search", str(tmp_path), "x"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no sharded index" in err[0]


def test_without_ray_one_line_naming_the_extra(monkeypatch, capsys, tmp_path):
    for name in [m for m in sys.modules if m == "nash_index.distributed" or m.startswith("nash_index.distributed.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray now fails as if it were not installed
    assert app.main(["shard", "info", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and DISTRIBUTED_HINT in err[0]


def test_help_lists_shard_without_importing_ray():
    code = ("import sys; from nash_index.cli import app; app.build_parser().format_help(); "
            "print('ray' in sys.modules, 'shard' in app.COMMANDS)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.split() == ["False", "True"], proc.stderr
