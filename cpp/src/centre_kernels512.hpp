// The AVX-512 level's centre kernels (kernels_avx512_centres.cpp): KernelTable::all_distances,
// all_distances_u8 and within_u8, for the cluster scan's pass over every centre. Like every kernel
// object it defines one symbol, its table (scripts/check_isa.py).
#pragma once
#include <cstddef>
#include <cstdint>

#include "nash_index/common.hpp"

namespace nash_index {

struct CentreKernels {
  dist_t (*all_distances)(const uint8_t* query, const uint8_t* codes, size_t count, size_t code_size, dist_t* out,
                          size_t* nearest);
  uint8_t (*all_distances_u8)(const uint8_t* query, const uint8_t* sliced, size_t count, size_t code_size,
                              uint8_t* out, size_t* nearest);
  size_t (*within_u8)(const uint8_t* lower, const uint8_t* minus, size_t count, dist_t tau, uint32_t* out);
};

const CentreKernels& avx512_centres_kernels();

}  // namespace nash_index
