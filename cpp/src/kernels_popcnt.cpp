// Kernels using the POPCNT instruction (compiled with -mpopcnt).
#include "kernels.hpp"

namespace {
#include "pop_hw.hpp"
#include "scan_common.hpp"
}  // namespace

namespace nash_index {
const KernelTable& popcnt_kernels() { return word_kernels<PopHw>(); }
}  // namespace nash_index
