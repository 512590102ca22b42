"""Every index kind the core registers, for the tests that must hold for each of them (exactness,
files, shards): "flat", "mih", and the test-only "sorted" (cpp/test_kinds) in builds made by
scripts/setup.sh. A kind added to the core joins these tests without a line here."""
from __future__ import annotations

import pytest

from nash_index.index import registered_kinds

KINDS = registered_kinds()
#: The example kind (cpp/test_kinds/sorted_scan.cpp): a C++ source and header, nothing else.
EXAMPLE_KIND = "sorted"


def require_example_kind() -> None:
    """Skips when the core was built without the test-only kinds (a wheel, not scripts/setup.sh)."""
    if EXAMPLE_KIND not in KINDS:
        pytest.skip("the core was built without NASH_INDEX_TEST_KINDS (run scripts/setup.sh)")
