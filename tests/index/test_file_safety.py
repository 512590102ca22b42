"""Index files under stress: crafted headers, paths that are not files, saves racing each other or
killed midway, a file replaced under a mapping, and the state a round trip must keep (next id).

Anything that could crash or block runs in a child interpreter (``run_child``), so that a
regression fails the test instead of killing or hanging pytest.
"""
from __future__ import annotations

import base64
import copy
import fcntl
import os
import pickle
import signal
import struct
import subprocess
import sys
import threading
import time
import zlib

import numpy as np
import pytest
from test_file_fuzz import HEADER_BYTES, MAGIC, TAG_CODES, TAG_IDS, TAG_MIH_META, TAG_STORE_META, FileImage, build_file, run_child

import nash_index as ni
from conftest import assert_knn_matches, clustered_codes, scrambled_ids, uniform_codes
from nash_index.index.base import from_bytes

KINDS = {"flat": (1, ni.FlatIndex), "mih": (2, ni.MultiIndexHashing)}
MIH_META = struct.pack("<4I", 1, 0, 2, 0)  # version 1, m automatic, 2 substrings in use (64-bit codes)


def crafted(kind: str, ntotal: int, codes: bytes = b"", ids=None, store_meta=None, nbits: int = 64, size: int = 0):
    sections = [(TAG_CODES, codes)]
    if ids is not None:
        sections.append((TAG_IDS, ids))
    if store_meta is not None:
        sections.append((TAG_STORE_META, store_meta))
    if kind == "mih":
        sections.append((TAG_MIH_META, MIH_META if nbits == 64 else struct.pack("<4I", 1, 0, 1, 0)))
    return build_file(KINDS[kind][0], nbits, ntotal, sections, size)


def assert_child_ok(proc: subprocess.CompletedProcess) -> None:
    assert proc.returncode == 0 and proc.stdout.strip().endswith("OK"), \
        f"child exited with {proc.returncode}\nstdout: {proc.stdout[-2000:]}\nstderr: {proc.stderr[-2000:]}"


# ---------------------------------------------------------------- 1. crafted sizes
@pytest.mark.parametrize("kind", ["flat", "mih"])
@pytest.mark.parametrize("with_ids", [False, True])
def test_ntotal_whose_byte_size_wraps_is_refused(tmp_path, kind, with_ids):
    # 2**61 codes of 8 bytes: 2**64 bytes, which wrapped to the 0 bytes of an empty code section.
    path = tmp_path / "wrap.nidx"
    path.write_bytes(crafted(kind, 2**61, ids=b"" if with_ids else None))
    code = f"""
import pickle, nash_index as ni, numpy as np
from nash_index.index.base import from_bytes
from test_file_fuzz import _Pickled
data = open({str(path)!r}, "rb").read()
ways = [lambda m=m, v=v: ni.load({str(path)!r}, mmap=m, verify=v) for m in (False, True) for v in (False, True)]
ways += [lambda: from_bytes(data), lambda: pickle.loads(pickle.dumps(_Pickled(data)))]
for way in ways:
    try:
        index = way()
    except ValueError as exc:
        assert "inconsistent" in str(exc), exc
        continue
    index.search(np.zeros((1, 8), np.uint8), 3)  # crashed here when the load was accepted
    raise SystemExit("accepted a file of 2**61 codes")
print("OK")
"""
    assert_child_ok(run_child(code, timeout=60))


