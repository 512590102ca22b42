"""Sending one call to every shard actor and collecting the answers, or a clear error.

Two paths: ordinary actor calls (the default; any size; Ray retries a call whose actor died, once
it restarts), and, opt-in (``fast_search=True``), a Ray compiled graph over the shards' ``search``
for small query batches, which moves queries and answers through shared-memory channels instead of
the task scheduler. The compiled graph cuts Ray's cost per query by about two thirds, but its
channels are polled: the caller spins while it waits, and every shard actor spins while idle (about
60% of a core each, measured on 2 cores), so it suits a node with cores to spare for latency, not
a shared or a throughput-bound one (bench/bench_sharded.py measures both); after FAST_IDLE_S without
a query the graph is torn down, so the polling stops when the queries do. A compiled graph does
not survive the death of one of its actors; the first failure tears it down, the query is answered
by ordinary calls (retried by Ray after the restart), and the graph is compiled again later.
"""
from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import Any, List, Optional, Sequence, Tuple

import numpy as np
import ray
from ray.exceptions import GetTimeoutError, RayActorError, RayError, RayTaskError

__all__ = ["FanOut", "ShardUnavailableError"]

_log = logging.getLogger(__name__)
# Batches up to these sizes take the compiled graph: its channels are sized for them.
FAST_MAX_QUERY_BYTES = 32 * 1024
FAST_MAX_RESULTS = 8192  # nq * k per shard
INLINE_BYTES = 100 * 1024  # larger query arrays are put in the object store once, shared by every shard
RAW_MAX_RESULTS = 65536  # nq * k per shard up to which answers travel as raw bytes (768 KB)
# A compiled search that takes longer than this is abandoned for ordinary calls (a dead actor's
# channel may otherwise never answer); small batches take milliseconds.
FAST_TIMEOUT_S = 30.0
# The compiled graph is torn down after this long without a query, so idle actors stop polling;
# the next small query compiles it again (about 0.1-0.2 s).
FAST_IDLE_S = 2.0


class ShardUnavailableError(RuntimeError):
    """A shard actor died and could not answer (its restarts or retries ran out, or it cannot reopen its files)."""


