#include "sliced_codes.hpp"

#include <algorithm>
#include <cstring>

#include "kernels.hpp"
#include "thread_pool.hpp"

namespace nash_index {
namespace {

// 8 x 8 bit transpose: byte k, bit i of x becomes byte i, bit k (three delta swaps).
inline uint64_t transpose8(uint64_t x) {
  uint64_t t = (x ^ (x >> 7)) & 0x00AA00AA00AA00AAull;
  x ^= t ^ (t << 7);
  t = (x ^ (x >> 14)) & 0x0000CCCC0000CCCCull;
  x ^= t ^ (t << 14);
  t = (x ^ (x >> 28)) & 0x00000000F0F0F0F0ull;
  x ^= t ^ (t << 28);
  return x;
}

// Portable popcount (this file has no ISA flags: __builtin_popcount would call libgcc per byte).
inline int popcount_word(uint64_t x) {
  x = x - ((x >> 1) & 0x5555555555555555ull);
  x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
  x = (x + (x >> 4)) & 0x0F0F0F0F0F0F0F0Full;
  return int((x * 0x0101010101010101ull) >> 56);
}

inline int popcount_bytes(const uint8_t* code, size_t code_size) {
  int w = 0;
  size_t b = 0;
  for (uint64_t word; b + 8 <= code_size; b += 8) {
    std::memcpy(&word, code + b, 8);
    w += popcount_word(word);
  }
  for (; b < code_size; ++b) w += popcount_word(code[b]);
  return w;
}

// Group g of `out` from codes [g * lanes, min(n, (g + 1) * lanes)).
void slice_group(const uint8_t* codes, size_t n, size_t g, SlicedCodes& out) {
  uint8_t* planes = out.planes.data() + g * out.group_bytes;
  std::memset(planes, 0, out.group_bytes);
  const size_t cs = out.code_size, first = g * out.lanes, plane_bytes = out.plane_bytes();
  const size_t count = std::min(out.lanes, n - first);
  const KernelTable& kt = kernels();
  if (kt.slice_group && kt.slice_group(codes + first * cs, count, cs, out.nbits, out.weight_bits, out.lanes, planes))
    return;
  uint8_t* weights = planes + (size_t(out.nbits) + 1) * plane_bytes;
  for (size_t octet = 0; octet * 8 < count; ++octet) {
    const size_t in_octet = std::min<size_t>(8, count - octet * 8);
    const uint8_t* code = codes + (first + octet * 8) * cs;
    for (size_t b = 0; b < cs; ++b) {
      uint64_t column = 0;  // byte k: byte b of code k
      for (size_t k = 0; k < in_octet; ++k) column |= uint64_t(code[k * cs + b]) << (8 * k);
      const uint64_t bits = transpose8(column);  // byte i: bit i of byte b of the eight codes
      for (int i = 0; i < 8 && 8 * b + size_t(i) < size_t(out.nbits); ++i)
        planes[(8 * b + size_t(i)) * plane_bytes + octet] = uint8_t(bits >> (8 * i));
    }
    int weight[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (size_t k = 0; k < in_octet; ++k) weight[k] = popcount_bytes(code + k * cs, cs);
    for (int w = 0; w < out.weight_bits; w += 8) {
      uint64_t weight_bytes = 0;  // byte k: bits [w, w + 8) of code k's weight
      for (size_t k = 0; k < 8; ++k) weight_bytes |= uint64_t((weight[k] >> w) & 0xFF) << (8 * k);
      const uint64_t bits = transpose8(weight_bytes);
      for (int i = 0; i < 8 && w + i < out.weight_bits; ++i)
        weights[size_t(w + i) * plane_bytes + octet] = uint8_t(bits >> (8 * i));
    }
  }
}

}  // namespace

void slice_codes(const uint8_t* codes, size_t n, size_t code_size, size_t lanes, int threads, SlicedCodes& out) {
  out.lanes = lanes;
  out.code_size = code_size;
  out.nbits = int(code_size * 8);
  out.groups = (n + lanes - 1) / lanes;
  out.weight_bits = bits_for(size_t(out.nbits));
  out.group_bytes = (size_t(out.nbits) + 1 + size_t(out.weight_bits)) * out.plane_bytes();
  out.planes.resize(out.groups * out.group_bytes);
  constexpr size_t kGroupsPerTask = 16;
  const size_t tasks = (out.groups + kGroupsPerTask - 1) / kGroupsPerTask;
  ThreadPool::global().parallel_for(tasks, threads, [&](size_t t) {
    for (size_t g = t * kGroupsPerTask; g < std::min(out.groups, (t + 1) * kGroupsPerTask); ++g)
      slice_group(codes, n, g, out);
  });
}

}  // namespace nash_index
