"""Serving a saved pipeline over HTTP on Ray Serve: ``POST /search`` and ``GET /healthz``.
(The example is skipped as a doctest: it starts a Ray cluster; ``tests/distributed/test_serve.py`` runs it.)

>>> server = serve("my_index", "127.0.0.1", 8000, replicas=2)  # doctest: +SKIP
>>> requests.post(server.url + "/search", json={"texts": ["parse a date"], "k": 10}).json()  # doctest: +SKIP
{'results': [{'ids': [...], 'distances': [...], 'keys': [...]}]}
>>> server.shutdown()  # doctest: +SKIP

A request holds ``texts`` (a list of strings) or ``codes`` (packed uint8 rows, ``nbits / 8``
integers 0..255 each) and ``k``; the answer is :meth:`HashingPipeline.search`'s (``search_codes``
for codes), row for row, padding included (id -1, distance 2**31 - 1, key null). A bad request gets
a 4xx status and ``{"error": ..., "field": ...}`` naming the field (:mod:`.serve_protocol`).

``replicas`` search replicas share the load behind one HTTP front that retries a request whose
replica died (a search is a read), so killing a replica loses no request; Serve starts a new one
(:mod:`.serve_deployments`). With ``shards=DIR`` the pipeline only encodes the queries and one
:class:`ShardedIndex` over ``DIR`` answers them (keys are then the ids as text).

Without a Ray cluster to join, ``serve`` starts a local one bound to the loopback address (its own
processes included, no dashboard) and :meth:`Server.shutdown` stops it again.
"""
from __future__ import annotations

import os
import signal
import threading
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any, Dict, Optional, Union

import ray
from ray import serve as ray_serve
from ray.exceptions import RayError

from ..index.validation import check_int
from .layout import read_manifest
from .serve_deployments import NAMESPACE, HTTPFront, Searcher, ShardSearch, load_pipeline, takes_texts
from .serve_protocol import Limits

__all__ = ["LOOPBACK", "Server", "run_server", "serve", "start_loopback_ray"]

LOOPBACK = "127.0.0.1"
#: How often the front sends a request again when its replica died under it (each wait doubles from 50 ms).
RETRIES = 8
READY_TIMEOUT_S = 120.0
# Serve's controller notices a dead replica at its next health check: check often, so that a killed
# replica is replaced within seconds; stop quickly (a search is short).
SEARCHER_OPTIONS = {"health_check_period_s": 1.0, "health_check_timeout_s": 30.0, "graceful_shutdown_timeout_s": 5.0,
                    "graceful_shutdown_wait_loop_s": 0.2, "max_ongoing_requests": 8}
FRONT_OPTIONS = {"num_replicas": 1, "health_check_period_s": 2.0, "graceful_shutdown_timeout_s": 5.0,
                 "graceful_shutdown_wait_loop_s": 0.2, "max_ongoing_requests": 1000}

PathLike = Union[str, Path]


class Server:
    """A running application: ``url`` (``http://host:port``), ``replicas``, :meth:`shutdown`."""

    def __init__(self, url: str, app_name: str, replicas: int, shard_actor: Any, owns_ray: bool,
                 owns_serve: bool) -> None:
        self.url, self.app_name, self.replicas = url, app_name, replicas
        self._shard_actor, self._owns_ray, self._owns_serve, self._stopped = shard_actor, owns_ray, owns_serve, False

    def searcher_handle(self) -> Any:
        """The Serve handle of the search replicas (``.info.remote()`` answers with the replica's pid)."""
        return ray_serve.get_deployment_handle("Searcher", app_name=self.app_name)

    def shutdown(self) -> None:
        """Stops the application: Serve itself if :func:`serve` started it (else only this application
        is deleted), the sharded index, and the Ray cluster if :func:`serve` connected to it. Safe to
        call twice."""
        if self._stopped:
            return
        self._stopped = True
        try:
            if self._owns_serve:
                ray_serve.shutdown()
            elif self.app_name:
                ray_serve.delete(self.app_name)
            if self._shard_actor is not None:
                try:
                    ray.get(self._shard_actor.close.remote(), timeout=30)
                except (RayError, TimeoutError):  # dead or stuck: killed below all the same
                    pass
                ray.kill(self._shard_actor, no_restart=True)
        finally:
            if self._owns_ray:
                ray.shutdown()

    def __enter__(self) -> "Server":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.shutdown()

    def __repr__(self) -> str:
        return f"Server(url={self.url!r}, replicas={self.replicas}{', stopped' if self._stopped else ''})"


