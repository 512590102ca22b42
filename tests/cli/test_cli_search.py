"""``nash-index search`` in process on a small saved LSH pipeline (#12): queries with no known term
are marked in the text and JSON output and warned about on one line; -k is bounded; running out
of memory is one line, not a traceback."""
from __future__ import annotations

import json

import pytest

pytest.importorskip("sklearn")
pytest.importorskip("scipy")

from nash_index.cli import app  # noqa: E402
from nash_index.cli.args import MAX_NEIGHBOURS  # noqa: E402
from nash_index.cli.search import NO_TERMS_MARK  # noqa: E402
from nash_index.pipeline import HashingPipeline  # noqa: E402

DOCS = ["parse a date string into a datetime", "compress data with gzip", "read rows from a csv file",
        "match a regular expression against text", "format a date as a string", "write rows to a csv file"]


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli_search") / "index"
    pipe = HashingPipeline(nbits=16, hasher="lsh", verbose=False).fit(DOCS)
    pipe.add(DOCS, keys=[f"doc{i}" for i in range(len(DOCS))])
    pipe.save(path)
    return path


@pytest.fixture(autouse=True)
def no_debug(monkeypatch):
    monkeypatch.delenv("NASH_INDEX_DEBUG", raising=False)


def test_query_without_known_terms_is_marked_and_warned(index_dir, capsys):
    assert app.main(["search", "--index", str(index_dir), "-k", "2", "csv rows", "the of and", "zzzz"]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert "query: csv rows" in lines and NO_TERMS_MARK not in lines[0]
    assert f"query: the of and  {NO_TERMS_MARK}" in lines and f"query: zzzz  {NO_TERMS_MARK}" in lines
    warning = err.strip().splitlines()
    assert len(warning) == 1 and warning[0].startswith("nash-index search: warning: search: 2 of 3 queries")
    assert "#1 'the of and'" in warning[0] and "#2 'zzzz'" in warning[0]


def test_json_output_has_the_mark(index_dir, capsys):
    assert app.main(["search", "--index", str(index_dir), "--json", "-k", "1", "gzip", ""]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["no_known_terms"] for r in rows] == [False, True]
    assert all(len(r["results"]) == 1 for r in rows)


@pytest.mark.parametrize("k", ["99999999999", "0", "-3", "inf", str(MAX_NEIGHBOURS + 1)])
def test_k_out_of_range_is_one_line(index_dir, capsys, k):
    """-k 99999999999 printed a 17-line MemoryError traceback."""
    with pytest.raises(SystemExit) as exit_:
        app.main(["search", "--index", str(index_dir), "-k", k, "date"])
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_.value.code == 2 and len(err) == 1 and "-k" in err[0] and "up to 100,000" in err[0]


def test_out_of_memory_is_one_line(index_dir, capsys, monkeypatch):
    def no_memory(self, *args, **kwargs):
        raise MemoryError("Unable to allocate 373. GiB")

    monkeypatch.setattr(HashingPipeline, "search", no_memory)
    assert app.main(["search", "--index", str(index_dir), "-k", "5", "date"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("nash-index search: error: out of memory") and "-k" in err[0]


@pytest.mark.parametrize("argv, fragment", [
    (["bench", "--n", "inf"], "--n: expected a positive count"),
    (["train", "--corpus", "x", "--out", "y", "--lr", "nan"], "--lr: expected a positive number"),
    (["train", "--corpus", "x", "--out", "y", "--lr", "-1"], "--lr: expected a positive number"),
])
def test_bad_numbers_are_one_line(capsys, argv, fragment):
    """'inf' raised OverflowError inside argparse (a traceback); a NaN learning rate was accepted."""
    with pytest.raises(SystemExit) as exit_:
        app.main(argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert exit_.value.code == 2 and len(err) == 1 and fragment in err[0]


def test_damaged_index_is_one_line(index_dir, tmp_path, capsys):
    import shutil

    shutil.copytree(index_dir, tmp_path / "index")
    (tmp_path / "index" / "keys.npz").write_bytes(b"")
    assert app.main(["search", "--index", str(tmp_path / "index"), "date"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "keys.npz" in err[0]
