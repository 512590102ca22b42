"""Hostile index files: every header and section-table field set to edge values must be refused
(ValueError / OSError) or load into an index that searches like the numpy oracle over its own codes.

The header checksum is recomputed after each mutation (by a Python copy of the C++ checksum64), so
the mutated values reach the parser. A crash must fail the test, not kill pytest: the fuzz loop
runs in a child interpreter. This module also holds the Python mirror of the format used by
test_file_safety.py to craft files.
"""
from __future__ import annotations

import os
import pickle
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

import nash_index as ni
from conftest import oracle_knn, oracle_range, uniform_codes
from nash_index.index.base import from_bytes

# ---------------------------------------------------------------- the format, mirrored from index_file.cpp
MASK = (1 << 64) - 1
P1, P2, P3 = 0x9E3779B185EBCA87, 0xC2B2AE3D27D4EB4F, 0xFF51AFD7ED558CCD
HEADER_FIELDS = ("magic", "version", "kind", "nbits", "flags", "ntotal", "nsections", "reserved")
SECTION_FIELDS = ("tag", "reserved", "offset", "bytes", "checksum")
HEADER = struct.Struct("<8sIIIIQII")
SECTION = struct.Struct("<IIQQQ")
MAX_SECTIONS = 8
CHECKED = HEADER.size + MAX_SECTIONS * SECTION.size  # bytes covered by the header checksum
HEADER_BYTES = CHECKED + 8
ALIGN = 4096
TAG_CODES, TAG_IDS, TAG_STORE_META, TAG_MIH_META = 1, 2, 3, 16
MAGIC = int.from_bytes(b"NASHIDX\0", "little")


def _rotl(x: int, r: int) -> int:
    return ((x << r) | (x >> (64 - r))) & MASK


def _mix(acc: int, word: int) -> int:
    return (_rotl((acc + word * P2) & MASK, 31) * P1) & MASK


def checksum64(data: bytes, seed: int = 0) -> int:
    """checksum64 of index_file.cpp: four lanes over 32-byte blocks, then the tail byte by byte."""
    lanes = [(seed + P1) & MASK, (seed + P2) & MASK, seed, (seed - P1) & MASK]
    n = len(data)
    i = n - n % 32  # whole blocks go through the lanes
    words = np.frombuffer(bytes(data[:i]), dtype="<u8").tolist()
    for w in range(0, len(words), 4):
        for lane in range(4):
            lanes[lane] = _mix(lanes[lane], words[w + lane])
    h = (_rotl(lanes[0], 1) + _rotl(lanes[1], 7) + _rotl(lanes[2], 12) + _rotl(lanes[3], 18) + n) & MASK
    for b in data[i:]:
        h = _mix(h, b)
    h ^= h >> 33
    h = (h * P3) & MASK
    return h ^ (h >> 33)


class FileImage:
    """The bytes of an index file with its header fields editable; ``bytes()`` re-signs the header."""

    def __init__(self, data: bytes):
        self.data = bytearray(data)
        magic, *rest = HEADER.unpack_from(data, 0)
        self.header = dict(zip(HEADER_FIELDS, [int.from_bytes(magic, "little"), *rest]))
        self.sections = [dict(zip(SECTION_FIELDS, SECTION.unpack_from(data, HEADER.size + i * SECTION.size)))
                         for i in range(MAX_SECTIONS)]

    def section(self, tag: int) -> dict:
        return next(s for s in self.sections[: self.header["nsections"]] if s["tag"] == tag)

    def __bytes__(self) -> bytes:
        h = dict(self.header)
        head = HEADER.pack(h.pop("magic").to_bytes(8, "little"), *h.values())
        head += b"".join(SECTION.pack(*s.values()) for s in self.sections)
        return head + struct.pack("<Q", checksum64(head)) + bytes(self.data[HEADER_BYTES:])