def serve(pipeline: PathLike, host: str = LOOPBACK, port: int = 8000, *, replicas: int = 1,
          shards: Optional[PathLike] = None, address: Optional[str] = None, max_rows: int = 1024,
          max_k: int = 1000, shard_options: Optional[Dict[str, Any]] = None) -> Server:
    """Serves the pipeline saved in directory ``pipeline`` at ``http://host:port``; returns once it answers.

    ``replicas``: search replicas (each maps the pipeline's files). ``shards``: a sharded index
    directory (``encode_to_shards``, ``ShardedIndex.create``) searched instead of the pipeline's own
    index; its nbits must be the pipeline's. ``shard_options``: keyword arguments of
    :meth:`ShardedIndex.open`. ``address``: the Ray cluster to join (as ``ray.init``); None joins
    the cluster this process is connected to, else ``RAY_ADDRESS``'s, else starts a local one bound
    to the loopback address. ``max_rows``, ``max_k``: what one request may ask (a 413/400 beyond).
    Serve runs one HTTP proxy per cluster: ``host`` and ``port`` apply when this call starts Serve;
    on a cluster where Serve already runs, the application joins it at route ``/``.
    """
    replicas = _positive(replicas, "replicas")
    port = check_int(port, "port")
    if not 0 < port < 65536:
        raise ValueError(f"port must be from 1 to 65535, got {port}")
    pipeline_dir, shards_dir = _checked_dirs(pipeline, shards)
    pipe = load_pipeline(str(pipeline_dir))  # a damaged or unusable pipeline fails here, not in a replica
    limits = Limits(pipe.nbits, _positive(max_rows, "max_rows"), _positive(max_k, "max_k"), takes_texts=takes_texts(pipe))
    if shards_dir is not None:
        _check_shards(shards_dir, pipe.nbits)
    elif not pipe.ntotal:
        raise ValueError(f"the pipeline in '{pipeline_dir}' indexes no documents: add some, or serve a sharded index "
                         "with shards=")
    del pipe
    owns_ray = _connect(address)
    owns_serve, shard_actor = not _serve_running(), None
    try:
        app_name = f"nash_index_{uuid.uuid4().hex[:8]}"
        if shards_dir is not None:
            shard_actor = _start_shards(shards_dir, app_name, dict(shard_options or {}))
        ray_serve.start(http_options={"host": host, "port": port}, proxy_location="HeadOnly",
                        logging_config={"log_level": "WARNING"})
        searcher = ray_serve.deployment(Searcher).options(name="Searcher", num_replicas=replicas,
                                                          ray_actor_options={"num_cpus": 0}, **SEARCHER_OPTIONS)
        front = ray_serve.deployment(HTTPFront).options(name="HTTPFront", ray_actor_options={"num_cpus": 0},
                                                        **FRONT_OPTIONS)
        app = front.bind(searcher.bind(str(pipeline_dir), app_name if shard_actor is not None else None), limits, RETRIES)
        ray_serve.run(app, name=app_name, route_prefix="/", blocking=False)
        server = Server(f"http://{_url_host(host)}:{port}", app_name, replicas, shard_actor, owns_ray, owns_serve)
        _wait_healthy(server.url)
        return server
    except BaseException:
        Server("", "", replicas, shard_actor, owns_ray, owns_serve).shutdown()
        raise


def _positive(value: Any, name: str) -> int:
    value = check_int(value, name)
    if value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value}")
    return value


def _checked_dirs(pipeline: PathLike, shards: Optional[PathLike]) -> tuple:
    pipeline_dir = Path(pipeline)
    if not pipeline_dir.is_dir():
        raise FileNotFoundError(f"pipeline: no saved pipeline directory at '{pipeline_dir}'")
    if shards is None:
        return pipeline_dir.resolve(), None
    shards_dir = Path(shards)
    if not (shards_dir / "manifest.json").is_file():
        raise FileNotFoundError(f"shards: no sharded index at '{shards_dir}' (no manifest.json)")
    return pipeline_dir.resolve(), shards_dir.resolve()


def _check_shards(shards_dir: Path, nbits: int) -> None:
    shard_nbits = read_manifest(shards_dir).nbits
    if shard_nbits != nbits:
        raise ValueError(f"shards: the sharded index holds {shard_nbits}-bit codes but the pipeline makes {nbits}-bit codes")


