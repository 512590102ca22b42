#!/usr/bin/env bash
# Sets up the virtualenv (scripts/setup.sh), checks the structure (ruff: lint and import order;
# import-linter: the package's layers, no import cycles, torch only in models) and runs the
# whole test suite. Extra arguments go to pytest, e.g. scripts/test.sh -k flat -x
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
PY="${NASH_INDEX_VENV:-.venv}/bin/python"
echo "[test] ruff" >&2
"$PY" -m ruff check python tests bench
echo "[test] import-linter" >&2
"${NASH_INDEX_VENV:-.venv}/bin/lint-imports" --no-cache
exec "$PY" -m pytest "$@"
