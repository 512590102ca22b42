// Kernel interface: xor + popcount over packed codes, one table per ISA level.
//
// The scan kernel compares a tile of queries against a block of codes and only
// calls into the sink for codes whose distance is <= the query's current
// threshold, which the sink may lower as it learns more (top-k) or keep fixed
// (range search). Hits are rare, so the sink call is an out-of-line function:
// inline code shared between ISA translation units would risk the linker
// keeping an AVX-512 copy for everyone.
#pragma once
#include <cstddef>
#include <cstdint>
#include <type_traits>  // for_query_tiles in scan_common.hpp (std headers before its namespace)

#include "nash_index/common.hpp"
#include "nash_index/simd.hpp"

namespace nash_index {

class HitSink {
 public:
  HitSink() = default;
  HitSink(const HitSink&) = delete;  // `thresholds` points into the derived object
  HitSink& operator=(const HitSink&) = delete;
  virtual ~HitSink() = default;
  // Threshold per query (indexed by the query's position in the scan): the
  // largest distance that can still enter its result.
  dist_t* thresholds = nullptr;
  // Called for code `pos` (database position) with distance d <= thresholds[q].
  virtual void hit(size_t q, dist_t d, size_t pos) = 0;
};

struct ScanBlock {
  const uint8_t* queries;  // nq * code_size bytes
  size_t nq;
  const uint8_t* codes;    // n * code_size bytes
  size_t n;
  size_t code_size;
  size_t base;             // database position of codes[0]
  size_t query_base;       // sink index of queries[0]
};

// Distances of one query to `count` codes picked by position (MIH verification).
struct GatherBlock {
  const uint8_t* query;
  const uint8_t* codes;    // the whole database
  const uint32_t* positions;
  size_t count;
  size_t code_size;
  dist_t* out;
};

// A tile of queries against codes in the layout of SlicedCodes (sliced_codes.hpp).
struct SlicedBlock {
  const uint8_t* queries;  // nq * code_size bytes
  size_t nq;
  size_t lanes;            // codes per group (the kernel's own: KernelTable::sliced_lanes)
  const uint8_t* groups;   // the sliced groups to scan, group_bytes each
  size_t ngroups;
  size_t group_bytes;
  size_t n;                // codes in those groups (the last may be partial)
  const uint8_t* codes;    // the same codes row by row (a hit's distance is counted there)
  size_t code_size;
  int nbits, weight_bits;
  size_t base;             // database position of the first group's first code
  size_t select;           // the sink's k (top-k: no more than k codes of a group are needed), 0 if none
};

struct KernelTable {
  void (*scan)(const ScanBlock& block, HitSink& sink);
  void (*gather_distances)(const GatherBlock& block);
  dist_t (*distance)(const uint8_t* a, const uint8_t* b, size_t code_size);
  // Every distance of `query` to `count` >= 1 contiguous codes (the cluster scan's centres): no
  // positions to follow and no threshold, so a loop of fixed width per code size. Returns the least,
  // and the first code at that distance in *nearest when it is not null.
  dist_t (*all_distances)(const uint8_t* query, const uint8_t* codes, size_t count, size_t code_size, dist_t* out,
                          size_t* nearest);
  // The indexes i < count with lower[i] - minus[i] <= tau, ascending, into `out`; returns how many
  // (the clusters whose triangle-inequality bound a query's k-th distance has not ruled out).
  size_t (*within)(const dist_t* lower, const dist_t* minus, size_t count, dist_t tau, uint32_t* out);
  // all_distances with distances as bytes, for codes of at most 248 bits in the layout of
  // slice_by_32 (the cluster scan's centres, every query): `out` has room for count rounded up to
  // 32. With within_u8, 32 lanes a compare and a quarter of the int32 traffic. Null at the levels
  // without vectors: sliced bytes cost a popcount per byte there (4x slower than all_distances).
  uint8_t (*all_distances_u8)(const uint8_t* query, const uint8_t* sliced, size_t count, size_t code_size,
                              uint8_t* out, size_t* nearest);
  size_t (*within_u8)(const uint8_t* lower, const uint8_t* minus, size_t count, dist_t tau, uint32_t* out);
  // The scan of a batch over bit-sliced codes: each query counts planes with carry-save adders,
  // a group of sliced_lanes codes at once, and reports the codes within its threshold as `scan`
  // does. Null at the levels without vectors (scalar, popcnt).
  void (*scan_sliced)(const SlicedBlock& block, HitSink& sink);
  // Transposes `count` <= lanes codes into one group of that layout (`planes` zeroed); false where
  // it does not take the code size (the portable transposition in sliced_codes.cpp does it then).
  bool (*slice_group)(const uint8_t* codes, size_t count, size_t code_size, int nbits, int weight_bits, size_t lanes,
                      uint8_t* planes);
  size_t sliced_lanes;  // codes per group of scan_sliced's layout: one vector register of the level
};

// Codes in groups of 32, byte-sliced: byte b of code 32g + j at ((g * code_size) + b) * 32 + j, the
// last group padded with zero codes (ceil(count / 32) * 32 * code_size bytes). A vector then holds
// one byte of 32 codes, and per-query tables count that byte's bits against the query's.
inline void slice_by_32(const uint8_t* codes, size_t count, size_t code_size, uint8_t* out) {
  const size_t groups = (count + 31) / 32;
  for (size_t i = 0; i < groups * 32 * code_size; ++i) out[i] = 0;
  for (size_t i = 0; i < count; ++i)
    for (size_t b = 0; b < code_size; ++b) out[((i / 32) * code_size + b) * 32 + i % 32] = codes[i * code_size + b];
}

// One table per level; each lives in its own translation unit.
const KernelTable& scalar_kernels();
const KernelTable& popcnt_kernels();
const KernelTable& avx2_kernels();
const KernelTable& avx512_kernels();

// Kernel table of the active SIMD level (simd.hpp), and of a given one.
const KernelTable& kernels();
const KernelTable& kernels_for(SimdLevel level);

}  // namespace nash_index
