// Portable kernels: SWAR popcount, no special instructions.
#include "kernels.hpp"

namespace {
#include "scan_common.hpp"

struct PopSwar {
  uint64_t operator()(uint64_t x) const {
    x = x - ((x >> 1) & 0x5555555555555555ULL);
    x = (x & 0x3333333333333333ULL) + ((x >> 2) & 0x3333333333333333ULL);
    x = (x + (x >> 4)) & 0x0F0F0F0F0F0F0F0FULL;
    return (x * 0x0101010101010101ULL) >> 56;
  }
};
}  // namespace

namespace nash_index {
const KernelTable& scalar_kernels() { return word_kernels<PopSwar>(); }
}  // namespace nash_index
