// AVX-512 centre kernels: the cluster scan reads every centre for every query (10^4-10^5 of them),
// a quarter to a half of a walk with the AVX2 kernels (10^7 64-bit codes; 2 * 10^6 256-bit codes).
#include <immintrin.h>

#include <algorithm>
#include <limits>
#include <type_traits>

#include "centre_kernels512.hpp"
#include "kernels.hpp"

namespace {
#include "pop_hw.hpp"
#include "scan_common.hpp"
#include "centre_least.hpp"
#include "planes512.hpp"

// Distances of 8 codes of W words (W in {1, 2, 4}), as int32 in code order.
template <int W>
inline __m256i eight_distances(const uint8_t* codes, const __m512i* q) {
  __m512i planes[W];
  load_planes<W>(codes, planes);
  return _mm512_cvtepi64_epi32(group_distances<W>(planes, q));
}

// KernelTable::all_distances for codes of W words (W in {1, 2, 4}), 8 codes a step as word planes
// (the scalar loop of AVX2 cost a popcount a word: half of a walk over 2 * 10^6 256-bit codes).
template <int W>
nash_index::dist_t planes_distances(const uint8_t* query, const uint8_t* codes, size_t count,
                                    nash_index::dist_t* out, size_t* nearest) {
  __m512i q[W];
  for (int w = 0; w < W; ++w) q[w] = _mm512_set1_epi64(static_cast<long long>(load_word(query + 8 * w)));
  LeastLanes lanes;
  size_t i = 0;
  for (; i + 8 <= count; i += 8) {
    const __m256i d = eight_distances<W>(codes + i * 8 * W, q);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i), d);
    lanes.take(d);
  }
  return lanes.finish(query, codes, i, count, 8 * W, out, nearest);
}

// Codes of whole vectors (512 bits and up): a popcount of each vector, summed per code.
nash_index::dist_t vector_distances(const uint8_t* query, const uint8_t* codes, size_t count, size_t code_size,
                                    nash_index::dist_t* out, size_t* nearest) {
  const size_t vectors = code_size / 64;
  nash_index::dist_t least = std::numeric_limits<nash_index::dist_t>::max();
  size_t first = 0;
  for (size_t i = 0; i < count; ++i) {
    const uint8_t* code = codes + i * code_size;
    __m512i sum = _mm512_setzero_si512();
    for (size_t v = 0; v < vectors; ++v)
      sum = _mm512_add_epi64(sum, _mm512_popcnt_epi64(_mm512_xor_si512(_mm512_loadu_si512(code + 64 * v),
                                                                       _mm512_loadu_si512(query + 64 * v))));
    out[i] = static_cast<nash_index::dist_t>(_mm512_reduce_add_epi64(sum));
    if (out[i] < least) {
      least = out[i];
      first = i;
    }
  }
  if (nearest) *nearest = first;
  return least;
}

// KernelTable::all_distances_u8 with VPOPCNTB: a load holds bytes b and b + 1 of a group's 32 codes
// (slice_by_32), so a pair of bytes costs a xor, a popcount and an add, where AVX2's nibble tables
// cost seven instructions a byte (the centre pass was a quarter of a walk at 10^7 codes).
template <size_t CS>  // the code size, or 0: read at run time
__m256i sliced_groups_512(const uint8_t* query, const uint8_t* sliced, size_t groups, size_t whole,
                          size_t code_size, uint8_t* out) {
  const size_t cs = CS ? CS : code_size, pairs = cs / 2;
  __m512i pair_of[15];  // bytes 2p (low half) and 2p + 1 (high half) of the query, broadcast
  for (size_t p = 0; p < pairs; ++p)
    pair_of[p] = _mm512_inserti64x4(_mm512_set1_epi8(char(query[2 * p])), _mm256_set1_epi8(char(query[2 * p + 1])), 1);
  const __m256i last = _mm256_set1_epi8(char(cs % 2 ? query[cs - 1] : 0));
  __m256i least = _mm256_set1_epi8(-1);
  for (size_t g = 0; g < groups; ++g) {
    const uint8_t* group = sliced + g * cs * 32;
    __m512i sums = _mm512_setzero_si512();
    for (size_t p = 0; p < pairs; ++p) {
      const __m512i x = _mm512_loadu_si512(group + 64 * p);
      sums = _mm512_add_epi8(sums, _mm512_popcnt_epi8(_mm512_xor_si512(x, pair_of[p])));
    }
    __m256i sum = _mm256_add_epi8(_mm512_castsi512_si256(sums), _mm512_extracti64x4_epi64(sums, 1));
    if (cs % 2) {
      const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(group + 32 * (cs - 1)));
      sum = _mm256_add_epi8(sum, _mm256_popcnt_epi8(_mm256_xor_si256(x, last)));
    }
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 32 * g), sum);
    if (g < whole) least = _mm256_min_epu8(least, sum);
  }
  return least;
}

uint8_t all_distances_u8_impl(const uint8_t* query, const uint8_t* sliced, size_t count, size_t code_size,
                              uint8_t* out, size_t* nearest) {
  const size_t groups = (count + 31) / 32, whole = count / 32;
  return sliced_distances(count, code_size, out, nearest, [&](auto cs) {
    return sliced_groups_512<decltype(cs)::value>(query, sliced, groups, whole, code_size, out);
  });
}

// KernelTable::within_u8: lower <= minus + tau (saturating), 64 bounds a compare into a mask.
size_t within_u8_impl(const uint8_t* lower, const uint8_t* minus, size_t count, nash_index::dist_t tau,
                      uint32_t* out) {
  if (tau < 0) return within_any(lower, minus, count, tau, out);  // never from a walk (tau >= 0)
  const __m512i limit = _mm512_set1_epi8(static_cast<char>(std::min<nash_index::dist_t>(tau, 255)));
  size_t m = 0, i = 0;
  for (; i + 64 <= count; i += 64) {
    const __m512i reach = _mm512_adds_epu8(_mm512_loadu_si512(minus + i), limit);
    uint64_t mask = _mm512_cmple_epu8_mask(_mm512_loadu_si512(lower + i), reach);
    while (__builtin_expect(mask != 0, 0)) {
      out[m++] = static_cast<uint32_t>(i + size_t(__builtin_ctzll(mask)));
      mask &= mask - 1;
    }
  }
  return within_rest(lower, minus, i, count, tau, out, m);
}
nash_index::dist_t all_distances_impl(const uint8_t* query, const uint8_t* codes, size_t count, size_t code_size,
                                      nash_index::dist_t* out, size_t* nearest) {
  switch (code_size) {
    case 8: return planes_distances<1>(query, codes, count, out, nearest);
    case 16: return planes_distances<2>(query, codes, count, out, nearest);
    case 32: return planes_distances<4>(query, codes, count, out, nearest);
    default:
      if (code_size % 64 == 0) return vector_distances(query, codes, count, code_size, out, nearest);
      return all_distances<PopHw>(query, codes, count, code_size, out, nearest);
  }
}
}  // namespace

namespace nash_index {
const CentreKernels& avx512_centres_kernels() {
  static const CentreKernels table{&all_distances_impl, &all_distances_u8_impl, &within_u8_impl};
  return table;
}
}  // namespace nash_index
