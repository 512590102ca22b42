"""Process-wide settings of the C++ core: SIMD level and thread pool."""
from __future__ import annotations

from . import _core
from .validation import check_choice, check_num_threads

__all__ = ["simd_level", "detected_simd_level", "set_simd_level", "get_num_threads", "set_num_threads"]

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
