"""``encode_to_shards``: the codes in the shards are the pipeline's codes of each row, under the
documented ids (positions, or ``id_field``) and routing; searching the result equals one FlatIndex
over all the codes; bad inputs are one clear ValueError naming the argument."""
from __future__ import annotations

import gc
import json
from pathlib import Path
from typing import Dict, List

import numpy as np
import pytest

pytest.importorskip("ray")
pytest.importorskip("sklearn")
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

from nash_index import FlatIndex, load  # noqa: E402
from nash_index.distributed import ShardedIndex, encode_to_shards, shard_of  # noqa: E402
from nash_index.distributed.encode import PIPELINE_DIR  # noqa: E402
from nash_index.distributed.layout import ShardState, index_path, read_manifest, shard_directory  # noqa: E402
from nash_index.pipeline import HashingPipeline  # noqa: E402

N_TEXTS = 300


def make_texts(n: int = N_TEXTS) -> List[str]:
    rng = np.random.default_rng(7)
    return [" ".join(f"w{j}" for j in rng.integers(0, 150, size=6)) for _ in range(n)]


def write_jsonl(path: Path, rows: List[Dict]) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(row) + "\n" for row in rows)


def shard_contents(out: Path) -> Dict[int, tuple]:
    """shard -> (ids, codes) read straight from each shard's current index file."""
    contents = {}
    for shard in range(read_manifest(out).num_shards):
        directory = shard_directory(out, shard)
        index = load(index_path(directory, ShardState.read(directory).generation), mmap=True)
        contents[shard] = (index.ids().copy(), index.codes().copy())
    return contents


