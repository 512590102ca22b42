"""Ray for the distributed tests: one local cluster, started on first use and shared by the session.

A test that needs a different cluster (the simulated multi-node one) shuts this one down; the next
test that asks for ``ray_local`` starts it again.
"""
from __future__ import annotations

import pytest

ray = pytest.importorskip("ray", reason="nash_index[distributed] (Ray) is not installed")

LOCAL_CPUS = 2  # CI's machine: shards share two CPUs, as they would on a small node


@pytest.fixture
def ray_local():
    if not ray.is_initialized():
        ray.init(num_cpus=LOCAL_CPUS, include_dashboard=False, log_to_driver=False,
                 configure_logging=False)
    yield ray


def pytest_sessionfinish(session, exitstatus):
    if ray.is_initialized():
        ray.shutdown()
