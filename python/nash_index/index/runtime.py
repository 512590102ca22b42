"""Process-wide settings of the C++ core: SIMD level, thread pool and search admission."""
from __future__ import annotations

from . import _core
from .validation import check_choice, check_int, check_num_threads

__all__ = ["simd_level", "detected_simd_level", "set_simd_level", "get_num_threads", "set_num_threads",
           "get_search_slots", "set_search_slots"]

SIMD_LEVELS = ("scalar", "popcnt", "avx2", "avx512")


def simd_level() -> str:
    """Kernel level in use: 'scalar', 'popcnt', 'avx2' or 'avx512'.

    Chosen once at import from cpuid; the environment variable NASH_INDEX_SIMD
    (read at import) forces a lower level.
    """
    return _core.simd_level()


def detected_simd_level() -> str:
    """Best level this CPU supports."""
    return _core.detected_simd_level()


def set_simd_level(level: str) -> None:
    """Switches kernels (for tests and benchmarks); ValueError above what the CPU supports."""
    _core.set_simd_level(check_choice(level, SIMD_LEVELS, "level"))


def get_num_threads() -> int:
    """Threads one search may use (the library's pool plus the calling thread)."""
    return int(_core.get_num_threads())


def set_num_threads(num_threads: int) -> None:
    """Resizes the library's thread pool (default: the number of CPUs); 1 <= num_threads <= 1024.

    Safe while other threads search (running jobs finish) or resize; after ``os.fork`` the child
    keeps the size and starts its own workers on first use.
    """
    _core.set_num_threads(check_num_threads(num_threads, allow_none=False))


def get_search_slots() -> int:
    """Searches that compute at once, all indexes and callers together (0, the default: no limit).

    With a limit, a search called while that many run waits, asleep and without the GIL, and
    they enter in arrival order. When many Python threads call ``search`` (a web service), this
    keeps the cores from being time-sliced between them, which also preempts the thread holding
    the GIL: the latency tail shrinks for some throughput. Measured on 2 cores with 16 caller
    threads (``bench/results/limits_callers.md``): twice the CPU count cut the flat scan's p99
    from 48 to 8 ms for 3% of its queries/s, but cost short MIH searches 12%; as many slots as
    CPUs cost more (a freed slot idles while the next search wakes). One search still splits its
    own work across the thread pool (``num_threads``).
    """
    return int(_core.get_search_slots())


def set_search_slots(slots: int) -> None:
    """Sets :func:`get_search_slots` (0: no limit, every search enters at once); raising it
    admits waiting searches at once."""
    slots = check_int(slots, "slots")
    if slots < 0:
        raise ValueError(f"slots must be >= 0 (0: no limit), got {slots}")
    _core.set_search_slots(slots)
