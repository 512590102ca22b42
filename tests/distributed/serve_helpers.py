"""Helpers of the serving tests: a small saved pipeline, a free loopback port, an HTTP client, and
what ``HashingPipeline.search`` answers in the server's JSON layout (the oracle of every answer)."""
from __future__ import annotations

import http.client
import json
import socket
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from nash_index.pipeline import HashingPipeline

TEXTS = [f"w{i % 13} w{(i * 7) % 29} w{(i * 5) % 31} topic{i % 4}" for i in range(120)]
QUERIES = ["w3 w21 topic1", "w5 topic2 w10", "nothing known here", "", "w1 w1 w1"]
LOOPBACK = "127.0.0.1"


def save_pipeline(path: Path, n_docs: int = len(TEXTS)) -> HashingPipeline:
    """A fitted 32-bit TF-IDF LSH pipeline holding TEXTS[:n_docs] under keys ``doc-<i>`` and ids 10*i."""
    pipe = HashingPipeline(nbits=32, hasher="lsh", verbose=False).fit(TEXTS)
    docs = TEXTS[:n_docs]
    pipe.add(docs, ids=np.arange(len(docs)) * 10, keys=[f"doc-{i}" for i in range(len(docs))])
    pipe.save(path)
    return pipe


def free_port() -> int:
    """A loopback port free right now (the server binds it a moment later)."""
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def as_json(result: Any) -> Dict[str, List[Dict[str, list]]]:
    """A TextSearchResult in the server's answer layout, padding rows included."""
    return {"results": [{"ids": ids, "distances": d, "keys": list(keys)} for ids, d, keys in
                        zip(result.ids.tolist(), result.distances.tolist(), result.keys)]}


def request(url: str, method: str, path: str, body: Optional[bytes] = None, timeout: float = 60.0,
            headers: Optional[Dict[str, str]] = None) -> Tuple[int, Any]:
    """(status, decoded JSON body) of one HTTP request on a fresh connection."""
    host, port = url.rsplit("/", 1)[-1].rsplit(":", 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {"Content-Type": "application/json"})
        reply = conn.getresponse()
        data = reply.read()
        return reply.status, json.loads(data) if data else None
    finally:
        conn.close()


def search(url: str, payload: Dict[str, Any], timeout: float = 60.0) -> Tuple[int, Any]:
    return request(url, "POST", "/search", json.dumps(payload).encode(), timeout)
