// Instruction-set levels and run-time dispatch of the Hamming kernels.
#pragma once
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

}  // namespace nash_index
