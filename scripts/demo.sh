#!/usr/bin/env bash
# Sets up the virtualenv (scripts/setup.sh) and runs the end-to-end demo.
# Extra arguments go to `nash-index demo` (see --help).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
exec "${NASH_INDEX_VENV:-.venv}/bin/python" -m nash_index demo "$@"
