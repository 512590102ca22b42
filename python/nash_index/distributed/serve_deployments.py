"""The Ray Serve deployments of :mod:`nash_index.distributed.serve` and the actor holding a sharded index.

Two tiers, so that a search replica can die with requests in flight and no request fails:

- :class:`HTTPFront` (the ingress, one async replica, no index): reads and checks each request
  (:mod:`.serve_protocol`) and sends it to a :class:`Searcher` through a Serve handle. A search
  is a read, so a request whose replica died is simply sent again (Serve's router drops the dead
  replica at once and its controller starts a new one). The front answers every error as JSON.
- :class:`Searcher` (``replicas`` of them, sharing the load): the pipeline, memory-mapped, and
  for a sharded index the handle of the one :class:`ShardSearch` actor.
- :class:`ShardSearch` (a plain Ray actor, not a deployment): the one process that opens the
  :class:`ShardedIndex` (its shard actors are not started once per replica, and a directory has
  one opener). Ray restarts it if it dies and retries the searches in flight.
"""
from __future__ import annotations

import asyncio
import logging
import os
import warnings
from typing import Any, Dict, Optional, Tuple

import numpy as np
import ray
from ray.exceptions import RayActorError

from ..pipeline import HashingPipeline
from .fanout import ShardUnavailableError
from .serve_protocol import Limits, Query, RequestError, answer, parse_search

__all__ = ["NAMESPACE", "HTTPFront", "Searcher", "ShardSearch", "load_pipeline"]

#: Ray namespace of the shard-holding actor, so that replicas (namespace "serve") find it by name.
NAMESPACE = "nash_index"
logger = logging.getLogger("ray.serve")


def keep_replica_on_loopback() -> None:
    """On a loopback cluster, binds this replica's inter-deployment gRPC server to 127.0.0.1.

    Ray Serve 2.60 starts that server on ``[::]`` (every interface) whatever the node's address,
    while every other Ray process of a cluster started on 127.0.0.1 listens there only. Called in a
    replica's constructor, which runs before Serve starts that server; a cluster on a routable
    address (other nodes must reach the replica) and a Ray without that hook are left as they are.
    """
    from ray.serve._private import replica

    start = getattr(replica, "add_port_to_grpc_server", None)
    node_ip = ray.util.get_node_ip_address()
    if start is None or node_ip not in ("127.0.0.1", "::1") or getattr(start, "loopback", False):
        return
    host = f"[{node_ip}]" if ":" in node_ip else node_ip

    def on_loopback(server: Any, address: str) -> int:
        return start(server, address.replace("[::]", host, 1) if address.startswith("[::]:") else address)

    on_loopback.loopback = True  # type: ignore[attr-defined]
    replica.add_port_to_grpc_server = on_loopback


def load_pipeline(pipeline_dir: str) -> HashingPipeline:
    """The served pipeline, memory-mapped: replicas on one node share its index pages."""
    return HashingPipeline.load(pipeline_dir, mmap=True)


def takes_texts(pipe: HashingPipeline) -> bool:
    """False for a pipeline fitted on vectors without an embedder (it encodes no text)."""
    return not pipe.uses_vectors or pipe.embedder is not None


class ShardSearch:
    """Holds the one :class:`ShardedIndex` of a served directory; searches from many threads."""

    def __init__(self, shards_dir: str, open_options: Dict[str, Any]) -> None:
        from .sharded import ShardedIndex

        self._index = ShardedIndex.open(shards_dir, **open_options)

    def describe(self) -> Tuple[int, int]:
        """(nbits, ntotal)."""
        return self._index.nbits, self._index.ntotal

    def search(self, codes: np.ndarray, k: int) -> Tuple[np.ndarray, np.ndarray]:
        result = self._index.search(codes, k)
        return result.distances, result.ids

    def close(self) -> None:
        self._index.close()


