"""The command line's file readers (#27, defects 13-15 and siblings): a file is read by its bytes,
not its name; keys split at \\n (or \\r\\n) only; a non-UTF-8 byte is one error line naming the
option, the file and the line. Contract: one ``nash-index <command>: error:`` line, exit status 1."""
from __future__ import annotations

import json

import numpy as np
import pytest

from nash_index.cli import app
from nash_index.pipeline import CodesIndex


@pytest.fixture(autouse=True)
def no_debug(monkeypatch, tmp_path):
    monkeypatch.delenv("NASH_INDEX_DEBUG", raising=False)
    monkeypatch.setenv("NASH_INDEX_CACHE", str(tmp_path / "cache"))


def cli_error(capsys, *args) -> str:
    status = app.main([str(a) for a in args])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 1 and len(err) == 1, err
    assert "Traceback" not in err[0]
    return err[0]


def _codes(n=6):
    return np.random.default_rng(0).integers(0, 256, (n, 8), dtype=np.uint8)


# ---- defect 13 and siblings: --codes read by its bytes ---------------------------------------------
def test_codes_from_an_npz_is_one_error_line(capsys, tmp_path):
    np.savez(tmp_path / "c.npz", codes=_codes())
    line = cli_error(capsys, "build", "--codes", tmp_path / "c.npz", "--out", tmp_path / "o")
    assert line.startswith("nash-index build: error: --codes") and "c.npz" in line and ".npz archive" in line
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("content, fragment", [(b"0 1 0 1\n1 1 0 0\n", "not a .npy file"),
                                               (b"\x93NUMPY\x01\x00garbage", "not a readable .npy array"),
                                               (b"", "not a .npy file")])
def test_codes_that_are_not_npy(capsys, tmp_path, content, fragment):
    (tmp_path / "c.npy").write_bytes(content)
    line = cli_error(capsys, "build", "--codes", tmp_path / "c.npy", "--out", tmp_path / "o")
    assert "--codes" in line and "c.npy" in line and fragment in line


def test_object_array_codes_are_refused(capsys, tmp_path):
    np.save(tmp_path / "c.npy", np.array([{"a": 1}], dtype=object))
    line = cli_error(capsys, "build", "--codes", tmp_path / "c.npy", "--out", tmp_path / "o")
    assert "--codes" in line and "c.npy" in line


def test_query_codes_from_an_npz_name_the_option(capsys, tmp_path):
    CodesIndex.build(_codes()).save(tmp_path / "ix")
    np.savez(tmp_path / "q.npz", _codes(2))
    line = cli_error(capsys, "search", "--index", tmp_path / "ix", "--codes", tmp_path / "q.npz")
    assert line.startswith("nash-index search: error: --codes") and "q.npz" in line


def test_codes_under_another_suffix_still_load(capsys, tmp_path):
    with open(tmp_path / "codes.bin", "wb") as fh:
        np.save(fh, _codes())
    assert app.main(["build", "--codes", str(tmp_path / "codes.bin"), "--out", str(tmp_path / "o")]) == 0
    np.testing.assert_array_equal(CodesIndex.load(tmp_path / "o").index.codes(), _codes())


# ---- defect 15: keys split at \n (and \r\n) only ----------------------------------------------------
@pytest.mark.parametrize("sep", ["\n", "\r\n"])
def test_keys_hold_any_character_but_newline(capsys, tmp_path, sep):
    keys = ["plain", "line\u2028separator", "form\x0cfeed", "vertical\x0btab", "next\x85line", "para\u2029graph"]
    np.save(tmp_path / "c.npy", _codes())
    (tmp_path / "keys.txt").write_bytes(sep.join(keys).encode("utf-8") + sep.encode())
    assert app.main(["build", "--codes", str(tmp_path / "c.npy"), "--keys", str(tmp_path / "keys.txt"),
                     "--out", str(tmp_path / "o")]) == 0, capsys.readouterr().err
    index = CodesIndex.load(tmp_path / "o")
    assert [index.key_of(i) for i in range(6)] == keys  # was: refused (12 lines for 6 codes)


