// Codes transposed for the bit-sliced batch scan (KernelTable::scan_sliced).
//
// A batch of queries over wide codes is compute bound, and without VPOPCNTQ a popcount costs a
// table lookup per nibble. Transposed, a group of 256 codes (512 at AVX-512: a plane per vector
// register of the level) becomes one plane per bit position, and a query's distances to all of
// them come from counting planes with carry-save adders (a handful of logic ops per plane). With
// each code's own weight A (popcount) kept as planes too, d(q, x) = |q| + A - 2 B, where B counts
// x's bits under q's ones, or |q| - A + 2 C with C under its zeros: a query counts at most half
// the planes, whichever side of it is smaller.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "huge_pages.hpp"
#include "nash_index/common.hpp"

namespace nash_index {

constexpr size_t kMaxSliceLanes = 512;  // codes per group: 256 or 512 (KernelTable::sliced_lanes)
constexpr int kMaxSlicedBits = 2047;     // bit-sliced counts are at most 13 bits wide

// Bits of an unsigned value up to v (bit_width).
inline int bits_for(size_t v) {
  int b = 0;
  while (v >> b) ++b;
  return b;
}

// Group g's planes, lanes / 8 bytes each: plane b (b < nbits) holds bit b of its codes (bit b of a code
// is bit b % 8 of byte b / 8; code j of the group is bit j % 8 of the plane's byte j / 8), plane
// nbits is zero (pads a query's list of planes to whole steps), then weight_bits planes: bit i of
// each code's popcount. Codes past n in the last group are zero.
struct SlicedCodes {
  size_t lanes = 0;  // codes per group
  size_t code_size = 0, groups = 0;
  int nbits = 0, weight_bits = 0;
  size_t group_bytes = 0;
  // groups * group_bytes; line-aligned: a plane is one or two whole lines (512 or 256 codes), and
  // an unaligned buffer made every vector load of the scan straddle two (~1.5x slower at 1024 bits)
  std::vector<uint8_t, HugePageAllocator<uint8_t>> planes;

  const uint8_t* group(size_t g) const { return planes.data() + g * group_bytes; }
  size_t plane_bytes() const { return lanes / 8; }
};

// Whether codes of nbits bits have the sliced layout (its counts need at most 13 bits).
inline bool sliceable(int nbits) { return nbits > 0 && nbits <= kMaxSlicedBits; }

// Transposes codes [0, n) (code_size bytes each) into groups of `lanes` (256 or 512) in `out` (its
// buffer reused) on up to `threads` of the pool's threads.
void slice_codes(const uint8_t* codes, size_t n, size_t code_size, size_t lanes, int threads, SlicedCodes& out);

}  // namespace nash_index
