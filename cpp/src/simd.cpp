#include "nash_index/simd.hpp"

#include <atomic>
#include <cstdlib>
#include <stdexcept>
#include <vector>

#include "kernels.hpp"

namespace nash_index {

const char* simd_level_name(SimdLevel level) {
  switch (level) {
    case SimdLevel::Scalar: return "scalar";
    case SimdLevel::Popcnt: return "popcnt";
    case SimdLevel::Avx2: return "avx2";
    case SimdLevel::Avx512: return "avx512";
  }
  return "unknown";
}

SimdLevel parse_simd_level(const std::string& name) {
  for (SimdLevel l : {SimdLevel::Scalar, SimdLevel::Popcnt, SimdLevel::Avx2, SimdLevel::Avx512})
    if (name == simd_level_name(l)) return l;
  throw std::invalid_argument("unknown SIMD level '" + name + "' (expected scalar, popcnt, avx2 or avx512)");
}

SimdLevel detected_simd_level() {
#if defined(__x86_64__) || defined(__i386__)
  // __builtin_cpu_supports also checks that the OS saves the wide registers.
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vpopcntdq") &&
      __builtin_cpu_supports("avx512vbmi") && __builtin_cpu_supports("avx512bitalg"))
    return SimdLevel::Avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("popcnt")) return SimdLevel::Avx2;
  if (__builtin_cpu_supports("popcnt")) return SimdLevel::Popcnt;
#endif
  return SimdLevel::Scalar;
}

namespace {
SimdLevel initial_level() {
  SimdLevel level = detected_simd_level();
  if (const char* env = std::getenv("NASH_INDEX_SIMD")) {
    SimdLevel wanted = parse_simd_level(env);
    if (static_cast<int>(wanted) < static_cast<int>(level)) level = wanted;
  }
  return level;
}

std::atomic<int>& level_slot() {
  static std::atomic<int> slot(static_cast<int>(initial_level()));
  return slot;
}
}  // namespace

SimdLevel active_simd_level() { return static_cast<SimdLevel>(level_slot().load()); }

void set_simd_level(SimdLevel level) {
  const SimdLevel best = detected_simd_level();
  if (static_cast<int>(level) > static_cast<int>(best))
    throw std::invalid_argument(std::string("SIMD level ") + simd_level_name(level) +
                                " is not supported by this CPU (best: " + simd_level_name(best) + ")");
  level_slot().store(static_cast<int>(level));
}

const KernelTable& kernels_for(SimdLevel level) {
  switch (level) {
    case SimdLevel::Avx512: return avx512_kernels();
    case SimdLevel::Avx2: return avx2_kernels();
    case SimdLevel::Popcnt: return popcnt_kernels();
    default: return scalar_kernels();
  }
}

const KernelTable& kernels() { return kernels_for(active_simd_level()); }

void gather_distances(const uint8_t* query, const uint8_t* codes, const uint32_t* positions, size_t count,
                      size_t code_size, int32_t* out) {
  kernels().gather_distances(GatherBlock{query, codes, positions, count, code_size, out});
}

int32_t distances_to_all(const uint8_t* query, const uint8_t* codes, size_t count, size_t code_size, int32_t* out,
                         size_t* nearest) {
  return kernels().all_distances(query, codes, count, code_size, out, nearest);
}

uint8_t distances_to_all_u8(const uint8_t* query, const uint8_t* codes, size_t count, size_t code_size, uint8_t* out,
                            size_t* nearest) {
  if (!kernels().all_distances_u8) throw std::invalid_argument("the active SIMD level has no byte kernels");
  std::vector<uint8_t> sliced((count + 31) / 32 * 32 * code_size);
  slice_by_32(codes, count, code_size, sliced.data());
  return kernels().all_distances_u8(query, sliced.data(), count, code_size, out, nearest);
}

size_t indexes_within_u8(const uint8_t* lower, const uint8_t* minus, size_t count, int32_t tau, uint32_t* out) {
  if (!kernels().within_u8) throw std::invalid_argument("the active SIMD level has no byte kernels");
  return kernels().within_u8(lower, minus, count, tau, out);
}

}  // namespace nash_index
