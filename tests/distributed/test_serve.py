"""``nash_index.distributed.serve`` over real HTTP on loopback: answers identical to the in-process
pipeline (texts and codes, padding included), /healthz, every bad request a 4xx naming its field,
and two replicas of which one is killed under load with zero failed requests.

The module runs its own Ray cluster, started by ``serve`` bound to 127.0.0.1 (the session's shared
one, if a previous module started it, is shut down first; the next user starts it again).
"""
from __future__ import annotations

import json
import os
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

ray = pytest.importorskip("ray")
pytest.importorskip("ray.serve")
pytest.importorskip("sklearn")

from serve_helpers import LOOPBACK, QUERIES, TEXTS, as_json, free_port, request, save_pipeline, search  # noqa: E402

import nash_index.distributed as distributed  # noqa: E402
from nash_index.distributed.serve_app import start_loopback_ray  # noqa: E402
from nash_index.pipeline import HashingPipeline  # noqa: E402

REPLICAS = 2


@pytest.fixture(scope="module")
def cluster():
    """A loopback Ray cluster for this module (the servers join it, so stopping one leaves it up)."""
    if ray.is_initialized():
        ray.shutdown()
    start_loopback_ray(num_cpus=2)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def pipeline_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("serve") / "pipe"
    save_pipeline(path)
    return path


@pytest.fixture(scope="class")
def served(cluster, pipeline_dir):
    """(server, the in-process pipeline loaded from the same directory)."""
    server = distributed.serve(pipeline_dir, LOOPBACK, free_port(), replicas=REPLICAS, max_rows=64, max_k=500)
    try:
        yield server, HashingPipeline.load(pipeline_dir)
    finally:
        server.shutdown()
    assert ray.is_initialized()  # the server joined this cluster: it leaves it running


def replica_pids(server, calls: int = 24) -> set:
    handle = server.searcher_handle()
    return {r.result()["pid"] for r in [handle.info.remote() for _ in range(calls)]}


BAD = [  # (method, path, body, status, field)
    ("POST", "/search", b"{oops", 400, "body"),
    ("POST", "/search", b"", 400, "body"),
    ("POST", "/search", b'["texts"]', 400, "body"),
    ("POST", "/search", b'{"texts": ["a"], "k": 10, "rescore": 5}', 400, "rescore"),
    ("POST", "/search", b'{"k": 3}', 400, "texts"),
    ("POST", "/search", b'{"texts": "a b"}', 400, "texts"),
    ("POST", "/search", b'{"texts": ["a", 7]}', 400, "texts[1]"),
    ("POST", "/search", b'{"texts": ["a"], "k": 0}', 400, "k"),
    ("POST", "/search", b'{"texts": ["a"], "k": 501}', 400, "k"),
    ("POST", "/search", b'{"texts": ["a"], "k": "3"}', 400, "k"),
    ("POST", "/search", json.dumps({"texts": ["a"] * 65}).encode(), 413, "texts"),
    ("POST", "/search", b'{"codes": [[1, 2, 3]]}', 400, "codes[0]"),
    ("POST", "/search", b'{"codes": [[1, 2, 3, 4, 5, 6, 7, 8]]}', 400, "codes[0]"),
    ("POST", "/search", b'{"codes": [[1, 2, 3, 300]]}', 400, "codes[0][3]"),
    ("POST", "/search", b'{"codes": [[1, 2, 3, 4]], "texts": ["a"]}', 400, "codes"),
    ("POST", "/search", b"[" * 200_000, 400, "body"),
    ("GET", "/search", None, 405, "method"),
    ("POST", "/healthz", b"{}", 405, "method"),
    ("GET", "/nowhere", None, 404, "path"),
]


