// Kernels using the POPCNT instruction (compiled with -mpopcnt).
#include "kernels.hpp"

namespace {
#include "pop_hw.hpp"
#include "scan_common.hpp"
}  // namespace

namespace nash_index {
const KernelTable& popcnt_kernels() {
  static const KernelTable table{&scan_dispatch_words<PopHw>, &gather_words<PopHw>,
                                 &distance_fn<PopHw>};
  return table;
}
}  // namespace nash_index
