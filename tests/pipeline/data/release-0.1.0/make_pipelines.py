"""Writes the pipelines of this folder, as saved by nash_index 0.1.0, and what they answered.

Run once with the 0.1.0 code (``python tests/pipeline/data/release-0.1.0/make_pipelines.py``);
``tests/pipeline/test_release_pipelines.py`` then loads them with today's code. The files are
kept small: a generated corpus of 120 short texts, 300 terms, 16-bit codes, and for NASH a
one-layer encoder trained for two epochs. ``expected.json`` holds, per pipeline, the codes of
QUERIES (hex, one string per query) and the top-5 search results that the pipeline gave in
the process that trained it, before it was saved.
"""
from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
TOPICS = {
    "files": "file read write open close path directory disk buffer stream bytes line".split(),
    "network": "socket connect server client request response http port packet address host url".split(),
    "maths": "number integer float sum product square root matrix vector angle sine cosine".split(),
    "text": "string parse format regular expression match split join word character encode decode".split(),
}
COMMON = "the a of to and with from for return value object given".split()
QUERIES = ["read a line from a file", "connect a socket to the server", "square root of a float",
           "parse a string with a regular expression", "vector sum and matrix product"]
#: Pipelines written: directory -> (hasher, hasher_params).
PIPELINES = {
    "lsh": ("lsh", {}),
    "sph": ("sph", {}),
    "sth": ("sth", {}),
    "itq": ("itq", {}),
    "nash": ("nash", {"epochs": 2, "hidden": [32], "batch_size": 32, "neighbours": 3, "device": "cpu"}),
}


def corpus(n_per_topic: int = 30, seed: int = 0) -> tuple:
    """(texts, keys): ``n_per_topic`` texts of 6-11 words per topic, mostly from its own words."""
    rng = np.random.default_rng(seed)
    texts, keys = [], []
    for topic, words in TOPICS.items():
        for i in range(n_per_topic):
            n = int(rng.integers(6, 12))
            pool = words + COMMON
            texts.append(" ".join(pool[j] for j in rng.integers(0, len(pool), size=n)))
            keys.append(f"{topic}-{i}")
    return texts, keys


def answers(pipe) -> dict:
    """What ``pipe`` answers to QUERIES: codes and the top 5 (ids, distances, keys)."""
    result = pipe.search(QUERIES, k=5)
    return {"codes": [bytes(row).hex() for row in pipe.encode(QUERIES)],
            "ids": result.ids.tolist(), "distances": result.distances.tolist(), "keys": result.keys}


def main() -> int:
    from nash_index import __version__
    from nash_index.pipeline import HashingPipeline

    texts, keys = corpus()
    expected = {"version": __version__, "queries": QUERIES, "pipelines": {}}
    for name, (hasher, params) in PIPELINES.items():
        with warnings.catch_warnings():  # NASH: no validation data on 120 texts (all its 2 epochs run)
            warnings.simplefilter("ignore", UserWarning)
            pipe = HashingPipeline(nbits=16, hasher=hasher, hasher_params=params, max_features=300, min_df=1,
                                   index="flat", seed=0, verbose=False, num_threads=1 if hasher == "nash" else None)
            pipe.fit(texts)
        pipe.add(texts, keys=keys)
        pipe.save(HERE / name)
        expected["pipelines"][name] = answers(pipe)
    (HERE / "expected.json").write_text(json.dumps(expected, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
