#!/usr/bin/env bash
# Tests what scripts/build_wheel.sh put in dist/, as a user would get it:
#   wheel: installed into a fresh virtualenv with no compiler reachable (compilers and CMake shadowed
#          on PATH, CC/CXX=/bin/false, pip --only-binary :all:), then the test suite runs against the
#          installed package from a copy of tests/ (no python/ or build tree beside it), then the index
#          tests again with the SIMD level forced down (NASH_INDEX_SIMD=popcnt, then scalar), as on a
#          CPU without AVX2 or POPCNT, and first avx2 on an AVX-512 machine;
#   sdist: built and installed by pip into another fresh virtualenv (that needs the compiler), then
#          the test suite from the sdist's own copy of tests/.
# Usage: scripts/check_wheel.sh [--wheel | --sdist] [--extras LIST] [--simd-tests PATHS] [-- PYTEST ARGS (default: tests)]
#   --extras: what to install beside the package (default train,test,bench,distributed,faiss: the
#   whole suite runs; with fewer, the tests that need the rest are skipped);
#   --simd-tests: the tests run again at each forced SIMD level (default tests/index).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
CHECK_WHEEL=1 CHECK_SDIST=1
EXTRAS=train,test,bench,distributed,faiss
PYTEST_ARGS=()
SIMD_TESTS=tests/index
while [ $# -gt 0 ]; do
  case "$1" in
    --wheel) CHECK_SDIST=0 ;;
    --sdist) CHECK_WHEEL=0 ;;
    --extras) EXTRAS=$2; shift ;;
    --simd-tests) SIMD_TESTS=$2; shift ;;
    --) shift; PYTEST_ARGS=("$@"); break ;;
    *) echo "usage: $0 [--wheel | --sdist] [--extras LIST] [--simd-tests PATHS] [-- PYTEST ARGS]" >&2; exit 2 ;;
  esac
  shift
