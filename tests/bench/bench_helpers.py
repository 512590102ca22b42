"""Helpers of the benchmark-script tests: import the scripts of bench/ and parse JSON strictly (not a
conftest.py: tests/conftest.py is imported as `conftest` by other tests)."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


def strict_json(path: Path) -> Any:
    """The JSON of ``path``, refusing NaN / Infinity (Python's json accepts them; JSON does not)."""
    def refuse(name: str) -> Any:
        raise ValueError(f"{path.name} holds {name}, which is not JSON")
    return json.loads(path.read_text(), parse_constant=refuse)


@pytest.fixture
def bench_module(monkeypatch):
    """``bench_module("bench_flat")``: a fresh import of a script of bench/."""
    monkeypatch.syspath_prepend(str(BENCH))
    loaded = []

    def load(name: str) -> Any:
        sys.modules.pop(name, None)
        loaded.append(name)
        return __import__(name)

    yield load
    for name in loaded:
        sys.modules.pop(name, None)
