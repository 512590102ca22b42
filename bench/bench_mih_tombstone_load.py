"""Loading a MultiIndexHashing saved after removals: tables and tombstones in the file (issue #25)
against the older format, where such a file held no tables and load rebuilt them.

    python bench/bench_mih_tombstone_load.py                 # 10^7 clustered 64-bit codes, 1% removed
    python bench/bench_mih_tombstone_load.py --n 1M          # quicker

Same run, same codes: the index is built, 1% of its ids removed (tombstones), saved; the "old"
file is the same file without the tables, deltas and tombstones sections (metadata version 2:
what builds before this change wrote). Each file is loaded --repeats times (read into memory,
and mapped), answers are checked equal to FlatIndex over the surviving codes, and the median
load times are compared. Files go to --dir (default /tmp).
"""
from __future__ import annotations

import argparse
import struct
import tempfile
import time
from pathlib import Path

import numpy as np

import nash_index as ni
from nash_index.index import _core, synthetic

HEADER = struct.Struct("<8s4IQ2I")  # magic, version, kind, nbits, flags, ntotal, nsections, reserved
SECTION = struct.Struct("<2I3Q")    # tag, reserved, offset, bytes, checksum
TAG_MIH_META, TABLE_TAGS = 16, (17, 18, 19)


def parse_count(text: str) -> int:
    text = text.strip().upper()
    return int(float(text.rstrip("KM")) * {"K": 1_000, "M": 1_000_000}.get(text[-1:], 1))


def write_old_format(path: Path, target: Path) -> None:
    """`path` without its table sections, metadata version 2 (a file of the older builds)."""
    raw = path.read_bytes()
    _, _, kind, nbits, _, ntotal, nsections, _ = HEADER.unpack_from(raw)
    sections = []
    for i in range(nsections):
        tag, _, offset, size, _ = SECTION.unpack_from(raw, HEADER.size + i * SECTION.size)
        payload = raw[offset:offset + size]
        if tag in TABLE_TAGS:
            continue
        sections.append((tag, struct.pack("<I", 2) + payload[4:] if tag == TAG_MIH_META else payload))
    _core._write_index_file(str(target), kind, nbits, ntotal, sections)


def timed_loads(path: Path, mmap: bool, repeats: int):
    times, index = [], None
    for _ in range(repeats):
        index = None
        t0 = time.perf_counter()
        index = ni.load(path, mmap=mmap)
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), index


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=parse_count, default=10_000_000)
    p.add_argument("--removed", type=float, default=0.01)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--dir", type=Path, default=None)
    args = p.parse_args()
    folder = Path(args.dir or tempfile.mkdtemp(prefix="mih_tombstones_"))
    folder.mkdir(parents=True, exist_ok=True)
    codes = synthetic.synthetic_codes(args.n, 64, "clustered", seed=1)
    queries = synthetic.synthetic_codes(200, 64, "clustered", seed=1)[::-1].copy()
    index = ni.MultiIndexHashing(64)
    t0 = time.perf_counter()
    index.add(codes)
    build = time.perf_counter() - t0
    doomed = np.random.default_rng(0).choice(args.n, int(args.n * args.removed), replace=False)
    index.remove(doomed)
    new, old = folder / "new.nidx", folder / "old.nidx"
    index.save(new)
    write_old_format(new, old)
    flat = ni.FlatIndex(64)
    flat.add(np.delete(codes, np.sort(doomed), axis=0), np.delete(np.arange(args.n), np.sort(doomed)))
    ref = flat.search(queries, 10)
    print(f"n={args.n:,} build {build:.1f}s, removed {len(doomed):,} (tombstones {index.tombstones:,})")
    for mmap in (False, True):
        rows = {}
        for name, path in (("new", new), ("old", old)):
            seconds, loaded = timed_loads(path, mmap, args.repeats)
            got = loaded.search(queries, 10)
            assert np.array_equal(got.ids, ref.ids) and np.array_equal(got.distances, ref.distances), name
            rows[name] = seconds
            print(f"  load {'mmap' if mmap else 'read'} {name}: {seconds:.3f}s (tombstones {loaded.tombstones:,}, "
                  f"file {path.stat().st_size / 1e6:.0f} MB)")
        print(f"  -> {rows['old'] / rows['new']:.1f}x faster ({'mmap' if mmap else 'read'})")
    for path in (new, old):
        path.unlink()


if __name__ == "__main__":
    main()