def test_keys_that_would_have_shifted_silently(capsys, tmp_path):
    """With splitlines, 'a\\x0cb' made two keys and a missing line elsewhere kept the count right:
    every later key shifted by one."""
    np.save(tmp_path / "c.npy", _codes(3))
    (tmp_path / "keys.txt").write_text("a\x0cb\nc\n", encoding="utf-8")
    line = cli_error(capsys, "build", "--codes", tmp_path / "c.npy", "--keys", tmp_path / "keys.txt",
                     "--out", tmp_path / "o")
    assert "--keys" in line and "keys.txt" in line and "has 2 lines but there are 3 codes" in line


# ---- defect 14 and siblings: non-UTF-8 files name the option, the file and the line ---------------
def test_keys_that_are_not_utf8(capsys, tmp_path):
    np.save(tmp_path / "c.npy", _codes(3))
    (tmp_path / "keys.txt").write_bytes(b"one\ntwo\nth\xe9ree\n")  # latin-1
    line = cli_error(capsys, "build", "--codes", tmp_path / "c.npy", "--keys", tmp_path / "keys.txt",
                     "--out", tmp_path / "o")
    assert line.startswith("nash-index build: error: --keys") and "keys.txt" in line
    assert "line 3" in line and "0xe9" in line and "UTF-8" in line


def _corpus_rows(n=30):
    words = "alpha beta gamma delta epsilon zeta eta theta iota kappa".split()
    return [{"text": " ".join(words[(i + j) % 10] for j in range(6)), "label": str(i % 3)} for i in range(n)]


@pytest.mark.parametrize("kind", ["jsonl", "csv"])
@pytest.mark.parametrize("bad_row", [0, 17])
def test_a_corpus_with_one_non_utf8_byte(capsys, tmp_path, kind, bad_row):
    rows = _corpus_rows()
    if kind == "jsonl":
        lines = [json.dumps(r).encode() for r in rows]
        header = 0
    else:
        lines = [b"text,label"] + [f"{r['text']},{r['label']}".encode() for r in rows]
        header = 1
    lines[bad_row + header] = lines[bad_row + header].replace(b"beta", b"b\xeata").replace(b"alpha", b"alph\xe4")
    path = tmp_path / f"corpus.{kind}"
    path.write_bytes(b"\n".join(lines) + b"\n")
    line = cli_error(capsys, "train", "--corpus", path, "--hasher", "lsh", "--bits", "16", "--out", tmp_path / "m")
    assert line.startswith("nash-index train: error: --corpus") and str(path) in line
    assert f"line {bad_row + header + 1}:" in line and "UTF-8" in line


def test_a_jsonl_corpus_keeps_line_separators_inside_strings(tmp_path):
    """JSON strings may hold U+2028 raw: splitlines cut such a record in two (not valid JSON)."""
    from nash_index.datasets import load_jsonl
    rows = _corpus_rows(10)
    rows[4]["text"] = "first part\u2028second part\x85third"
    path = tmp_path / "c.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    raw = load_jsonl(path, label_columns="label", test_fraction=0.2, seed=0)
    texts = raw.train_texts + raw.test_texts
    assert len(texts) == 10 and rows[4]["text"] in texts


def test_a_text_corpus_has_one_document_per_newline(tmp_path):
    from nash_index.datasets import CorpusOptions, load_source
    path = tmp_path / "docs.txt"
    path.write_text("one doc\x0cstill one\nsecond\u2028doc\nthird\n", encoding="utf-8")
    raw = load_source(str(path), CorpusOptions(test_fraction=0.34))
    assert sorted(raw.train_texts + raw.test_texts) == sorted(["one doc\x0cstill one", "second\u2028doc", "third"])


@pytest.mark.parametrize("array, fragment", [(np.zeros((2, 2, 2), np.uint8), "2-D array"),
                                             (np.full((3, 8), 0.5, np.float32), "dtype float32"),
                                             (np.full((3, 8), 2, np.int64), "other than 0 and 1")])
def test_codes_of_the_wrong_shape_or_type_name_the_option_and_file(capsys, tmp_path, array, fragment):
    np.save(tmp_path / "c.npy", array)
    line = cli_error(capsys, "build", "--codes", tmp_path / "c.npy", "--out", tmp_path / "o")
    assert line.startswith("nash-index build: error: --codes") and "c.npy" in line and fragment in line
