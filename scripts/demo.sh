#!/usr/bin/env bash
# Sets up the virtualenv (scripts/setup.sh) and runs the end-to-end demo: NASH at 32 and 64 bits
# (trained side by side, one process each) beside PCA-ITQ, LSH and exact cosine.
# Extra arguments go to `nash-index demo` (see --help), e.g. --full for 16, 32, 64 and 128 bits.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
exec "${NASH_INDEX_VENV:-.venv}/bin/python" -m nash_index demo "$@"