class TestPipelineServer:
    """One server (two replicas) for these tests."""

    def test_url_is_loopback_and_healthz_answers(self, served):
        server, pipe = served
        assert server.url.startswith(f"http://{LOOPBACK}:")
        assert request(server.url, "GET", "/healthz") == (200, {"status": "ok", "nbits": 32, "ntotal": len(TEXTS)})


    @pytest.mark.parametrize("k", [1, 5, len(TEXTS) + 7])  # the last pads every row (id -1, key null)
    def test_texts_answer_as_the_pipeline(self, served, k):
        server, pipe = served
        with pytest.warns(UserWarning):  # the in-process search warns about the queries with no known term
            want = as_json(pipe.search(QUERIES, k))
        assert search(server.url, {"texts": QUERIES, "k": k}) == (200, want)
        assert want["results"][0]["keys"][0].startswith("doc-")
        if k > len(TEXTS):
            assert want["results"][0]["ids"][-1] == -1 and want["results"][0]["keys"][-1] is None


    def test_codes_answer_as_the_pipeline(self, served):
        server, pipe = served
        rng = np.random.default_rng(3)
        codes = np.concatenate([rng.integers(0, 256, size=(6, 4), dtype=np.uint8), pipe.encode(TEXTS[:2])])
        want = as_json(pipe.search_codes(codes, 9))
        assert search(server.url, {"codes": codes.tolist(), "k": 9}) == (200, want)
        assert want["results"][-1]["distances"][0] == 0  # a document's own code finds it at distance 0


    def test_default_k_is_ten(self, served):
        server, pipe = served
        status, body = search(server.url, {"codes": [[1, 2, 3, 4]]})
        assert status == 200 and len(body["results"][0]["ids"]) == 10



    @pytest.mark.parametrize("method, path, body, status, field", BAD, ids=[f"{b[3]}-{b[4]}-{i}" for i, b in enumerate(BAD)])
    def test_bad_requests_get_a_4xx_naming_the_field(self, served, method, path, body, status, field):
        server, _ = served
        got_status, got = request(server.url, method, path, body)
        assert (got_status, got["field"]) == (status, field), got
        assert isinstance(got["error"], str) and got["error"]


    def test_a_huge_body_is_refused_before_it_is_read(self, served):
        server, _ = served
        status, body = request(server.url, "POST", "/search", b"x" * (17 << 20))
        assert (status, body["field"]) == (413, "body")


    def test_a_killed_replica_loses_no_request_and_comes_back(self, served):
        """Four clients send searches without pause; a replica is SIGKILLed after 40 answers. Every request
        answers 200 with the pipeline's answer, and Serve brings a second replica back."""
        server, pipe = served
        before = replica_pids(server)
        assert len(before) == REPLICAS  # the load is shared: both replicas answered
        payloads = [{"texts": [TEXTS[i], TEXTS[-i - 1]], "k": 4} for i in range(8)]
        wants = [as_json(pipe.search(p["texts"], 4)) for p in payloads]
        victim, answered = sorted(before)[0], []

        def client(worker: int) -> list:
            got = []
            for i in range(45):
                which = (worker + i) % len(payloads)
                got.append((which, search(server.url, payloads[which])))
                answered.append(1)
            return got

        with ThreadPoolExecutor(4) as pool:
            futures = [pool.submit(client, w) for w in range(4)]
            while len(answered) < 40 and not all(f.done() for f in futures):
                time.sleep(0.01)
            os.kill(victim, signal.SIGKILL)
            replies = [reply for f in futures for reply in f.result()]
        assert len(replies) == 180
        failed = [(which, status, body) for which, (status, body) in replies if status != 200]
        assert failed == []
        assert all(body == wants[which] for which, (_, body) in replies)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # the controller replaces the dead replica
            now = replica_pids(server, 12)
            if len(now) == REPLICAS and victim not in now:
                break
            time.sleep(0.5)
        assert len(now) == REPLICAS and victim not in now, now
        assert search(server.url, payloads[0]) == (200, wants[0])


def test_sharded_index_answers_as_the_pipeline_then_sigint_stops_it(cluster, pipeline_dir, tmp_path):
    """run_server(shards=DIR): the pipeline encodes, a ShardedIndex answers; the oracle is the same
    pipeline with a FlatIndex of the same codes and ids attached (keys: the ids as text). Once checked,
    SIGINT stops it: status 0, the port closed, the handlers restored, the cluster it joined still up."""
    from nash_index import FlatIndex
    from nash_index.distributed import ShardedIndex

    pipe = HashingPipeline.load(pipeline_dir)
    codes, ids = pipe.encode(TEXTS), np.arange(len(TEXTS), dtype=np.int64) * 7 + 3
    with ShardedIndex.create(tmp_path / "shards", nbits=32, num_shards=2) as sharded:
        sharded.add(codes, ids)
    flat = FlatIndex(32)
    flat.add(codes, ids)
    pipe.attach_index(flat)
    port, checked = free_port(), []
    url = f"http://{LOOPBACK}:{port}"

    def check_then_interrupt(line: str) -> None:
        assert line.startswith("serving") and url in line
        assert request(url, "GET", "/healthz") == (200, {"status": "ok", "nbits": 32, "ntotal": len(TEXTS)})
        for k in (3, len(TEXTS) + 2):
            with pytest.warns(UserWarning):
                want = as_json(pipe.search(QUERIES, k))
            assert search(url, {"texts": QUERIES, "k": k}) == (200, want)
        assert search(url, {"codes": codes[:4].tolist(), "k": 5}) == (200, as_json(pipe.search_codes(codes[:4], 5)))
        checked.append(True)
        threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT)).start()

    before = signal.getsignal(signal.SIGINT)
    assert distributed.run_server(pipeline_dir, LOOPBACK, port, shards=tmp_path / "shards",
                                  on_ready=check_then_interrupt) == 0
    assert checked and signal.getsignal(signal.SIGINT) is before and ray.is_initialized()
    with pytest.raises(OSError):
        request(url, "GET", "/healthz", timeout=5)


def test_shards_of_another_code_length_are_refused_before_anything_starts(cluster, pipeline_dir, tmp_path):
    from nash_index.distributed import ShardedIndex

    ShardedIndex.create(tmp_path / "s64", nbits=64, num_shards=1).close()
    with pytest.raises(ValueError, match="shards: the sharded index holds 64-bit codes but the pipeline makes 32-bit"):
        distributed.serve(pipeline_dir, LOOPBACK, free_port(), shards=tmp_path / "s64")