def _connect(address: Optional[str]) -> bool:
    """Joins or starts Ray; True when this process connected (so it disconnects, or stops what it started)."""
    if ray.is_initialized():
        return False
    if address is None and not os.environ.get("RAY_ADDRESS"):
        start_loopback_ray()
    else:
        ray.init(address=address, log_to_driver=False)
    return True


def start_loopback_ray(**init_options: Any) -> None:
    """A new local Ray cluster whose processes all listen on 127.0.0.1 only, without a dashboard.

    ``ray.init(_node_ip_address="127.0.0.1")`` alone is not enough: Ray replaces a loopback node
    address by the host's (so that other nodes could reach it) unless its switch for one-machine
    clusters is off, the default on macOS and Windows. It is turned off while the cluster starts
    (the processes Ray starts inherit it) and restored after.
    """
    from ray._private import ray_constants

    saved_env, saved_flag = os.environ.get(_CLUSTER_SWITCH), ray_constants.ENABLE_RAY_CLUSTER
    os.environ[_CLUSTER_SWITCH], ray_constants.ENABLE_RAY_CLUSTER = "0", False
    try:
        ray.init(address="local", _node_ip_address=LOOPBACK, include_dashboard=False, log_to_driver=False, **init_options)
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = saved_flag
        if saved_env is None:
            os.environ.pop(_CLUSTER_SWITCH, None)
        else:
            os.environ[_CLUSTER_SWITCH] = saved_env


_CLUSTER_SWITCH = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"


def _serve_running() -> bool:
    """True when Serve already runs on the cluster (its controller actor exists)."""
    from ray.serve._private.constants import SERVE_CONTROLLER_NAME, SERVE_NAMESPACE

    try:
        ray.get_actor(SERVE_CONTROLLER_NAME, namespace=SERVE_NAMESPACE)
        return True
    except ValueError:
        return False


def _start_shards(shards_dir: Path, app_name: str, options: Dict[str, Any]) -> Any:
    """The actor holding the sharded index, named for the replicas to find; returns once it is open."""
    actor = ray.remote(ShardSearch).options(name=app_name, namespace=NAMESPACE, num_cpus=0, max_concurrency=16,
                                            max_restarts=-1, max_task_retries=-1)
    handle = actor.remote(str(shards_dir), options)
    ray.get(handle.describe.remote())
    return handle


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", ""):
        return LOOPBACK
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def _wait_healthy(url: str, timeout_s: float = READY_TIMEOUT_S) -> None:
    """Returns once ``GET /healthz`` answers 200 (the proxy listens and a replica has loaded)."""
    deadline, last = time.monotonic() + timeout_s, "no answer"
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=10) as reply:
                if reply.status == 200:
                    return
                last = f"status {reply.status}"
        except OSError as exc:  # not listening yet, or 503 while replicas start (HTTPError is an OSError)
            last = str(exc)
        time.sleep(0.2)
    raise RuntimeError(f"the server at {url} did not become healthy within {timeout_s:g} s ({last})")


def run_server(pipeline: PathLike, host: str = LOOPBACK, port: int = 8000, *, replicas: int = 1,
               shards: Optional[PathLike] = None, address: Optional[str] = None, on_ready: Any = None,
               **options: Any) -> int:
    """:func:`serve`, then blocks until SIGTERM or SIGINT and shuts down cleanly; returns 0 (the CLI's exit status)."""
    stop = threading.Event()
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    for sig in previous:  # installed before Ray starts: a signal while it starts still stops cleanly
        signal.signal(sig, lambda *_: stop.set())
    try:
        if stop.is_set():
            return 0
        server = serve(pipeline, host, port, replicas=replicas, shards=shards, address=address, **options)
        try:
            for sig in previous:  # ray.init may have installed its own handlers
                signal.signal(sig, lambda *_: stop.set())
            (on_ready or _print_now)(f"serving '{pipeline}' at {server.url} ({replicas} search replica{'s' if replicas > 1 else ''}"
                     f"{f', shards {shards}' if shards is not None else ''}): POST /search, GET /healthz; "
                     "Ctrl-C or SIGTERM stops")
            while not stop.wait(0.5):
                pass
        finally:
            server.shutdown()
        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _print_now(line: str) -> None:
    print(line, flush=True)
