"""`import nash_index` stays light: no torch until a model is asked for."""
from __future__ import annotations

import subprocess
import sys


def _run(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()


def test_import_does_not_import_torch():
    code = (
        "import sys, nash_index, numpy as np\n"
        "idx = nash_index.FlatIndex(64); idx.add(np.zeros((3, 8), np.uint8)); idx.search(np.zeros(8, np.uint8), 2)\n"
        "print('torch' in sys.modules)"
    )
    assert _run(code) == "False"


def test_public_api_present():
    code = (
        "import nash_index as ni\n"
        "names = ['FlatIndex', 'load', 'pack_bits', 'unpack_bits', 'simd_level', 'set_simd_level',\n"
        "         'get_num_threads', 'set_num_threads', 'SearchResult', 'RangeSearchResult']\n"
        "print(all(hasattr(ni, n) for n in names), ni.simd_level() in ('scalar', 'popcnt', 'avx2', 'avx512'))"
    )
    assert _run(code) == "True True"
