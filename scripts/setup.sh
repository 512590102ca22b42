#!/usr/bin/env bash
# Creates (or reuses) the local virtualenv and installs nash_index with everything
# the demo, the tests and the benchmarks need. Safe to run again: it only
# rebuilds what changed.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${NASH_INDEX_VENV:-.venv}"
if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating virtualenv $VENV" >&2
  python3 -m venv "$VENV"
fi
PY="$VENV/bin/python"
quiet() { "$@" -q --disable-pip-version-check; }
quiet "$PY" -m pip install --upgrade pip
# torch is pinned: a CPU build of this version is in the machines' package cache,
# while an unpinned torch would download several GB of CUDA wheels.
quiet "$PY" -m pip install "torch==2.13.0"
# Build backend in the venv so that rebuilds are incremental (build/ is kept).
quiet "$PY" -m pip install "scikit-build-core>=0.10" "pybind11>=2.12" ninja
echo "[setup] building and installing nash_index" >&2
# The test-only index kinds (cpp/test_kinds) are compiled here, for the tests; wheels leave them out.
quiet "$PY" -m pip install --no-build-isolation -C cmake.define.NASH_INDEX_TEST_KINDS=ON \
  -e ".[train,test,bench,distributed]"
