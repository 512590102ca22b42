// Instruction-set levels and run-time dispatch of the Hamming kernels.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace nash_index {

enum class SimdLevel : int { Scalar = 0, Popcnt = 1, Avx2 = 2, Avx512 = 3 };

const char* simd_level_name(SimdLevel level);
SimdLevel parse_simd_level(const std::string& name);  // throws on unknown names

// Best level this CPU supports (cpuid + OS xsave state).
SimdLevel detected_simd_level();

// Level in use: the detected one, lowered by NASH_INDEX_SIMD when set at first use,
// or by set_simd_level(). Requests above the detected level are clamped.
SimdLevel active_simd_level();
void set_simd_level(SimdLevel level);

// Hamming distances from `query` to the codes at `positions` of `codes`, by
// the active level's gather kernel (the one multi-index hashing verifies with).
void gather_distances(const uint8_t* query, const uint8_t* codes, const uint32_t* positions, size_t count,
                      size_t code_size, int32_t* out);

// Every distance from `query` to `count` contiguous codes by the active level's kernel (the one the
// cluster scan reads its centres with); returns the least, its first code in *nearest.
int32_t distances_to_all(const uint8_t* query, const uint8_t* codes, size_t count, size_t code_size, int32_t* out,
                         size_t* nearest);
// The same as bytes (codes of at most 248 bits, rows sliced here as the cluster scan keeps its
// centres; `out` has room for count rounded up to 32), and the indexes i with lower[i] - minus[i] <= tau
// of two byte arrays (the cluster scan's candidate centres), by the active level's kernels;
// std::invalid_argument at a level without them (scalar, popcnt).
uint8_t distances_to_all_u8(const uint8_t* query, const uint8_t* codes, size_t count, size_t code_size, uint8_t* out,
                            size_t* nearest);
size_t indexes_within_u8(const uint8_t* lower, const uint8_t* minus, size_t count, int32_t tau, uint32_t* out);

// Batches of at least this many queries over codes of nbits bits (codes_bytes of them) take the
// bit-sliced scan at the active level (when the database holds a group of codes); 0 where the
// level has none (scalar, popcnt) or the width is not sliced.
size_t sliced_batch_from(int nbits, size_t codes_bytes = 0);

}  // namespace nash_index
