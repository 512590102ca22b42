#!/usr/bin/env bash
# Sets up the virtualenv (scripts/setup.sh), checks the structure (ruff: lint and import order;
# import-linter: the package's layers, no import cycles, torch only in models), builds the
# documentation site with warnings as errors (into a temporary folder) and runs the whole test
# suite. Extra arguments go to pytest, e.g. scripts/test.sh -k flat -x
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
PY="${NASH_INDEX_VENV:-.venv}/bin/python"
echo "[test] ruff" >&2
"$PY" -m ruff check python tests bench
echo "[test] import-linter" >&2
"${NASH_INDEX_VENV:-.venv}/bin/lint-imports" --no-cache
echo "[test] mkdocs build --strict" >&2
SITE="$(mktemp -d)"
trap 'rm -rf "$SITE"' EXIT
"$PY" -m mkdocs build --strict --quiet --site-dir "$SITE"
rm -rf "$SITE"
trap - EXIT
exec "$PY" -m pytest "$@"
