#!/usr/bin/env bash
# Builds the C++ core and the _core module with AddressSanitizer + UBSan
# (-DNASH_INDEX_SANITIZE=ON) into build/asan, and runs the index tests against it.
#
#   ./scripts/test_asan.sh [extra pytest args]
#
# The sanitized module is staged in build/asan/stage next to a copy of the Python
# package; a sitecustomize.py there drops the editable install's import redirect, so
# this process and every subprocess of the tests import the sanitized build.
# Python itself is not sanitized: libasan is preloaded and leak checking is off
# (CPython keeps allocations alive until exit by design).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PY="${PYTHON:-$ROOT/.venv/bin/python}"
BUILD="$ROOT/build/asan"
STAGE="$BUILD/stage"

PYBIND11_DIR="$("$PY" -c 'import pybind11; print(pybind11.get_cmake_dir())')"
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DNASH_INDEX_SANITIZE=ON -DNASH_INDEX_TEST_KINDS=ON \
  -DPython_EXECUTABLE="$PY" -Dpybind11_DIR="$PYBIND11_DIR" >/dev/null
cmake --build "$BUILD" --target _core -j "$(nproc)"

rm -rf "$STAGE"
mkdir -p "$STAGE"
cp -r "$ROOT/python/nash_index" "$STAGE/nash_index"
find "$STAGE/nash_index" -name '_core*.so' -delete
cp "$BUILD"/_core*.so "$STAGE/nash_index/index/"
cat > "$STAGE/sitecustomize.py" <<'PYEOF'
import sys
sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != "ScikitBuildRedirectingFinder"]
PYEOF

# every file of tests/index/ (the index layer: FlatIndex, MIH, codes, validation, threads, SIMD)
TESTS=()
for f in "$ROOT"/tests/index/test_*.py; do TESTS+=("index/$(basename "$f")"); done

# (grep without -q reads all of nm's output: no SIGPIPE under pipefail)
nm -D "$STAGE"/nash_index/index/_core*.so | grep __asan_report >/dev/null || { echo "module is not instrumented" >&2; exit 1; }

cd "$ROOT/tests"
export LD_PRELOAD="$(gcc -print-file-name=libasan.so) $(gcc -print-file-name=libubsan.so)"
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:strict_init_order=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export PYTHONPATH="$STAGE"
export NASH_INDEX_ASAN=1  # tests that libasan itself cannot run (see their skip reasons)
# Refuse to report a clean run that did not use the sanitized module.
"$PY" -c "import nash_index.index._core as c, sys; sys.exit(0 if c.__file__.startswith('$STAGE/') else 'not the sanitized module: ' + c.__file__)"
"$PY" -m pytest -q -p no:cacheprovider --rootdir="$ROOT" "${TESTS[@]}" "$@"
