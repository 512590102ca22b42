"""The measured hardware bounds of bench_limits: DRAM read bandwidth and the compute bound of a batch scan.

Both come from ``limits_bounds.cpp`` (compiled here with the system C++ compiler into a cache folder
and loaded with ctypes), so the bound is measured on this machine in the same run as the index and faiss.
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Tuple

import numpy as np

SOURCE = Path(__file__).with_name("limits_bounds.cpp")


def _library() -> ctypes.CDLL:
    digest = hashlib.sha256(SOURCE.read_bytes()).hexdigest()[:16]
    folder = Path(os.environ.get("NASH_BENCH_CACHE", tempfile.gettempdir())) / "nash_index_bench"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"limits_bounds_{digest}.so"
    if not path.exists():
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        compiler = os.environ.get("CXX", "c++")
        subprocess.run([compiler, "-O3", "-std=c++17", "-shared", "-fPIC", "-pthread", str(SOURCE), "-o", str(tmp)],
                       check=True)
        os.replace(tmp, path)
    lib = ctypes.CDLL(str(path))
    lib.stream_read_seconds.restype = ctypes.c_double
    lib.stream_read_seconds.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    lib.pair_seconds.restype = ctypes.c_double
    lib.pair_seconds.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_size_t, ctypes.c_int,
                                 ctypes.POINTER(ctypes.c_double)]
    return lib


_LIB = None


def lib() -> ctypes.CDLL:
    global _LIB
    if _LIB is None:
        _LIB = _library()
    return _LIB


def _cpu_flags() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            return f.read()
    except OSError:
        return ""


def has_avx2() -> bool:
    return " avx2" in _cpu_flags()


def has_vpopcntq() -> bool:
    """Whether the CPU counts 8 words a vector instruction (AVX-512 VPOPCNTDQ): the bound then
    includes the loop that uses it."""
    flags = _cpu_flags()
    return " avx512f" in flags and " avx512_vpopcntdq" in flags


def read_seconds(data: np.ndarray, threads: int, repeats: int = 5) -> Tuple[float, float]:
    """(wall, CPU) seconds of one pass of ``threads`` threads streaming ``data``'s bytes, medians of
    ``repeats`` passes: the least a scan of that memory can take. CPU seconds (every thread of the
    process) do not count the time the OS gives the cores to other processes, so their ratio holds
    on a loaded machine."""
    buf = np.ascontiguousarray(data)
    ptr, n = buf.ctypes.data, buf.nbytes
    lib().stream_read_seconds(ptr, n, threads)  # first touch, TLB warm-up
    walls, cpus = [], []
    for _ in range(repeats):
        c0 = time.process_time()
        walls.append(lib().stream_read_seconds(ptr, n, threads))
        cpus.append(time.process_time() - c0)
    return float(np.median(walls)), float(np.median(cpus))


def pair_rate(nbits: int, threads: int, seconds: float = 0.3, repeats: int = 3) -> Tuple[float, float]:
    """(code, query) pairs per wall second and per CPU second (every thread) at the compute bound:
    xor + popcount + compare, codes in L1 and queries in registers, ``threads`` cores, the fastest
    of a scalar (POPCNT), an AVX2 (nibble table) and, where the CPU has it, an AVX-512 VPOPCNTQ
    loop; medians of ``repeats`` timings of at least ``seconds`` each."""
    loops = (0, 1, 2) if has_vpopcntq() else (0, 1)
    return max(_pair_rate(nbits, threads, seconds, repeats, vector) for vector in loops)


def _pair_rate(nbits: int, threads: int, seconds: float, repeats: int, vector: int) -> Tuple[float, float]:
    words, pairs = nbits // 64, ctypes.c_double()
    reps = 16
    while lib().pair_seconds(words, threads, reps, vector, ctypes.byref(pairs)) < seconds / 4:
        reps *= 4
    walls, cpus = [], []
    for _ in range(repeats):
        c0 = time.process_time()
        walls.append(lib().pair_seconds(words, threads, reps * 4, vector, ctypes.byref(pairs)))
        cpus.append(time.process_time() - c0)
    if pairs.value == 0:
        raise ValueError(f"no compute bound for {nbits}-bit codes (64, 128, 256, 512 or 1024)")
    return pairs.value / float(np.median(walls)), pairs.value / float(np.median(cpus))