done
[ ${#PYTEST_ARGS[@]} -gt 0 ] || PYTEST_ARGS=(tests)

VERSION=$(python3 -c "import re; print(re.search(r'__version__\s*=\s*\"([^\"]+)\"', open('python/nash_index/version.py').read())[1])")
shopt -s nullglob
WHEELS=(dist/nash_index-"$VERSION"-*manylinux*.whl)
SDIST=dist/nash_index-$VERSION.tar.gz
WORK=$(mktemp -d "${TMPDIR:-/tmp}/nash_index_check.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
# The real corpora, when they are beside the clone (as scripts/test.sh finds them).
if [ -z "${NASH_INDEX_DATA:-}" ] && [ -d "$REPO/../shared/data" ]; then export NASH_INDEX_DATA="$REPO/../shared/data"; fi

say() { echo "[check_wheel] $*" >&2; }
now() { date +%s.%N; }
elapsed() { python3 -c "print(f'{$(now) - $1:.1f}')"; }

# A fresh virtualenv with the pinned CPU torch (as scripts/setup.sh: an unpinned torch would pull CUDA wheels).
new_venv() {
  python3 -m venv "$1"
  "$1/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
  case ",$EXTRAS," in *,train,*) "$1/bin/python" -m pip install -q --disable-pip-version-check "torch==2.13.0" ;; esac
}

# tests/, bench/ (the bench tests run its scripts), README.md and docs/ + mkdocs.yml (their code
# blocks are tests) and pyproject.toml (pytest's settings) from $1, without the package sources.
copy_tests() {
  mkdir -p "$2"
  cp -r "$1/tests" "$1/bench" "$1/docs" "$1/mkdocs.yml" "$1/README.md" "$1/pyproject.toml" "$2/"
  find "$2" -name __pycache__ -prune -exec rm -rf {} +
}

# Where the package was imported from, and its metadata: pip show must list what a user looks for.
check_installed() {
  (cd "$WORK" && "$1/bin/python" - "$1" <<'EOF'
import sys
from importlib import metadata
from pathlib import Path

import nash_index
from nash_index.index import _core

venv = Path(sys.argv[1]).resolve()
for module in (nash_index, _core):
    where = Path(module.__file__).resolve()
    assert venv in where.parents and "site-packages" in where.parts, f"{module.__name__} imported from {where}, not the venv"
meta = metadata.metadata("nash_index")
missing = [f for f in ("License", "Project-URL", "Classifier", "Requires-Python", "Provides-Extra", "Description-Content-Type")
           if not meta.get_all(f)]
assert not missing, f"metadata lacks {missing}"
assert len(meta.get_payload() or "") > 1000, "the long description (README) is missing"
print(f"[check_wheel] nash_index {nash_index.__version__} from {Path(nash_index.__file__).parent}; SIMD {nash_index.simd_level()}; "
      f"kinds {', '.join(nash_index.registered_kinds())}; extras {', '.join(meta.get_all('Provides-Extra'))}", file=sys.stderr)
EOF
  )
}

run_suite() {  # venv, tests folder, label
  say "$3: pytest ${PYTEST_ARGS[*]}"
  (cd "$2" && "$1/bin/python" -m pytest -p no:cacheprovider -q "${PYTEST_ARGS[@]}")
}

if [ "$CHECK_WHEEL" = 1 ]; then
  [ ${#WHEELS[@]} -eq 1 ] || { say "expected one manylinux wheel of $VERSION in dist/ (run scripts/build_wheel.sh), found ${#WHEELS[@]}"; exit 1; }
  cp "${WHEELS[0]}" "$WORK/"  # a copy: a rebuild meanwhile does not pull it away
  WHEEL=$WORK/$(basename "${WHEELS[0]}")
  VENV=$WORK/venv-wheel
  # No compiler on PATH: each one is shadowed by a script that fails loudly.
  NOCC=$WORK/no-compiler
  mkdir -p "$NOCC"
  for tool in cc c++ gcc g++ clang clang++ cmake ninja make ld x86_64-linux-gnu-gcc x86_64-linux-gnu-g++; do
    printf '#!/bin/sh\necho "no compiler here: $0 $*" >&2\nexit 127\n' > "$NOCC/$tool"
    chmod +x "$NOCC/$tool"
  done
  (
    export PATH="$NOCC:$PATH" CC=/bin/false CXX=/bin/false
    if command -v g++ | grep -qv "^$NOCC"; then say "a compiler is still reachable"; exit 1; fi
    say "wheel: $(basename "$WHEEL") ($(du -k "$WHEEL" | cut -f1) KiB)"
    new_venv "$VENV"
    t0=$(now)
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check --only-binary :all: --no-deps "$WHEEL"
    say "wheel installed (package only, --no-deps) in $(elapsed "$t0") s"
    t0=$(now)
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check --only-binary :all: "$WHEEL[$EXTRAS]"
    say "extras [$EXTRAS] installed in $(elapsed "$t0") s"
    check_installed "$VENV"
    copy_tests "$REPO" "$WORK/wheel-tests"
    run_suite "$VENV" "$WORK/wheel-tests" "wheel"
    # On an AVX-512 machine the AVX2 kernels (what AMD and older Intel run) are forced too.
    levels="popcnt scalar"
    if [ "$("$VENV/bin/python" -c 'import nash_index; print(nash_index.simd_level())')" = avx512 ]; then
      levels="avx2 $levels"
    fi
    for level in $levels; do
      say "wheel: $SIMD_TESTS with NASH_INDEX_SIMD=$level"
      # shellcheck disable=SC2086  # a list of paths
      (cd "$WORK/wheel-tests" && NASH_INDEX_SIMD=$level "$VENV/bin/python" -m pytest -p no:cacheprovider -q $SIMD_TESTS)
    done
  )
  rm -rf "$VENV" "$WORK/wheel-tests"
fi

if [ "$CHECK_SDIST" = 1 ]; then
  [ -f "$SDIST" ] || { say "no $SDIST (run scripts/build_wheel.sh)"; exit 1; }
  VENV=$WORK/venv-sdist
  cp "$SDIST" "$WORK/"
  SDIST=$WORK/$(basename "$SDIST")
  say "sdist: $SDIST ($(du -k "$SDIST" | cut -f1) KiB)"
  new_venv "$VENV"
  t0=$(now)
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check "$SDIST[$EXTRAS]"
  say "sdist built and installed with extras [$EXTRAS] in $(elapsed "$t0") s"
  check_installed "$VENV"
  mkdir -p "$WORK/sdist"
  tar -xzf "$SDIST" -C "$WORK/sdist"
  copy_tests "$WORK/sdist/nash_index-$VERSION" "$WORK/sdist-tests"
  run_suite "$VENV" "$WORK/sdist-tests" "sdist"
fi
say "done"