def test_mih_position_limit_is_enforced_at_load(tmp_path):
    # 2**32 one-byte codes: a consistent (sparse) file that MIH's uint32 positions cannot address.
    ntotal, path = 2**32, tmp_path / "big.nidx"
    store_meta, mih_meta = struct.pack("<2Q", 1, ntotal), struct.pack("<4I", 1, 0, 1, 0)
    image = FileImage(bytes(HEADER_BYTES))
    image.header.update(magic=MAGIC, version=1, kind=2, nbits=8, ntotal=ntotal, nsections=3)
    tail = 4096 + ntotal
    image.sections[:3] = [{"tag": tag, "reserved": 0, "offset": offset, "bytes": size, "checksum": 0}
                          for tag, offset, size in ((TAG_CODES, 4096, ntotal), (TAG_STORE_META, tail, 16),
                                                    (TAG_MIH_META, tail + 4096, 16))]
    with open(path, "wb") as f:  # the code block is a hole: the file takes a few pages on disk
        f.write(bytes(image))
        f.seek(tail)
        f.write(store_meta + bytes(4096 - 16) + mih_meta)
    # A build without the check maps the file and allocates 16 GiB of tables: cap the address space.
    limit = "" if "asan" in os.environ.get("LD_PRELOAD", "") else \
        "import resource; resource.setrlimit(resource.RLIMIT_AS, (12 << 30, 12 << 30))\n"
    code = limit + f"""
import nash_index as ni
try:
    ni.load({str(path)!r}, mmap=True, verify=False)
except ValueError as exc:
    assert "at most 4294967295" in str(exc), exc
    print("OK")
"""
    assert_child_ok(run_child(code, timeout=120))


