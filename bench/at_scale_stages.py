"""Stages of the at-scale benchmarks: wall time, throughput and peak resident memory of each, and
a progress line per stage (readable in a log).

Peak RSS per stage: Linux keeps one high-water mark per process (``VmHWM``); writing ``5`` to
``/proc/self/clear_refs`` resets it to the current RSS, so each stage starts its own mark. Where that
is refused (old kernels, some sandboxes) the mark is the process's peak so far, and the record says
so. Work done in other processes (Ray's workers) is measured by :class:`ProcessTreeMemory`: the
largest ``VmHWM`` of any descendant and the largest sampled sum of their RSS.
"""
from __future__ import annotations

import os
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

GIB = float(1 << 30)


def log(message: str) -> None:
    """One progress line on stderr with the UTC time, flushed (a log of the run)."""
    sys.stderr.write(f"[{time.strftime('%H:%M:%S', time.gmtime())}] {message}\n")
    sys.stderr.flush()


def _status_kib(pid: str, key: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:  # the process ended meanwhile
        pass
    return 0


def reset_peak_rss() -> bool:
    """Starts a new ``VmHWM`` for this process; False where the kernel refuses."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_rss_gib(pid: str = "self") -> float:
    return _status_kib(pid, "VmHWM") * 1024 / GIB


def rss_gib(pid: str = "self") -> float:
    return _status_kib(pid, "VmRSS") * 1024 / GIB


class Stages:
    """The records of a run's stages, in order: ``with stages.run("encode", docs=n): ...``."""

    def __init__(self) -> None:
        self.records: List[Dict[str, Any]] = []

    @contextmanager
    def run(self, name: str, docs: Optional[int] = None, **extra: Any) -> Iterator[Dict[str, Any]]:
        """Times the block; the yielded record can be filled in (``record["docs"] = n``)."""
        record: Dict[str, Any] = {"stage": name, "docs": docs, **extra}
        record["rss_start_gib"] = round(rss_gib(), 3)
        record["peak_is_stage_own"] = reset_peak_rss()
        log(f"{name}: start (RSS {record['rss_start_gib']:.2f} GiB)")
        t0 = time.perf_counter()
        yield record
        record["seconds"] = round(time.perf_counter() - t0, 3)
        # a stage run in a child has its child's peak; the Ray stage adds its processes' sampled peak
        record["driver_peak_rss_gib"] = round(peak_rss_gib(), 3)
        record.setdefault("peak_rss_gib", round(record["driver_peak_rss_gib"]
                                                + record.get("children_peak_rss_sum_gib", 0.0), 3))
        if record.get("docs"):
            record["docs_per_s"] = round(record["docs"] / max(record["seconds"], 1e-9), 1)
        self.records.append(record)
        rate = f", {record['docs_per_s']:,.0f} docs/s" if record.get("docs_per_s") else ""
        log(f"{name}: done in {record['seconds']:.1f} s{rate}, peak RSS {record['peak_rss_gib']:.2f} GiB")


def _descendants(root: int) -> List[int]:
    """Pids of every process below ``root`` (from /proc: no psutil needed)."""
    children: Dict[int, List[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


class ProcessTreeMemory:
    """Samples the RSS of this process's descendants (Ray's raylet and workers) every
    ``interval`` seconds in a thread; ``stop()`` returns the largest sampled sum and the largest
    ``VmHWM`` of any one of them (read before they exit: call it before ``ray.shutdown``)."""

    def __init__(self, interval: float = 0.5) -> None:
        self.interval, self.peak_sum_kib, self.hwm_kib = interval, 0, {}
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._done.wait(self.interval):
            self._read()

    def _read(self) -> None:
        total = 0
        for pid in _descendants(os.getpid()):
            total += _status_kib(str(pid), "VmRSS")
            self.hwm_kib[pid] = max(self.hwm_kib.get(pid, 0), _status_kib(str(pid), "VmHWM"))
        self.peak_sum_kib = max(self.peak_sum_kib, total)

    def stop(self) -> Dict[str, float]:
        self._done.set()
        self._thread.join()
        self._read()
        return {"children_peak_rss_sum_gib": round(self.peak_sum_kib * 1024 / GIB, 3),
                "child_max_vmhwm_gib": round(max(self.hwm_kib.values(), default=0) * 1024 / GIB, 3),
                "children_seen": len(self.hwm_kib)}
