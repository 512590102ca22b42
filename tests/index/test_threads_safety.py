"""The library's thread pool under concurrent resizes, running searches and fork (issue #12).

Each scenario runs in a fresh interpreter: a crash (std::terminate, SIGSEGV) or a hang then fails
the test by its exit status or timeout instead of killing pytest.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

import nash_index as ni

# Shared by the scripts: an index of each kind with results computed before any churn.
SETUP = """
import os, sys, threading
import numpy as np
import nash_index as ni
from nash_index.index import synthetic

db = synthetic.clustered_codes(30000, 128, centres=8, flip=0.08, seed=1)
queries = [synthetic.clustered_codes(nq, 128, centres=db[:8], flip=0.08, seed=2 + nq) for nq in (1, 3, 40, 200)]
indexes = [ni.FlatIndex(128), ni.MultiIndexHashing(128)]
for index in indexes:
    index.add(db)
expected = [[index.search(q, 10) for q in queries] for index in indexes]

def check(i, j, threads=None):
    got = indexes[i].search(queries[j], 10, num_threads=threads)
    want = expected[i][j]
    if not (np.array_equal(got.ids, want.ids) and np.array_equal(got.distances, want.distances)):
        raise AssertionError(f"index {i} batch {j}: wrong result")
"""


def run_script(body: str, timeout: float = 120, prelude: str = "") -> None:
    """Runs SETUP + prelude + body in a new interpreter; fails on a non-zero exit, a signal or a timeout."""
    code = SETUP + prelude + textwrap.dedent(body)
    try:
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"hung for more than {timeout} s")
    assert proc.returncode == 0, f"exit status {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    assert "OK" in proc.stdout


def test_concurrent_set_num_threads_does_not_crash():
    run_script("""
    def churn(offset):
        for i in range(2000):
            ni.set_num_threads(1 + (i + offset) % 4)
    ts = [threading.Thread(target=churn, args=(o,)) for o in (0, 1)]
    for t in ts: t.start()
    for t in ts: t.join()
    ni.set_num_threads(3)
    assert ni.get_num_threads() == 3
    for i in range(2):
        for j in range(len(queries)):
            check(i, j)
    print("OK")
    """)


def test_resize_while_searching_keeps_every_answer():
    run_script("""
    stop = threading.Event()
    errors, done = [], [0]

    def search(t):
        try:
            while not stop.is_set():
                for i in range(2):
                    for j in range(len(queries)):
                        check(i, j, threads=None if t % 2 else 1 + t)
                done[0] += 1
        except BaseException as e:
            errors.append(repr(e))

    ts = [threading.Thread(target=search, args=(t,)) for t in range(4)]
    for t in ts: t.start()
    for i in range(1000):
        ni.set_num_threads(1 + i % 5)
    stop.set()
    for t in ts: t.join()
    assert not errors, errors
    assert done[0] > 0
    print("OK")
    """, timeout=240)


FORK_CHILD = """
def child_work():
    for i in range(2):
        for j in range(len(queries)):
            check(i, j)
    ni.set_num_threads(3)
    assert ni.get_num_threads() == 3, ni.get_num_threads()
    for i in range(2):
        for j in range(len(queries)):
            check(i, j)
            check(i, j, threads=2)
    ni.set_num_threads(1)
    check(0, 2)
    return True
"""


def test_fork_child_uses_and_resizes_the_pool():
    run_script(prelude=FORK_CHILD, body="""
    ni.set_num_threads(4)
    check(0, 3); check(1, 3)  # the pool has run jobs before the fork
    pid = os.fork()
    if pid == 0:
        try:
            assert ni.get_num_threads() == 4
            ok = child_work()
        except BaseException as e:
            print("child failed:", repr(e), flush=True)
            ok = False
        os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
    check(0, 3)  # the parent's pool still works
    ni.set_num_threads(2)
    check(1, 2)
    print("OK")
    """, timeout=120)


def test_multiprocessing_fork_context_after_pool_use():
    run_script(prelude=FORK_CHILD, body="""
    import multiprocessing as mp
    check(0, 3); check(1, 0)
    ctx = mp.get_context("fork")
    with ctx.Pool(2) as pool:
        results = [pool.apply_async(child_work) for _ in range(4)]
        assert all(r.get(timeout=60) for r in results)
    print("OK")
    """, timeout=120)


@pytest.mark.skipif(bool(os.environ.get("NASH_INDEX_ASAN")), reason=(
    "under scripts/test_asan.sh the child can deadlock inside libasan's allocator, whose lock another "
    "parent thread held at fork (GCC 12's ASan does not take it across fork; seen with gdb): not a "
    "nash_index lock. The test runs in the normal suite."))
def test_fork_during_resizes_and_searches():
    # The fork handlers take the pool's locks: a child forked mid-resize or mid-job still gets a
    # consistent pool. Flat index only: MIH's own scratch lock is not fork-aware.
    run_script(prelude=FORK_CHILD, body="""
    stop = threading.Event()
    def churn():
        i = 0
        while not stop.is_set():
            ni.set_num_threads(1 + i % 4); i += 1
    def search():
        while not stop.is_set():
            check(0, 1); check(0, 3)
    ts = [threading.Thread(target=churn), threading.Thread(target=search)]
    for t in ts: t.start()
    try:
        for _ in range(10):
            pid = os.fork()
            if pid == 0:
                try:
                    ni.set_num_threads(2); check(0, 3); check(0, 0); ok = ni.get_num_threads() == 2
                except BaseException:
                    ok = False
                os._exit(0 if ok else 1)
            _, status = os.waitpid(pid, 0)
            assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
    finally:
        stop.set()
        for t in ts: t.join()
    print("OK")
    """, timeout=180)


@pytest.mark.parametrize("bad", [0, 1025, 2**31, 2**64, -1])
def test_set_num_threads_bounds(bad):
    before = ni.get_num_threads()
    with pytest.raises(ValueError, match="num_threads must be between 1 and 1024"):
        ni.set_num_threads(bad)
    assert ni.get_num_threads() == before
