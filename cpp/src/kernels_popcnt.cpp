// Kernels using the POPCNT instruction (compiled with -mpopcnt).
#include "nash_index/kernels.hpp"

namespace {
#include "scan_common.hpp"

struct PopHw {
  uint64_t operator()(uint64_t x) const { return static_cast<uint64_t>(__builtin_popcountll(x)); }
};
}  // namespace

namespace nash_index {
const KernelTable& popcnt_kernels() {
  static const KernelTable table{&scan_dispatch_words<PopHw>, &gather_words<PopHw>,
                                 &distance_fn<PopHw>};
  return table;
}
}  // namespace nash_index