def assert_shards_hold(out: Path, ids: np.ndarray, codes: np.ndarray) -> None:
    """Every shard holds exactly the codes routed to it, each under its own id."""
    by_id = dict(zip(ids.tolist(), range(len(ids))))
    contents = shard_contents(out)
    seen = np.concatenate([c[0] for c in contents.values()])
    assert sorted(seen.tolist()) == sorted(ids.tolist())
    for shard, (shard_ids, shard_codes) in contents.items():
        assert (shard_of(shard_ids, len(contents)) == shard).all()
        np.testing.assert_array_equal(shard_codes, codes[[by_id[i] for i in shard_ids.tolist()]])


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Texts, their TF-IDF ITQ pipeline (saved) and its codes."""
    base = tmp_path_factory.mktemp("encode")
    texts = make_texts()
    pipe = HashingPipeline(nbits=64, hasher="itq", verbose=False).fit(texts)
    pipe.save(base / "pipe")
    return {"base": base, "texts": texts, "pipe": base / "pipe", "codes": pipe.encode(texts)}


def test_jsonl_files_three_shards_ids_are_positions(ray_local, corpus, tmp_path):
    texts = corpus["texts"]
    inputs = tmp_path / "in"
    (inputs / "sub").mkdir(parents=True)
    # Sorted path order: a.jsonl, b.json, sub/c.jsonl (directories are searched recursively).
    write_jsonl(inputs / "b.json", [{"text": t} for t in texts[120:250]])
    write_jsonl(inputs / "a.jsonl", [{"text": t, "other": 1} for t in texts[:120]])
    write_jsonl(inputs / "sub" / "c.jsonl", [{"text": t} for t in texts[250:]])
    out = encode_to_shards(corpus["pipe"], inputs, tmp_path / "out", 3, batch_size=50)
    assert read_manifest(out).num_shards == 3 and read_manifest(out).nbits == 64
    assert HashingPipeline.load(out / PIPELINE_DIR).nbits == 64
    ids = np.arange(len(texts), dtype=np.int64)
    assert_shards_hold(out, ids, corpus["codes"])

    flat = FlatIndex(64)
    flat.add(corpus["codes"], ids)
    queries = corpus["codes"][::37]
    with ShardedIndex.open(out, cpus_per_shard=0.5, fast_search=False) as index:
        assert sum(index.shard_sizes()) == len(texts)
        got, want = index.search(queries, 10), flat.search(queries, 10)
    np.testing.assert_array_equal(got.distances, want.distances)
    np.testing.assert_array_equal(got.ids, want.ids)


def test_parquet_one_shard_with_id_field(ray_local, corpus, tmp_path):
    texts = corpus["texts"]
    ids = (np.random.default_rng(3).permutation(len(texts)) * 7 + 5).astype(np.int64)  # scrambled, sparse
    inputs = tmp_path / "in"
    inputs.mkdir()
    for part, rows in enumerate((slice(0, 180), slice(180, None))):
        pq.write_table(pa.table({"doc": texts[rows], "key": ids[rows]}), inputs / f"part{part}.parquet")
    out = encode_to_shards(corpus["pipe"], sorted(inputs.iterdir()), tmp_path / "out", 1,
                           text_field="doc", id_field="key", kind="mih")
    assert_shards_hold(out, ids, corpus["codes"])
    assert type(load(index_path(shard_directory(out, 0), 0))).__name__ == "MultiIndexHashing"


def test_npy_vectors_for_a_pipeline_fitted_on_embeddings(ray_local, tmp_path):
    X = np.random.default_rng(1).normal(size=(200, 48)).astype(np.float32)
    pipe = HashingPipeline(nbits=32, hasher="itq", verbose=False).fit(None, embeddings=X)
    pipe.save(tmp_path / "pipe")
    np.save(tmp_path / "x0.npy", X[:90])
    np.save(tmp_path / "x1.npy", X[90:])
    out = encode_to_shards(tmp_path / "pipe", [tmp_path / "x1.npy", tmp_path / "x0.npy"], tmp_path / "out", 2)
    assert_shards_hold(out, np.arange(200, dtype=np.int64), pipe.encode(None, embeddings=X))


def test_bad_arguments_fail_before_any_work(corpus, tmp_path):
    (tmp_path / "a.csv").write_text("text\nx\n")
    write_jsonl(tmp_path / "b.jsonl", [{"text": "x"}])
    pq.write_table(pa.table({"text": ["x"]}), tmp_path / "c.parquet")
    np.save(tmp_path / "d.npy", np.zeros((1, 4), dtype=np.float32))
    out = tmp_path / "out"
    cases = [([tmp_path / "a.csv"], "unknown file type .csv"),
             ([tmp_path / "b.jsonl", tmp_path / "c.parquet"], "mixed formats"),
             ([tmp_path / "d.npy"], "need a pipeline of vectors"),
             ([tmp_path / "empty"], "no file or directory")]
    for inputs, message in cases:
        with pytest.raises((ValueError, FileNotFoundError), match=message) as info:
            encode_to_shards(corpus["pipe"], inputs, out, 2)
        assert "inputs" in str(info.value)
    (tmp_path / "done").mkdir()
    (tmp_path / "done" / "manifest.json").write_text("{}")
    with pytest.raises(FileExistsError, match="already holds a sharded index"):
        encode_to_shards(corpus["pipe"], tmp_path / "b.jsonl", tmp_path / "done", 2)
    with pytest.raises(ValueError, match="num_shards"):
        encode_to_shards(corpus["pipe"], tmp_path / "b.jsonl", out, 0)
    assert not out.exists()


@pytest.mark.parametrize("rows, message", [
    ([{"text": "w1 w2"}, {"text": "w3"}], "id_field: the inputs have no field 'key'"),  # before encoding
    ([{"text": "w1 w2", "key": 0}, {"text": "w3"}], r"in.jsonl' line 2: id_field: ids must be integers .*missing id.*found nan"),
    ([{"text": "w1 w2", "key": 4}, {"text": "w3", "key": 9}, {"text": "w5", "key": 4}], "id_field: id 4 .*more than once"),
])
def test_bad_ids_are_one_value_error(ray_local, corpus, tmp_path, rows, message):
    # Ray Data logs a failed job with its exception, which holds the job's encoder actors (and their
    # CPUs) until collected; pytest keeps the previous case's log records until now.
    gc.collect()
    write_jsonl(tmp_path / "in.jsonl", rows)
    with pytest.raises(ValueError, match=message):
        encode_to_shards(corpus["pipe"], tmp_path / "in.jsonl", tmp_path / "out", 2, id_field="key")
    assert not (tmp_path / "out").exists()  # a failed run leaves nothing behind
