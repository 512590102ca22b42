// Basic types shared by every part of the core. No Python here.
#pragma once
#include <cstddef>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

namespace nash_index {

using idx_t = int64_t;   // external ids (faiss convention)
using dist_t = int32_t;  // Hamming distances (0..nbits)

constexpr dist_t kPadDistance = std::numeric_limits<dist_t>::max();  // k > ntotal padding
constexpr idx_t kPadId = -1;
constexpr int kMaxBits = 1 << 16;
// Largest k of a k-NN search: a result row's positions stay within int32.
constexpr size_t kMaxK = std::numeric_limits<int32_t>::max();

// Thrown for bad arguments; the bindings map it to ValueError.
inline void require(bool ok, const std::string& what) {
  if (!ok) throw std::invalid_argument(what);
}

// CSR result of a range search (faiss layout): query i owns [lims[i], lims[i+1]).
struct RangeResult {
  std::vector<size_t> lims;
  std::vector<dist_t> distances;
  std::vector<idx_t> ids;
};

inline size_t code_size_for(int nbits) {
  require(nbits > 0 && nbits % 8 == 0 && nbits <= kMaxBits,
          "nbits must be a positive multiple of 8 up to " + std::to_string(kMaxBits) +
              ", got " + std::to_string(nbits));
  return static_cast<size_t>(nbits) / 8;
}

}  // namespace nash_index
