"""Checks that one build of the core runs on any x86-64 CPU (scripts/build_wheel.sh calls it).

Usage: python scripts/check_isa.py BUILD_DIR   (a CMake build tree of the core; needs nm and objdump)

Only the kernel translation units (kernels_popcnt/avx2/avx512.cpp, and kernels_avx512_centres.cpp
whose table the avx512 one reads) are compiled with -m flags, and cpuid picks among them at run
time. Two things could still put an AVX2 instruction on a path that an older CPU takes, and this
script fails on either:

* a kernel object defines shared code: an inline function or template instantiated there is a weak
  symbol, and the linker may keep that copy (built with -mavx2) for every caller. A kernel object
  may define only its table function (``nash_index::<level>_kernels()``); the rest must be local;
* any other object holds a VEX/EVEX (AVX) or popcnt instruction.
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

KERNEL = re.compile(r"kernels_(scalar|popcnt|avx2|avx512|avx512_centres)\.cpp\.o$")
KERNEL_OBJECTS = 5
#: Instructions that a baseline x86-64 CPU lacks: AVX (every VEX-encoded mnemonic starts with v,
#: e.g. vmovdqu, vpxor; ymm/zmm registers, mask registers k0-k7) and popcnt.
EXTENDED = re.compile(r"\t(v[a-z0-9]+|popcnt[a-z]*|kmov[a-z]*)\s|%[yz]mm\d")


def run(*cmd: str) -> str:
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def shared_symbols(obj: Path) -> list:
    """Demangled global or weak code symbols an object defines."""
    lines = run("nm", "--defined-only", "-C", str(obj)).splitlines()
    return [line.split(" ", 2)[2] for line in lines if len(line.split(" ", 2)) == 3 and line.split(" ", 2)[1] in "TWi"]


def extended_instructions(obj: Path) -> list:
    return [line.strip() for line in run("objdump", "-d", "--no-show-raw-insn", str(obj)).splitlines() if EXTENDED.search(line)]


def main(build_dir: str) -> int:
    objects = sorted(Path(build_dir).rglob("*.cpp.o"))
    kernels = [o for o in objects if KERNEL.search(o.name)]
    others = [o for o in objects if not KERNEL.search(o.name) and "test_kinds" not in o.parts]
    if len(kernels) != KERNEL_OBJECTS or not others:
        print(f"check_isa: expected the {KERNEL_OBJECTS} kernel objects and the core's in {build_dir}, "
              f"found {len(kernels)} and {len(others)}")
        return 1
    problems = []
    for obj in kernels:
        level = KERNEL.search(obj.name).group(1)
        extra = [s for s in shared_symbols(obj) if s != f"nash_index::{level}_kernels()"]
        if extra:
            problems.append(f"{obj.name} defines shared symbols (the linker may use its -m copy everywhere): {extra[:5]}")
    for obj in others:
        found = extended_instructions(obj)
        if found:
            problems.append(f"{obj.name} (built for baseline x86-64) holds {len(found)} AVX/popcnt instructions: {found[:3]}")
    avx = sum(len(extended_instructions(o)) for o in kernels)
    for line in problems:
        print(f"check_isa: {line}")
    print(f"check_isa: {len(others)} core objects hold no AVX/popcnt instruction; the {KERNEL_OBJECTS} kernel objects "
          f"({avx} such instructions) define nothing shared but their tables" if not problems else "check_isa: FAILED")
    return 1 if problems else 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1]))