def build_file(kind: int, nbits: int, ntotal: int, sections: list, size: int = 0) -> bytes:
    """A file with these (tag, payload) sections, laid out like the C++ writer; ``size`` pads it."""
    head = bytearray(HEADER_BYTES)
    out = bytearray(ALIGN)
    table = []
    for tag, payload in sections:
        out += bytes(-len(out) % ALIGN)
        table.append({"tag": tag, "reserved": 0, "offset": len(out), "bytes": len(payload), "checksum": checksum64(payload)})
        out += payload
    out += bytes(max(0, size - len(out)))
    image = FileImage(bytes(head) + bytes(out[HEADER_BYTES:]))
    image.header.update(magic=MAGIC, version=1, kind=kind, nbits=nbits, flags=0,
                        ntotal=ntotal, nsections=len(table), reserved=0)
    image.sections[: len(table)] = table
    return bytes(image)


# ---------------------------------------------------------------- the fuzz loop (run in a child interpreter)
U32 = (1 << 32) - 1
EDGES = (0, 1, 2, 3, 7, 8, 16, 4096, 65536, 65544, 2**31, U32, 2**32, 2**61, 2**62, 2**63, MASK, MASK - 4095)


def _hostile(value: int, width: int, file_size: int) -> list:
    near = (value - 1, value + 1, value * 2, value + ALIGN, value - ALIGN, file_size, file_size - 1, file_size + 1)
    top = U32 if width == 4 else MASK
    return sorted({v for v in EDGES + near if 0 <= v <= top and v != value})


