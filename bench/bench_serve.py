"""Load test of ``nash-index serve`` (Ray Serve over HTTP, loopback) with a real HTTP client.

A saved pipeline (``--docs`` generated documents, TF-IDF + PCA-ITQ, ``--nbits`` bits, flat index) is
served with 1..N search replicas; client threads (``requests`` sessions, keep-alive) send searches
without pause for ``--duration`` seconds per cell: one text per request (the server encodes it) or
one packed code (no encoding), or ``--batch`` texts. Reported per cell: requests/s, per-request p50 / p99 latency, failed
requests and answers that differ from the in-process pipeline's (every answer is checked). The
reference is the in-process ``HashingPipeline.search`` of one text, measured in the same run.

Then the fault run: ``max(--replicas)`` replicas (at least 2) under ``--kill-clients`` clients; one
search replica is SIGKILLed halfway through ``--kill-duration``. Reported: failed requests (the
target: 0), latency before / in the 2 s after the kill / after, the slowest request, and the seconds
until Serve has the replica back.

    python bench/bench_serve.py                              # about 8 minutes on 2 cores
    python bench/bench_serve.py --quick                      # a smoke run
    python bench/bench_serve.py --out bench/results          # update the tracked figures

The client threads share the machine with the server: on 2 cores they compete for the same CPUs.
Writes ``<out>/<name>.{json,md}`` (``--out``, default bench/out/).
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

import numpy as np
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ray  # noqa: E402

import harness  # noqa: E402
import nash_index.distributed as distributed  # noqa: E402
from nash_index.distributed.serve_app import start_loopback_ray  # noqa: E402
from nash_index.pipeline import HashingPipeline  # noqa: E402

K = 10
LOOPBACK = "127.0.0.1"


# ------------------------------------------------------------------ the served pipeline
def make_texts(n: int, seed: int) -> List[str]:
    """``n`` documents of 20-60 words drawn from a Zipf vocabulary of 5,000 words with 20 topics."""
    rng = np.random.default_rng(seed)
    words = np.array([f"w{i}" for i in range(5000)])
    ranks = np.arange(1, 5001, dtype=float)
    base = ranks ** -1.1
    topics = [np.roll(base, t * 250) for t in range(20)]
    topics = [p / p.sum() for p in topics]
    texts = []
    for i in range(n):
        p = topics[i % 20]
        texts.append(" ".join(words[rng.choice(5000, size=int(rng.integers(20, 61)), p=p)]))
    return texts


def build_pipeline(path: Path, docs: int, nbits: int, seed: int) -> Tuple[HashingPipeline, List[str]]:
    """The saved pipeline and the query texts (documents not indexed)."""
    texts = make_texts(docs + 256, seed)
    pipe = HashingPipeline(nbits=nbits, hasher="itq", index="flat", verbose=False, seed=seed).fit(texts[:docs])
    pipe.add(texts[:docs], keys=[f"doc-{i}" for i in range(docs)])
    pipe.save(path)
    return pipe, texts[docs:]


def payloads(pipe: HashingPipeline, queries: List[str], batch: int) -> Dict[str, List[Tuple[dict, dict]]]:
    """(request body, expected answer) pairs per request kind: one text, one packed code, ``batch`` texts."""
    def expected(result: Any) -> dict:
        return {"results": [{"ids": i, "distances": d, "keys": list(keys)} for i, d, keys in
                            zip(result.ids.tolist(), result.distances.tolist(), result.keys)]}

    codes = pipe.encode(queries)
    out: Dict[str, List[Tuple[dict, dict]]] = {"text": [], "code": [], f"{batch} texts": []}
    for i, text in enumerate(queries):
        out["text"].append(({"texts": [text], "k": K}, expected(pipe.search([text], K))))
        out["code"].append(({"codes": [codes[i].tolist()], "k": K}, expected(pipe.search_codes(codes[i:i + 1], K))))
        group = [queries[(i + j) % len(queries)] for j in range(batch)]
        out[f"{batch} texts"].append(({"texts": group, "k": K}, expected(pipe.search(group, K))))
    return out


def in_process_reference(pipe: HashingPipeline, queries: List[str], seconds: float) -> Dict[str, Any]:
    """Latency of ``pipe.search`` of one text in this process (no HTTP, no Ray)."""
    times, deadline, i = [], time.perf_counter() + seconds, 0
    while time.perf_counter() < deadline:
        t0 = time.perf_counter()
        pipe.search([queries[i % len(queries)]], K)
        times.append(time.perf_counter() - t0)
        i += 1
    return harness.latency_stats(times, 1)


# ------------------------------------------------------------------ the client
class Load:
    """Client threads sending the pairs' requests without pause; every request's (start, seconds, ok)."""

    def __init__(self, url: str, pairs: List[Tuple[dict, dict]], clients: int) -> None:
        self.url, self.pairs, self.clients = url + "/search", pairs, clients
        self.records: List[Tuple[float, float, bool, bool]] = []  # (start, seconds, answered 200, answer as expected)
        self._lock = threading.Lock()

    def run(self, seconds: float, during: Callable[[], None] = lambda: None) -> None:
        stop = threading.Event()
        threads = [threading.Thread(target=self._client, args=(c, stop)) for c in range(self.clients)]
        for t in threads:
            t.start()
        during()
        stop.wait(seconds)
        stop.set()
        for t in threads:
            t.join()

    def _client(self, worker: int, stop: threading.Event) -> None:
        session, i, mine = requests.Session(), worker, []
        while not stop.is_set():
            body, want = self.pairs[i % len(self.pairs)]
            t0 = time.perf_counter()
            try:
                reply = session.post(self.url, json=body, timeout=60)
                ok, same = reply.status_code == 200, reply.status_code == 200 and reply.json() == want
            except requests.RequestException:
                ok = same = False
            mine.append((t0, time.perf_counter() - t0, ok, same))
            i += self.clients
        with self._lock:
            self.records.extend(mine)

    def stats(self, start: float = -np.inf, end: float = np.inf) -> Dict[str, Any]:
        rows = [r for r in self.records if start <= r[0] < end]
        times = np.array([r[1] for r in rows if r[2]])
        span = (max(r[0] + r[1] for r in rows) - min(r[0] for r in rows)) if rows else 0.0
        return {"requests": len(rows), "failed": sum(not r[2] for r in rows),
                "wrong_answers": sum(r[2] and not r[3] for r in rows),
                "qps": len(rows) / span if span else None,
                "p50_ms": float(np.percentile(times, 50)) * 1e3 if times.size else None,
                "p99_ms": float(np.percentile(times, 99)) * 1e3 if times.size >= 100 else None,
                "max_ms": float(times.max()) * 1e3 if times.size else None}


# ------------------------------------------------------------------ runs
def replica_pids(server: Any, calls: int = 16) -> set:
    handle = server.searcher_handle()
    return {r.result()["pid"] for r in [handle.info.remote() for _ in range(calls)]}


def load_grid(path: Path, pairs: Dict[str, list], replicas: List[int], clients: List[int], seconds: float,
              port: int) -> List[Dict[str, Any]]:
    rows = []
    for r in replicas:
        with distributed.serve(path, LOOPBACK, port, replicas=r) as server:
            for kind, kind_pairs in pairs.items():
                Load(server.url, kind_pairs, 2).run(min(seconds, 1.0))  # warm-up: connections, caches
                for c in clients:
                    load = Load(server.url, kind_pairs, c)
                    load.run(seconds)
                    row = {"replicas": r, "clients": c, "request": kind, **load.stats()}
                    per_request = len(kind_pairs[0][0].get("texts") or kind_pairs[0][0]["codes"])
                    row["queries_per_s"] = row["qps"] * per_request if row["qps"] else None
                    print(f"replicas {r}  clients {c:2d}  {kind:8s}  {row['qps']:7.1f} req/s  p50 {row['p50_ms']:7.2f} ms  "
                          f"p99 {harness.cell(row, 'p99_ms', '%.2f'):>7} ms  failed {row['failed']}  "
                          f"wrong {row['wrong_answers']}", flush=True)
                    rows.append(row)
    return rows


def kill_run(path: Path, pairs: List[tuple], replicas: int, clients: int, seconds: float, port: int) -> Dict[str, Any]:
    """One replica SIGKILLed at ``seconds / 2`` under load; latency around the kill and the time to recover."""
    with distributed.serve(path, LOOPBACK, port, replicas=replicas) as server:
        pids = replica_pids(server)
        load, facts = Load(server.url, pairs, clients), {}

        def kill_midway() -> None:
            def act() -> None:
                time.sleep(seconds / 2)
                facts["victim"], facts["kill_at"] = min(pids), time.perf_counter()
                os.kill(facts["victim"], signal.SIGKILL)
                while True:  # until Serve runs `replicas` replicas again, none of them the killed one
                    now = replica_pids(server, 8)
                    if len(now) == replicas and facts["victim"] not in now:
                        facts["back_after_s"] = time.perf_counter() - facts["kill_at"]
                        return
                    time.sleep(0.2)
            threading.Thread(target=act, daemon=True).start()

        load.run(seconds, kill_midway)
        at = facts["kill_at"]
        report = {"replicas": replicas, "clients": clients, "seconds": seconds, "replicas_before": len(pids),
                  "replica_back_after_s": facts.get("back_after_s"), "all": load.stats(),
                  "before": load.stats(end=at), "kill_to_2s": load.stats(at, at + 2.0), "after_2s": load.stats(start=at + 2.0)}
    return report


# ------------------------------------------------------------------ report
def markdown(report: Dict[str, Any]) -> str:
    ref = report["in_process"]
    lines = ["# Serving over HTTP (Ray Serve, loopback)", "",
             f"`{report['command']}`; {report['docs']} documents, {report['nbits']}-bit PCA-ITQ codes, flat index, "
             f"k = {K}; latencies are per request; {report['machine'].get('cpus')} CPUs shared by the server and the "
             f"client threads (load average {report['machine']['loadavg'][0]:.1f} at the start, "
             f"{report['loadavg_end'][0]:.1f} at the end: a shared machine). "
             f"In-process reference (`pipe.search` of one text, no HTTP): p50 {ref['p50_ms']:.2f} ms, "
             f"{ref['qps']:.0f} q/s. Every answer was compared with the in-process pipeline's.", "",
             "| replicas | clients | request | requests/s | queries/s | p50 ms | p99 ms | failed | wrong answers |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in report["grid"]:
        lines.append(f"| {r['replicas']} | {r['clients']} | {r['request']} | {harness.cell(r, 'qps', '%.1f')} | "
                     f"{harness.cell(r, 'queries_per_s', '%.0f')} | "
                     f"{harness.cell(r, 'p50_ms', '%.2f')} | {harness.cell(r, 'p99_ms', '%.2f')} | {r['failed']} | "
                     f"{r['wrong_answers']} |")
    kill = report["kill"]
    lines += ["", f"## One of {kill['replicas']} replicas SIGKILLed halfway ({kill['clients']} clients, text requests, "
              f"{kill['seconds']:g} s)", "",
              "| window | requests | failed | wrong answers | q/s | p50 ms | p99 ms | max ms |", "|---|---|---|---|---|---|---|---|"]
    for window in ("before", "kill_to_2s", "after_2s", "all"):
        s = kill[window]
        lines.append(f"| {window.replace('_', ' ')} | {s['requests']} | {s['failed']} | {s['wrong_answers']} | "
                     f"{harness.cell(s, 'qps', '%.1f')} | {harness.cell(s, 'p50_ms', '%.2f')} | "
                     f"{harness.cell(s, 'p99_ms', '%.2f')} | {harness.cell(s, 'max_ms', '%.1f')} |")
    back = kill["replica_back_after_s"]
    lines += ["", f"Serve had {kill['replicas']} replicas again {back:.1f} s after the kill." if back is not None
              else "The killed replica was not back before the run ended."]
    return "\n".join(lines)


def main(argv: List[str] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--docs", type=int, default=20_000)
    p.add_argument("--nbits", type=int, default=64)
    p.add_argument("--replicas", type=harness.parse_list, default=[1, 2, 4])
    p.add_argument("--clients", type=harness.parse_list, default=[1, 4, 16])
    p.add_argument("--duration", type=float, default=5.0, help="seconds of load per cell")
    p.add_argument("--batch", type=int, default=32, help="texts per request of the batched requests")
    p.add_argument("--kill-clients", type=int, default=4)
    p.add_argument("--kill-duration", type=float, default=30.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="a smoke run: 2,000 documents, short cells")
    p.add_argument("--name", default="serve")
    p.add_argument("--out", type=Path, default=harness.OUT_DIR, metavar="DIR")
    args = p.parse_args(argv)
    if args.quick:
        args.docs, args.duration, args.kill_duration, args.batch = 2000, 1.5, 6.0, 4
        args.replicas, args.clients = args.replicas[:2], args.clients[:2]
    started = not ray.is_initialized()
    if started:  # one loopback cluster for every configuration (serve would start one per call)
        start_loopback_ray()
    try:
        with tempfile.TemporaryDirectory(prefix="nash_serve_") as tmp:
            path = Path(tmp) / "pipe"
            pipe, queries = build_pipeline(path, args.docs, args.nbits, args.seed)
            pairs = payloads(pipe, queries, args.batch)
            port = int(os.environ.get("NASH_SERVE_BENCH_PORT", "8471"))
            report = {"command": "python bench/bench_serve.py " + " ".join(argv if argv is not None else sys.argv[1:]),
                      "docs": args.docs, "nbits": args.nbits, "machine": harness.machine_info(),
                      "in_process": in_process_reference(pipe, queries, min(args.duration, 3.0)),
                      "grid": load_grid(path, pairs, args.replicas, args.clients, args.duration, port),
                      "kill": kill_run(path, pairs["text"], max(2, *args.replicas), args.kill_clients, args.kill_duration,
                                       port)}
    finally:
        if started:
            ray.shutdown()
    report["loadavg_end"] = list(os.getloadavg())
    harness.write_report(report, args.out, args.name, markdown(report))
    print(markdown(report))
    kill = report["kill"]["all"]
    return 0 if kill["failed"] == 0 and kill["wrong_answers"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