# ---------------------------------------------------------------- 2. paths that are not index files
def test_load_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pipe.nidx"
    os.mkfifo(fifo)
    code = f"""
import nash_index as ni
for mmap in (False, True):
    try:
        ni.load({str(fifo)!r}, mmap=mmap)
    except OSError as exc:
        assert "FIFO" in str(exc), exc
    else:
        raise SystemExit("loaded a FIFO")
print("OK")
"""
    try:
        proc = run_child(code, timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("load() of a FIFO blocked")
    assert_child_ok(proc)


@pytest.mark.parametrize("mmap", [False, True])
def test_load_directory_says_directory(tmp_path, mmap):
    with pytest.raises(OSError, match="is a directory"):
        ni.load(tmp_path, mmap=mmap)


@pytest.mark.parametrize("mmap", [False, True])
def test_load_symlink_loop_says_loop(tmp_path, mmap):
    os.symlink(tmp_path / "b", tmp_path / "a")
    os.symlink(tmp_path / "a", tmp_path / "b")
    with pytest.raises(OSError, match="symbolic link loop"):
        ni.load(tmp_path / "a", mmap=mmap)


def test_load_missing_or_dangling_is_file_not_found(tmp_path):
    os.symlink(tmp_path / "nowhere", tmp_path / "dangling")
    for name in ("missing.nidx", "dangling"):
        with pytest.raises(FileNotFoundError, match="no index file"):
            ni.load(tmp_path / name)


def test_load_device_is_refused():
    with pytest.raises(OSError, match="device"):
        ni.load("/dev/null")


# ---------------------------------------------------------------- 3. a mapped file replaced by save()
@pytest.mark.parametrize("kind", ["flat", "mih"])
def test_save_over_a_mapped_file_leaves_the_mapping_intact(tmp_path, flat_rng, kind):
    cls = KINDS[kind][1]
    path = tmp_path / "m.nidx"
    old_db, new_db = clustered_codes(flat_rng, 300, 64), uniform_codes(flat_rng, 200, 64)
    old, new = cls(64), cls(64)
    old.add(old_db)
    new.add(new_db, scrambled_ids(flat_rng, 200))
    old.save(path)
    mapped = ni.load(path, mmap=True)
    assert mapped.is_mapped
    new.save(path)  # a new file renamed over the mapped one
    old_ids = np.arange(300, dtype=np.int64)
    assert_knn_matches(mapped.search(old_db[:7], 9), old_db, old_ids, old_db[:7], 9)
    reloaded = ni.load(path, mmap=True)
    np.testing.assert_array_equal(reloaded.codes(), new_db)
    np.testing.assert_array_equal(reloaded.ids(), new.ids())
    mapped.save(path)  # the mapped index saved over the file of another mapping
    assert_knn_matches(reloaded.search(new_db[:5], 4), new_db, new.ids(), new_db[:5], 4)
    np.testing.assert_array_equal(ni.load(path).codes(), old_db)
    assert sorted(os.listdir(tmp_path)) == ["m.nidx"]


# ---------------------------------------------------------------- 4. concurrent and interrupted saves
def test_concurrent_saves_to_one_path_last_writer_wins(tmp_path):
    path = tmp_path / "shared.nidx"
    rng = np.random.default_rng(9)
    indexes = []
    for t in range(4):
        index = ni.FlatIndex(128)
        index.add(uniform_codes(rng, 20000 + t, 128), rng.permutation(20000 + t) + t * 10**6)
        indexes.append(index)
    barrier, errors = threading.Barrier(len(indexes)), []

    def saver(index):
        try:
            for _ in range(8):
                barrier.wait()
                index.save(path)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
            barrier.abort()

    threads = [threading.Thread(target=saver, args=(ix,)) for ix in indexes]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    loaded = ni.load(path)
    match = [ix for ix in indexes if ix.ntotal == loaded.ntotal]
    assert len(match) == 1
    np.testing.assert_array_equal(loaded.codes(), match[0].codes())
    np.testing.assert_array_equal(loaded.ids(), match[0].ids())
    assert sorted(os.listdir(tmp_path)) == ["shared.nidx"]


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_stale_temporaries_of_dead_savers_are_removed(tmp_path, flat_rng):
    index = ni.FlatIndex(64)
    index.add(uniform_codes(flat_rng, 50, 64))
    dead, live = _dead_pid(), subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        stale = f".t.nidx.{dead}.tmp-AbC123"
        kept = [f".t.nidx.{os.getpid()}.tmp-XyZ789",  # this process: maybe a save in another thread
                f".t.nidx.{live.pid}.tmp-Live01",      # a live process
                f".t.nidx.{dead}.tmp-Lock01",          # dead pid but locked: a writer in another pid namespace
                f".other.nidx.{dead}.tmp-AbC123",      # another target
                f".t.nidx.{dead}.tmp-toolong1",        # not the pattern
                f"t.nidx.tmp.{dead}"]                  # an older build's name: never guessed at
        for name in [stale, *kept]:
            (tmp_path / name).write_bytes(b"x" * 100)
        with open(tmp_path / kept[2], "rb") as locked:
            fcntl.flock(locked, fcntl.LOCK_EX)
            index.save(tmp_path / "t.nidx")
        assert sorted(os.listdir(tmp_path)) == sorted(["t.nidx", *kept])
        np.testing.assert_array_equal(ni.load(tmp_path / "t.nidx").codes(), index.codes())
    finally:
        live.kill()
        live.wait()


def test_save_killed_midway_leaves_old_or_new_file(tmp_path):
    path = tmp_path / "k.nidx"
    old = ni.FlatIndex(256)
    old.add(uniform_codes(np.random.default_rng(1), 100, 256))
    code = f"""
import numpy as np, nash_index as ni
index = ni.FlatIndex(256)
index.add(np.random.default_rng(2).integers(0, 256, (500000, 32), dtype=np.uint8))
print("ready", flush=True)
while True:
    index.save({str(path)!r})
"""
    for delay in (0.3, 0.45, 0.6):  # until a kill lands mid-write (a temporary is left behind)
        old.save(path)  # also removes what the previous killed save left
        assert sorted(os.listdir(tmp_path)) == ["k.nidx"]
        child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        try:
            assert child.stdout.readline().strip() == "ready"
            time.sleep(delay)
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait()
        loaded = ni.load(path)  # verify=True: a torn file would fail its checksums
        assert loaded.ntotal in (100, 500000)
        if loaded.ntotal == 100:
            np.testing.assert_array_equal(loaded.codes(), old.codes())
        if len(os.listdir(tmp_path)) > 1:
            break
    old.save(path)
    assert sorted(os.listdir(tmp_path)) == ["k.nidx"]


def test_save_to_a_directory_name_is_refused(tmp_path):
    with pytest.raises(OSError, match="not a file name"):
        ni.FlatIndex(8).save(str(tmp_path) + "/")


# ---------------------------------------------------------------- 5. state kept by round trips
def _round_trip(index, how, tmp_path):
    if how.startswith("save"):
        index.save(tmp_path / "r.nidx")
        return ni.load(tmp_path / "r.nidx", mmap=how == "save-mmap")
    return {"pickle": lambda: pickle.loads(pickle.dumps(index)), "deepcopy": lambda: copy.deepcopy(index),
            "copy": lambda: copy.copy(index)}[how]()


ROUND_TRIPS = ["save-read", "save-mmap", "pickle", "deepcopy", "copy"]


@pytest.mark.parametrize("kind", ["flat", "mih"])
@pytest.mark.parametrize("how", ROUND_TRIPS)
@pytest.mark.parametrize("case", ["removed-last", "explicit-ids", "removed-all"])
def test_next_default_id_survives_round_trips(tmp_path, flat_rng, kind, how, case):
    index = KINDS[kind][1](64)
    db = uniform_codes(flat_rng, 12, 64)
    if case == "explicit-ids":
        index.add(db[:2], [5, 100])
        index.remove([100])
    else:
        index.add(db[:10])
        index.remove([9] if case == "removed-last" else list(range(10)))
    clone = _round_trip(index, how, tmp_path)
    for ix in (index, clone):  # the live index and its clone issue the same next ids
        ix.add(db[10:12])
    expected = {"removed-last": [10, 11], "explicit-ids": [101, 102], "removed-all": [10, 11]}[case]
    np.testing.assert_array_equal(index.ids()[-2:], expected)
    np.testing.assert_array_equal(clone.ids(), index.ids())
    assert_knn_matches(clone.search(db[:4], 5), index.codes(), index.ids(), db[:4], 5)


@pytest.mark.parametrize("how", ROUND_TRIPS)
def test_default_ids_exhausted_after_the_largest_id(tmp_path, how):
    index = ni.FlatIndex(64)
    index.add(np.zeros((1, 8), np.uint8), [2**63 - 1])
    clone = _round_trip(index, how, tmp_path)
    for ix in (index, clone):
        with pytest.raises(ValueError, match="no default ids left"):
            ix.add(np.ones((1, 8), np.uint8))
        ix.add(np.ones((1, 8), np.uint8), [7])  # explicit ids still work
        np.testing.assert_array_equal(ix.ids(), [2**63 - 1, 7])


@pytest.mark.parametrize("how", ROUND_TRIPS)
def test_tie_rule_after_removal_survives_round_trips(tmp_path, flat_rng, how):
    db = clustered_codes(flat_rng, 400, 64, centres=2, p=0.02)  # many ties: the id order decides
    ids = scrambled_ids(flat_rng, 400)
    index = ni.FlatIndex(64)
    index.add(db, ids)
    index.remove(ids[::3])
    clone = _round_trip(index, how, tmp_path)
    keep = np.ones(400, bool)
    keep[::3] = False
    assert_knn_matches(clone.search(db[:6], 20), db[keep], ids[keep], db[:6], 20)


# Files written by the build before the store metadata section (zlib + base64 of index bytes):
# codes 0..9 below; "flat_removed" had id 9 removed; "mih_ids" has ids 5, 11, ..., 32.
OLD_FILES = {
    "flat_identity": "eNrzcwz28HSJYGBkYABjBwYI4ILSjGg0gwCECoBy86/WalhJPTrAMMxB0a8npZXfplkyjIJRMApGwSgYBaNgFIyCUTAKRsEoGAVDEHR7Pf240pFt"
                     "wdQstfV7zq5/mvSTa0p82ORjTupZV1frLrd0DTTnm7npuo+J+i+P60YL7xesWfhSTTCS8S7bp/p+NptLcZLLFH/u5TmjaFkjd3zqqXIA9E0yLQ==",
    "flat_removed": "eNrzcwz28HSJYGBkYABjBwYI4ITSTFCaEUozCEAoDyi3Knrh8r7ZL1fC1DEooMrrXFfpWz31rjTDEAcPS34+OTNZQJhhFIyCUTAKRsEoGAWjYBSM"
                    "glEwCkbBKBiCoNvr6ceVjmwLpmaprd9zdv3TpJ9cU+LDJh9zUs+6ulp3uaVroDnfzE3XfUzUf3lcN1p4v2DNwpdqgpGMd9k+1fez2VyKk1ym"
                    "+HMvz5nRkBwFo2AUjIJRMApGwSgYBaNgFIyCUTAKBj+Aze/D5vGZoTQLlGaF0mxQmh1Kc0BpAGSgM7k=",
    "mih_ids": "eNrt2rFLQlEUgPHzlB5ZIoqCFBS+JaegIogHDhkFr4hAhKhFoSFIGtxagtocHBoqoi0hiuoN0dTS0JIQToE4RVNDbTVlLQWeN/gfvOD7weXj"
               "cuAOZ75L2bwzP7sihogE/s60dIS0Qa2hlWgnjl5374+qldN4OeDNU93z4HWhPl4Mf0W9+VjXM+Kuu6VbK18Rn/u53DTiG413AQAAAADgH6ou"
               "vH5cZM2TtXbfQXF5/2EmXWpejZ7bc7mpyPFNa3Ey/e20JmovZbf2NhJbNZ7Nz509M/NUGDiz2nfhhmVvD9cPH7fYJAAAAAAA/tWj7ddGtDFt"
               "QpvUDmqHtClWCAAAAACA73n/+nu1v365NWQ=",
}
OLD_CODES = [[139, 74, 229, 241, 169, 65, 6, 160], [149, 106, 38, 175, 188, 205, 175, 229], [98, 249, 10, 148, 95, 86, 147, 198],
             [66, 39, 106, 213, 171, 45, 167, 57], [69, 81, 55, 14, 153, 178, 215, 76], [52, 39, 250, 72, 215, 50, 161, 223],
             [112, 172, 161, 233, 38, 17, 89, 1], [221, 6, 242, 127, 143, 6, 60, 210], [94, 25, 166, 33, 249, 189, 12, 204],
             [33, 57, 124, 30, 199, 149, 202, 119]]


@pytest.mark.parametrize("name", sorted(OLD_FILES))
@pytest.mark.parametrize("mmap", [False, True])
def test_files_of_older_builds_still_load(tmp_path, name, mmap):
    path = tmp_path / "old.nidx"
    path.write_bytes(zlib.decompress(base64.b64decode(OLD_FILES[name])))
    index = ni.load(path, mmap=mmap)
    codes = np.array(OLD_CODES, dtype=np.uint8)
    keep = {"flat_identity": slice(0, 10), "flat_removed": slice(0, 9), "mih_ids": [0, *range(2, 10)]}[name]
    ids = {"flat_identity": np.arange(10), "flat_removed": np.arange(9), "mih_ids": np.arange(10)[keep] * 3 + 5}[name]
    np.testing.assert_array_equal(index.codes(), codes[keep])
    np.testing.assert_array_equal(index.ids(), ids)
    assert_knn_matches(index.search(codes[:3], 4), codes[keep], ids, codes[:3], 4)
    index.add(codes[:1])  # without the section: the old rule, largest id + 1
    assert index.ids()[-1] == ids.max() + 1
    assert isinstance(from_bytes(path.read_bytes()), type(index))


@pytest.mark.parametrize("meta, why", [(struct.pack("<2Q", 1, 3), "next id 3 is below 5"),
                                       (struct.pack("<2Q", 2, 9), "metadata version"),
                                       (struct.pack("<Q", 1), "metadata size"),
                                       (struct.pack("<2Q", 1, 2**64 - 1), "below")],
                         ids=["below-max-id", "version", "size", "negative"])
def test_inconsistent_store_metadata_is_refused(tmp_path, meta, why):
    ids = np.array([4, 1], dtype=np.int64).tobytes()
    path = tmp_path / "meta.nidx"
    path.write_bytes(crafted("flat", 2, codes=bytes(16), ids=ids, store_meta=meta))
    with pytest.raises(ValueError, match=why):
        ni.load(path)


@pytest.mark.parametrize("kind", ["flat", "mih"])
@pytest.mark.parametrize("mmap", [False, True])
def test_negative_ids_in_a_file_are_refused(tmp_path, kind, mmap):
    """add() refuses ids < 0 (-1 pads results); a file holding one (crafted, or from a build before
    that rule) must not load into an index whose hit with id -1 would read as padding."""
    path = tmp_path / "negative.idx"
    path.write_bytes(crafted(kind, 2, codes=bytes(16), ids=np.array([3, -1], np.int64).tobytes()))
    with pytest.raises(ValueError, match=r"id -1 at position 1 is negative"):
        ni.load(path, mmap=mmap)
    with pytest.raises(ValueError, match=r"id -1 at position 1 is negative"):
        ni.from_bytes(path.read_bytes())