def mutations(image: FileImage):
    """(label, mutated bytes): every field alone, then ntotal paired with each section's size."""
    size = len(image.data)
    for field in HEADER_FIELDS:
        for v in _hostile(image.header[field], 8 if field in ("magic", "ntotal") else 4, size):
            yield f"{field}={v}", image, ("header", field, v)
    for i in range(min(image.header["nsections"] + 1, MAX_SECTIONS)):
        for field in SECTION_FIELDS:
            for v in _hostile(image.sections[i][field], 4 if field in ("tag", "reserved") else 8, size):
                yield f"section{i}.{field}={v}", image, ("section", i, field, v)
    for i in range(image.header["nsections"]):
        for n in (2**29, 2**32, 2**60, 2**61, 2**62, 2**63, MASK):
            for b in (0, 8, n * 8 & MASK, n * image.header["nbits"] // 8 & MASK):
                yield f"ntotal={n},section{i}.bytes={b}", image, ("pair", i, n, b)


def _apply(image: FileImage, change) -> bytes:
    copy = FileImage(bytes(image.data))
    copy.header, copy.sections = dict(image.header), [dict(s) for s in image.sections]
    if change[0] == "header":
        copy.header[change[1]] = change[2]
    elif change[0] == "section":
        copy.sections[change[1]][change[2]] = change[3]
    else:
        copy.header["ntotal"] = change[2]
        copy.sections[change[1]]["bytes"] = change[3]
    return bytes(copy)


class _Pickled:
    """Unpickles through from_bytes, like a pickled index, but with bytes of our choosing."""

    def __init__(self, data: bytes):
        self.data = data

    def __reduce__(self):
        return (from_bytes, (self.data,))


def check_loaded(index, queries: np.ndarray) -> None:
    """A loaded index must be self-consistent and search exactly like the oracle over its codes."""
    codes, ids = index.codes(), index.ids()
    assert codes.shape == (index.ntotal, index.code_size) and ids.shape == (index.ntotal,)
    q = queries[:, : index.code_size] if queries.shape[1] >= index.code_size else np.zeros((3, index.code_size), np.uint8)
    q = np.ascontiguousarray(q)
    k = min(5, index.ntotal) or 1
    res = index.search(q, k)
    d_ref, i_ref = oracle_knn(codes, ids, q, k)
    np.testing.assert_array_equal(res.distances, d_ref)
    np.testing.assert_array_equal(res.ids, i_ref)
    rr = index.range_search(q, index.nbits // 3)
    lims, d, i = oracle_range(codes, ids, q, index.nbits // 3)
    np.testing.assert_array_equal(rr.lims, lims)
    np.testing.assert_array_equal(rr.distances, d)
    np.testing.assert_array_equal(rr.ids, i)


def load_every_way(data: bytes, path: Path):
    """Each way of reading these bytes: (label, thunk)."""
    path.write_bytes(data)
    for mmap in (False, True):
        for verify in (True, False):
            yield f"load(mmap={mmap}, verify={verify})", lambda m=mmap, v=verify: ni.load(path, mmap=m, verify=v)
    yield "from_bytes", lambda: from_bytes(data)
    yield "pickle.loads", lambda: pickle.loads(pickle.dumps(_Pickled(data)))


def file_bytes(index) -> bytes:
    """What ``index.save`` writes."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "i.nidx"
        index.save(path)
        return path.read_bytes()


def base_images() -> dict:
    """Valid files to mutate: Flat and MIH, with and without an ids section, and empty."""
    rng = np.random.default_rng(2024)
    codes = uniform_codes(rng, 40, 64)
    images = {}
    for name, cls in (("flat", ni.FlatIndex), ("mih", ni.MultiIndexHashing)):
        empty = cls(64)
        plain = cls(64)
        plain.add(codes)
        with_ids = cls(64)
        with_ids.add(codes, rng.permutation(40) * 5 + 1)
        for label, index in (("empty", empty), ("identity", plain), ("ids", with_ids)):
            images[f"{name}-{label}"] = FileImage(file_bytes(index))
    return images


def run_fuzz(workdir: str) -> int:
    """The loop run by the child; prints each case before trying it, so a crash names its case."""
    queries = uniform_codes(np.random.default_rng(5), 3, 64)
    failures, cases = [], 0
    path = Path(workdir) / "fuzz.nidx"
    for base, image in base_images().items():
        for label, img, change in mutations(image):
            data = _apply(img, change)
            for how, thunk in load_every_way(data, path):
                cases += 1
                print(f"{base} {label} {how}", file=sys.stderr, flush=True)
                try:
                    index = thunk()
                except (ValueError, OSError):
                    continue
                except Exception as exc:  # noqa: BLE001 - any other type is a finding
                    failures.append(f"{base} {label} {how}: {type(exc).__name__}: {exc}")
                    continue
                try:
                    check_loaded(index, queries)
                except Exception as exc:  # noqa: BLE001
                    failures.append(f"{base} {label} {how}: loaded but wrong: {type(exc).__name__}: {exc}")
    print("\n".join(failures[:40]))
    print(f"FUZZ {'FAILED' if failures else 'OK'} cases={cases} failures={len(failures)}")
    return 1 if failures else 0


def run_child(code: str, timeout: float, **kwargs) -> subprocess.CompletedProcess:
    """Runs ``code`` in a fresh interpreter that can import the test helpers (and the sanitized
    build when the environment says so: the environment is inherited)."""
    here = Path(__file__).resolve().parent
    prelude = f"import sys; sys.path[:0] = [{str(here)!r}, {str(here.parent)!r}]\n"
    return subprocess.run([sys.executable, "-c", prelude + code], capture_output=True, text=True, timeout=timeout,
                          **kwargs)


# ---------------------------------------------------------------- tests
def test_python_checksum_matches_the_core(tmp_path):
    index = ni.FlatIndex(64)
    index.add(uniform_codes(np.random.default_rng(1), 33, 64))
    data = file_bytes(index)
    assert checksum64(data[:CHECKED]) == struct.unpack_from("<Q", data, CHECKED)[0]
    image = FileImage(data)
    codes = image.section(TAG_CODES)
    assert checksum64(data[codes["offset"]: codes["offset"] + codes["bytes"]]) == codes["checksum"]
    assert bytes(image) == data
    rebuilt = build_file(1, 64, 33, [(s["tag"], data[s["offset"]: s["offset"] + s["bytes"]])
                                     for s in image.sections[: image.header["nsections"]]])
    assert rebuilt == data


def test_every_header_field_mutation_is_refused_or_consistent():
    with tempfile.TemporaryDirectory() as workdir:
        proc = run_child(f"import test_file_fuzz as t; sys.exit(t.run_fuzz({workdir!r}))", timeout=180)
    last_case = proc.stderr.strip().splitlines()[-1:] if proc.stderr else []
    assert proc.returncode == 0, f"rc={proc.returncode}, last case {last_case}\n{proc.stdout[-4000:]}"
    assert "FUZZ OK" in proc.stdout


if __name__ == "__main__":
    sys.exit(run_fuzz(sys.argv[1] if len(sys.argv) > 1 else os.getcwd()))
