"""bench/bench_query.py at a tiny size: the perturbed corpus, the re-enacted old stages (same codes
as the new ones), and a smoke run on stand-in 20 Newsgroups / Reuters texts writing query.{json,md}."""
from __future__ import annotations

import numpy as np
import pytest
from bench_helpers import bench_module, strict_json  # noqa: F401 (a fixture)

from nash_index.datasets import RawCorpus


def _stand_in(name, texts, n_labels=3):
    labels = np.zeros((len(texts), n_labels), dtype=bool)
    labels[np.arange(len(texts)), np.arange(len(texts)) % n_labels] = True
    half = len(texts) // 2
    return RawCorpus(name=name, train_texts=texts[:half], train_labels=labels[:half], test_texts=texts[half:],
                     test_labels=labels[half:], label_names=[f"l{i}" for i in range(n_labels)],
                     train_keys=[str(i) for i in range(half)], test_keys=[str(i) for i in range(len(texts) - half)])


def test_perturbed_corpus_cycles_and_drops_words(bench_module):
    bench = bench_module("bench_query")
    pool = ["alpha beta gamma delta epsilon zeta eta theta iota kappa " * 3, "one two three four five six"]
    docs = list(bench.perturbed(pool, 6))
    assert docs[:2] == pool  # the first copy is the corpus itself
    assert docs == list(bench.perturbed(pool, 3)) + list(bench.perturbed(pool, 3, start=3))  # deterministic by position
    words = docs[2].split()
    assert set(words) <= set(pool[0].split()) and len(words) < len(pool[0].split())


def test_bench_query_smoke(bench_module, docstring_raw, monkeypatch, tmp_path, capsys):
    pytest.importorskip("torch")
    bench = bench_module("bench_query")
    texts = docstring_raw.train_texts + docstring_raw.test_texts
    corpora = {"20ng": _stand_in("20ng", texts), "reuters": _stand_in("reuters", texts[::-1])}
    monkeypatch.setattr(bench, "corpus_texts", lambda name, data_dir: corpora[name])
    report = bench.main(["--docs", "600", "--queries", "12", "--repeats", "1", "--epochs", "1",
                         "--bulk-docs", "120", "--jobs", "2", "--out", str(tmp_path)])
    assert "nash 600 docs" in capsys.readouterr().out
    payload = strict_json(tmp_path / "query.json")
    assert len(payload["queries"]) == len(report["queries"]) == 2
    assert [(r["hasher"], r["docs"]) for r in payload["queries"]] == [("nash", 600), ("itq", 600)]
    for r in payload["queries"]:
        assert r["checks"] == {"single_equals_batch": True, "old_codes_equal": True, "old_rows_equal": True,
                               "queries": 12}
        for path in ("new", "old"):
            assert r[path]["p50_ms"] > 0 and set(r[path]["stage_p50_ms"]) == {"vectorize", "encode", "search"}
    assert {(b["hasher"], b["corpus"]) for b in payload["bulk"]} == {(h, c) for h in ("nash", "itq")
                                                                     for c in ("20ng", "reuters")}
    assert all(b["jobs_codes_equal"] and b["new_docs_per_s"] > 0 and b["tokens_per_doc"] > 0 for b in payload["bulk"])
    assert "| itq | 600 |" in (tmp_path / "query.md").read_text()
