#!/usr/bin/env bash
# Sets up the virtualenv (scripts/setup.sh) and runs the whole test suite.
# Extra arguments go to pytest, e.g. scripts/test.sh -k flat -x
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
exec "${NASH_INDEX_VENV:-.venv}/bin/python" -m pytest "$@"
