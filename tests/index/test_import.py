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
        "names = ['FlatIndex', 'MultiIndexHashing', 'make_index', 'load', 'pack_bits', 'unpack_bits',\n"
        "         'simd_level', 'set_simd_level', 'get_num_threads', 'set_num_threads', 'SearchResult',\n"
        "         'RangeSearchResult', 'HashingPipeline', '__version__']\n"
        "print(all(hasattr(ni, n) for n in names), ni.simd_level() in ('scalar', 'popcnt', 'avx2', 'avx512'))"
    )
    assert _run(code) == "True True"


def test_layers_reexport_the_same_objects():
    code = (
        "import sys, nash_index as ni\n"
        "from nash_index import index, version\n"
        "from nash_index.index import _core\n"
        "from nash_index.pipeline import HashingPipeline\n"
        "same = (ni.FlatIndex is index.FlatIndex and ni.make_index is index.make_index and ni.load is index.load\n"
        "        and ni.HashingPipeline is HashingPipeline and ni.__version__ == version.__version__)\n"
        "print(same, _core.__name__, 'torch' in sys.modules)"
    )
    assert _run(code) == "True nash_index.index._core False"
