"""``encode_to_shards`` leftovers of #24: it finishes when ``concurrency`` equals the cluster's CPUs
(the encoder actors held every CPU and starved the read tasks: the job hung), and a corpus folder's
``meta.json`` beside its ``.jsonl`` parts is metadata, not rows. Plus the streamed shard build: the
shards hold exactly the routed codes (numpy oracle) with many small parts."""
from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("ray")
pytest.importorskip("sklearn")

from conftest import RAY_LOCAL_CPUS, oracle_knn  # noqa: E402
from nash_index.distributed import ShardedIndex, encode_to_shards  # noqa: E402
from nash_index.distributed.encode import encoder_cpus, input_files, is_metadata_json  # noqa: E402
from nash_index.pipeline import HashingPipeline  # noqa: E402

TEXTS = [f"w{i % 17} w{(i * 7) % 31} w{(i * 3) % 11} topic{i % 5}" for i in range(200)]


def _corpus_folder(base):
    """A folder as bench/generate_corpus.py writes it: JSON Lines parts and a pretty-printed meta.json."""
    folder = base / "corpus"
    folder.mkdir()
    for part, start in enumerate(range(0, len(TEXTS), 80)):
        rows = [{"id": i, "text": TEXTS[i], "label": i % 5} for i in range(start, min(start + 80, len(TEXTS)))]
        (folder / f"part-{part:05d}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / "meta.json").write_text(json.dumps({"n": len(TEXTS), "shards": [{"file": "part-00000.jsonl"}]}, indent=1))
    return folder


def test_meta_json_in_a_folder_is_skipped(tmp_path):
    folder = _corpus_folder(tmp_path)
    (folder / "one_line.json").write_text(json.dumps({"text": "a row"}) + "\n")  # JSON Lines named .json: data
    files, fmt = input_files(folder)
    assert fmt == "json" and [f.rsplit("/", 1)[1] for f in files] == [
        "one_line.json", "part-00000.jsonl", "part-00001.jsonl", "part-00002.jsonl"]
    assert is_metadata_json(folder / "meta.json") and not is_metadata_json(folder / "one_line.json")
    assert input_files(folder / "meta.json")[0]  # named explicitly: read (and refused by Ray Data if not rows)


def test_concurrency_of_every_cpu_finishes_and_shards_are_exact(ray_local, tmp_path):
    pipe = HashingPipeline(nbits=32, hasher="lsh", verbose=False).fit(TEXTS)
    pipe.save(tmp_path / "pipe")
    folder = _corpus_folder(tmp_path)
    assert encoder_cpus(RAY_LOCAL_CPUS) < 1.0  # the encoders leave a CPU to the reads
    out = encode_to_shards(tmp_path / "pipe", folder, tmp_path / "out", 3, id_field="id", batch_size=16,
                           concurrency=RAY_LOCAL_CPUS)
    codes = pipe.encode(TEXTS)
    ids = np.arange(len(TEXTS), dtype=np.int64)
    with ShardedIndex.open(out, cpus_per_shard=0.2, read_only=True) as index:
        assert index.ntotal == len(TEXTS)  # meta.json added no row
        got = index.search(codes[::9], 12)
        want = oracle_knn(codes, ids, codes[::9], 12)
        np.testing.assert_array_equal(got.distances, want[0])
        np.testing.assert_array_equal(got.ids, want[1])