class FanOut:
    """Calls on the shards' writers (``call``, ``call_each``, ``broadcast``), reads spread over
    their replicas (``read``, ``search``), and changes forwarded to the replicas (``forward``)."""

    def __init__(self, replicas: Any, timeout_s: Optional[float], fast: bool) -> None:
        self.replicas = replicas
        self.timeout_s = timeout_s
        self.fast = fast and replicas.count == 1  # the compiled graph is over the writers only
        self._graph: Any = None
        self._graph_broken = False
        self._graph_lock = threading.Lock()  # one compiled execution at a time
        self._last_fast = 0.0
        self._idle_timer: Optional[threading.Timer] = None

    @property
    def actors(self) -> List[Any]:
        """Each shard's writer, in shard order."""
        return [group[0] for group in self.replicas.groups]

    # -- ordinary calls --------------------------------------------------------------------------
    def read(self, method: str, *args: Any, shards: Optional[Sequence[int]] = None) -> List[Any]:
        """A read: on the writers without replicas, else spread over each shard's replicas."""
        if self.replicas.count == 1:
            return self.call(method, *args, shards=shards)
        shards = range(len(self.actors)) if shards is None else shards
        try:
            return self.replicas.read(method, args, list(shards), self.timeout_s)
        except RayTaskError as exc:
            raise shard_error(exc) from None

    def forward(self, method: str, calls: Sequence[Tuple[int, tuple]]) -> None:
        """A change the writers acknowledged, applied to every read replica of those shards."""
        if self.replicas.count > 1 and calls:
            self.replicas.forward(method, calls, self.timeout_s)

    def call(self, method: str, *args: Any, shards: Optional[Sequence[int]] = None) -> List[Any]:
        """``method(*args)`` on the given shards (all by default); their answers in that order."""
        shards = range(len(self.actors)) if shards is None else shards
        refs = [getattr(self.actors[s], method).remote(*args) for s in shards]
        return self.collect(refs, shards, method)

    def call_each(self, method: str, args_per_shard: Sequence[Tuple[int, tuple]]) -> List[Any]:
        """``method(*args)`` on each (shard, args) pair; answers or exceptions, in that order."""
        refs = [getattr(self.actors[s], method).remote(*args) for s, args in args_per_shard]
        out: List[Any] = []
        for (shard, _), ref in zip(args_per_shard, refs):
            try:
                out.append(self.collect([ref], [shard], method)[0])
            except Exception as exc:  # the caller undoes the others' work, then raises
                out.append(exc)
        return out

    def collect(self, refs: List[Any], shards: Sequence[int], method: str) -> List[Any]:
        try:
            return ray.get(refs, timeout=self.timeout_s)
        except GetTimeoutError:
            for ref in refs:
                ray.cancel(ref)
            raise TimeoutError(f"shards did not answer {method} within timeout_s={self.timeout_s}") from None
        except RayActorError as exc:
            shard = _failed_shard(refs, shards)
            raise ShardUnavailableError(f"shard {shard} could not answer {method}: its actor died and did not "
                                        f"come back ({exc.__class__.__name__}); no partial answer is returned") from exc
        except RayTaskError as exc:
            raise shard_error(exc) from None

    def broadcast(self, method: str, *args: Any, read: bool = False) -> List[Any]:
        """The same call on every shard, with large arrays put in the object store once."""
        args = tuple(ray.put(a) if isinstance(a, np.ndarray) and a.nbytes > INLINE_BYTES else a for a in args)
        return self.read(method, *args) if read else self.call(method, *args)

    # -- the compiled path -----------------------------------------------------------------------
    def search(self, queries: np.ndarray, k: int, num_threads: Optional[int]) -> List[Tuple[np.ndarray, np.ndarray]]:
        if self._fast_fits(queries, k, num_threads):
            with self._graph_lock:
                parts = self._compiled_search(queries, k)
                self._last_fast = time.monotonic()
                self._arm_idle_teardown()
            if parts is not None:
                return parts
        nq = queries.shape[0]
        if queries.nbytes <= INLINE_BYTES and nq * k <= RAW_MAX_RESULTS:
            answers = self.read("search_raw", queries.tobytes(), nq, k, num_threads)
            return [_from_raw(raw, nq, k) for raw in answers]
        return self.broadcast("search", queries, k, num_threads, read=True)

    def _fast_fits(self, queries: np.ndarray, k: int, num_threads: Optional[int]) -> bool:
        return (self.fast and num_threads is None and queries.nbytes <= FAST_MAX_QUERY_BYTES
                and queries.shape[0] * k <= FAST_MAX_RESULTS)

    def _compiled_search(self, queries: np.ndarray, k: int) -> Optional[List[Tuple[np.ndarray, np.ndarray]]]:
        graph = self._compiled()
        if graph is None:
            return None
        try:
            return list(ray.get(graph.execute((queries, k)), timeout=FAST_TIMEOUT_S))
        except RayTaskError as exc:
            cause = getattr(exc, "cause", None)
            if isinstance(cause, BaseException) and not isinstance(cause, RayError):  # the shard's own
                raise shard_error(exc) from None  # error (bad input): the answer
            self._fall_back(exc)
            return None
        except Exception as exc:  # an actor died, a channel closed: fall back, compile again later
            self._fall_back(exc)
            return None

    def _fall_back(self, exc: BaseException) -> None:
        _log.info("compiled search failed (%s); answering by ordinary calls", exc)
        self.teardown()

    def _compiled(self) -> Any:
        if self._graph is None and not self._graph_broken:
            try:
                from ray.dag import InputNode, MultiOutputNode
                with InputNode() as request:
                    dag = MultiOutputNode([actor.search_packed.bind(request) for actor in self.actors])
                self._graph = dag.experimental_compile()
            except Exception as exc:  # e.g. a Ray client connection: ordinary calls only
                _log.info("compiled search unavailable (%s)", exc)
                self._graph_broken = True
        return self._graph

    def _arm_idle_teardown(self) -> None:
        if self._idle_timer is None and self._graph is not None:
            self._idle_timer = threading.Timer(FAST_IDLE_S, self._teardown_if_idle)
            self._idle_timer.daemon = True
            self._idle_timer.start()

    def _teardown_if_idle(self) -> None:
        with self._graph_lock:
            self._idle_timer = None
            if time.monotonic() - self._last_fast >= FAST_IDLE_S:
                self.teardown()
            else:  # queries came meanwhile: look again when this one's idle time is up
                self._arm_idle_teardown()

    def teardown(self) -> None:
        timer, self._idle_timer = self._idle_timer, None
        if timer is not None:
            timer.cancel()
        graph, self._graph = self._graph, None
        if graph is not None:
            with contextlib.suppress(Exception):
                graph.teardown()


def _from_raw(raw: bytes, nq: int, k: int) -> Tuple[np.ndarray, np.ndarray]:
    buffer = bytearray(raw)  # writable results, as the local indexes return
    distances = np.frombuffer(buffer, dtype=np.int32, count=nq * k).reshape(nq, k)
    ids = np.frombuffer(buffer, dtype=np.int64, offset=4 * nq * k).reshape(nq, k)
    return distances, ids


def _failed_shard(refs: List[Any], shards: Sequence[int]) -> Any:
    for ref, shard in zip(refs, shards):
        try:
            ray.get(ref, timeout=0)
        except Exception:
            return shard
    return "?"


def shard_error(exc: RayTaskError) -> BaseException:
    """The shard's own exception (a ValueError for a duplicate id, ...), without Ray's wrapping;
    a task error without one (a worker crash) becomes ShardUnavailableError with it as the cause."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, BaseException) and not isinstance(cause, RayError):
        cause.__traceback__ = None  # the actor's frames: the message says what went wrong
        return cause
    error = ShardUnavailableError(f"a shard failed: {str(exc).strip().splitlines()[-1] if str(exc).strip() else exc!r}")
    error.__cause__ = exc
    return error
