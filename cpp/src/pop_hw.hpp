// Hardware popcount functor of the POPCNT, AVX2 and AVX-512 translation units.
// Same rules as scan_common.hpp: include it inside the TU's anonymous namespace
// (each TU compiles its own copy with its own -m flags), after the standard headers.
#pragma once

struct PopHw {
  uint64_t operator()(uint64_t x) const { return static_cast<uint64_t>(__builtin_popcountll(x)); }
};