class Searcher:
    """One search replica: encodes texts with the pipeline and searches its index, or the shards."""

    def __init__(self, pipeline_dir: str, shard_actor: Optional[str] = None) -> None:
        # A query with no vocabulary term warns in the pipeline: here it would flood the replica's log.
        warnings.simplefilter("ignore", UserWarning)
        keep_replica_on_loopback()
        self._pipe = load_pipeline(pipeline_dir)
        self._shards = ray.get_actor(shard_actor, namespace=NAMESPACE) if shard_actor else None

    async def info(self) -> Dict[str, Any]:
        """This replica's process id (tests and benchmarks find replicas by it), nbits and ntotal."""
        ntotal = self._pipe.ntotal if self._shards is None else (await self._shards.describe.remote())[1]
        return {"pid": os.getpid(), "nbits": self._pipe.nbits, "ntotal": int(ntotal)}

    async def search(self, query: Query) -> Dict[str, Any]:
        """The answer to a checked query, as :meth:`HashingPipeline.search` (or ``search_codes``) returns it."""
        if self._shards is None:
            if query.texts is not None:
                result = self._pipe.search(query.texts, query.k)
            else:
                result = self._pipe.search_codes(query.codes, query.k)
            return answer(result.distances, result.ids, result.keys)
        codes = self._pipe.encode(query.texts) if query.texts is not None else query.codes
        distances, ids = await self._shards.search.remote(codes, query.k)
        # A sharded index stores no keys: each id's key is the id as text, as HashingPipeline.attach_index gives.
        keys = [[str(i) if i >= 0 else None for i in row] for row in ids.tolist()]
        return answer(distances, ids, keys)


class HTTPFront:
    """The HTTP ingress: ``POST /search`` and ``GET /healthz``, every answer JSON."""

    def __init__(self, searcher: Any, limits: Limits, retries: int) -> None:
        keep_replica_on_loopback()
        self._searcher, self._limits, self._retries = searcher, limits, retries

    async def __call__(self, request: Any) -> Any:
        from starlette.responses import JSONResponse

        route = request.url.path.rstrip("/") or "/"
        try:
            if route == "/healthz":
                _allow(request, "GET")
                info = await self._call("info")
                return JSONResponse({"status": "ok", "nbits": info["nbits"], "ntotal": info["ntotal"]})
            if route == "/search":
                _allow(request, "POST")
                query = parse_search(await _read_body(request, self._limits.max_body_bytes), self._limits)
                return JSONResponse(await self._call("search", query))
            raise RequestError("path", f"no endpoint {route!r}: the endpoints are POST /search and GET /healthz", 404)
        except RequestError as exc:
            headers = {"Allow": exc.allow} if exc.allow else None
            return JSONResponse(exc.body(), status_code=exc.status, headers=headers)
        except (RayActorError, ShardUnavailableError) as exc:  # every retry met a dead replica, or a shard is down
            return JSONResponse({"error": f"unavailable: {_one_line(exc)}", "field": None}, 503)
        except Exception as exc:  # a bug, not the request: logged, and still answered as JSON
            logger.exception("search failed")
            return JSONResponse({"error": f"internal error: {_one_line(exc)}", "field": None}, 500)

    async def _call(self, method: str, *args: Any) -> Any:
        """``searcher.method(*args)``, sent again when the replica holding it died (a read: safe to repeat)."""
        for attempt in range(self._retries + 1):
            try:
                return await getattr(self._searcher, method).remote(*args)
            except RayActorError:
                if attempt == self._retries:
                    raise
                await asyncio.sleep(min(0.05 * 2 ** attempt, 1.0))


def _allow(request: Any, method: str) -> None:
    if request.method != method:
        raise RequestError("method", f"{request.url.path} takes {method}, got {request.method}", 405, allow=method)


async def _read_body(request: Any, limit: int) -> bytes:
    """The body, refused (413) as soon as it passes ``limit`` bytes: a huge upload is never held."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise RequestError("body", f"the request body has {declared} bytes, more than {limit}", 413)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise RequestError("body", f"the request body has more than {limit} bytes", 413)
        chunks.append(chunk)
    return b"".join(chunks)


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300] or type(exc).__name__
