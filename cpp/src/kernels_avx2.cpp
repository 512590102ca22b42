// AVX2 kernels: nibble-table popcount (vpshufb + vpsadbw), 4 x 64-bit lanes.
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include "kernels.hpp"
#include "sliced_codes.hpp"

namespace {
#include "pop_hw.hpp"
#include "scan_common.hpp"
#include "sliced_lanes.hpp"
#include "sliced_scan.hpp"
#include "sliced_transpose.hpp"
#include "centre_least.hpp"

void scan_sliced(const nash_index::SlicedBlock& b, nash_index::HitSink& sink) { scan_sliced_lanes<Lanes256>(b, sink); }

// Byte-wise popcount (each byte 0..8) of a vector.
inline __m256i popcount_bytes(__m256i v) {
  const __m256i lut = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4,
                                       0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
  const __m256i low = _mm256_set1_epi8(0x0f);
  const __m256i lo = _mm256_and_si256(v, low);
  const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low);
  return _mm256_add_epi8(_mm256_shuffle_epi8(lut, lo), _mm256_shuffle_epi8(lut, hi));
}

inline __m256i popcount_epi64(__m256i v) {
  return _mm256_sad_epu8(popcount_bytes(v), _mm256_setzero_si256());
}

// d <= threshold as threshold + 1 > d (AVX2 has only a signed greater-than), in every 64-bit lane.
inline __m256i above_threshold(const nash_index::HitSink& sink, size_t q) {
  return _mm256_set1_epi64x(static_cast<long long>(sink.thresholds[q]) + 1);
}

// The codes from `done` on (fewer than one step of a vector loop), a word at a time.
template <int Words>
void scan_rest(const nash_index::ScanBlock& b, size_t done, nash_index::HitSink& sink) {
  if (done == b.n) return;
  nash_index::ScanBlock rest = b;
  rest.codes = b.codes + done * b.code_size;
  rest.n = b.n - done;
  rest.base = b.base + done;
  scan_words<PopHw, Words>(rest, sink);
}

// Byte counts of four codes (each byte <= 8 V for V vectors a code) merged so that one vpsadbw
// gives the four totals in code order, one per 64-bit lane: pairs of 64-bit groups, then the two
// 128-bit halves, are added byte-wise (each byte <= 32 V: V <= 7), three shuffles a code less
// than a vpsadbw per code and a transpose of the sums.
inline __m256i totals4(__m256i b0, __m256i b1, __m256i b2, __m256i b3) {
  const __m256i x = _mm256_add_epi8(_mm256_unpacklo_epi64(b0, b1), _mm256_unpackhi_epi64(b0, b1));
  const __m256i y = _mm256_add_epi8(_mm256_unpacklo_epi64(b2, b3), _mm256_unpackhi_epi64(b2, b3));
  const __m256i z = _mm256_add_epi8(_mm256_permute2x128_si256(x, y, 0x20), _mm256_permute2x128_si256(x, y, 0x31));
  return _mm256_sad_epu8(z, _mm256_setzero_si256());
}

// Lane i holds code i (code -> lane, then lane -> code, as report_codes reads it).
constexpr int kInOrder4[8] = {0, 1, 2, 3, 0, 1, 2, 3};

// Reports the codes of `mask` (bit i: lane i of the totals `d`, of type Dist, is within the
// threshold of the moment; lane i holds code first + lane_of[Lanes + i]) in position order: the
// top-k handler's tie rule wants increasing ids. lane_of[code] is the lane of a code.
template <int Lanes, class Dist>
inline void report_codes(nash_index::HitSink& sink, size_t q, size_t first, int mask, __m256i d, const int* lane_of) {
  alignas(32) Dist lanes[Lanes];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), d);
  int in_order = 0;
  for (int m = mask; m; m &= m - 1) in_order |= 1 << lane_of[Lanes + __builtin_ctz(m)];
  while (in_order) {
    const int code = __builtin_ctz(in_order);
    in_order &= in_order - 1;
    const nash_index::dist_t dist = static_cast<nash_index::dist_t>(lanes[lane_of[code]]);
    if (dist <= sink.thresholds[q]) sink.hit(q, dist, first + code);
  }
}

// Codes of V whole vectors (256, 512, 768 or 1024 bits), T queries per tile: each query's
// distances to four codes at a time are summed byte-wise (at most 8 * V per byte, no overflow),
// reduced with totals4 and compared with the threshold (held in a register, refreshed after a
// hit) at once: one branch per four codes.
template <int V, int T>
void scan_wide_tile(const nash_index::ScanBlock& b, size_t q0, nash_index::HitSink& sink) {
  const size_t cs = b.code_size;
  __m256i qv[T][V];
  __m256i above[T];
  for (int t = 0; t < T; ++t) {
    const uint8_t* qp = b.queries + (q0 + t) * cs;
    for (int v = 0; v < V; ++v) qv[t][v] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qp + 32 * v));
    above[t] = above_threshold(sink, b.query_base + q0 + t);
  }
  const size_t groups = b.n / 4;
  for (size_t g = 0; g < groups; ++g) {
    const uint8_t* c = b.codes + g * 4 * cs;
    if (g + 4 < groups) __builtin_prefetch(c + 16 * cs);
    for (int t = 0; t < T; ++t) {
      __m256i s[4];
      for (int i = 0; i < 4; ++i) {
        const uint8_t* ci = c + i * cs;
        s[i] = popcount_bytes(_mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(ci)), qv[t][0]));
        for (int v = 1; v < V; ++v)
          s[i] = _mm256_add_epi8(s[i], popcount_bytes(_mm256_xor_si256(
                                           _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ci + 32 * v)), qv[t][v])));
      }
      const __m256i d = totals4(s[0], s[1], s[2], s[3]);
      const int mask = _mm256_movemask_pd(_mm256_castsi256_pd(_mm256_cmpgt_epi64(above[t], d)));
      if (__builtin_expect(mask != 0, 0)) {
        const size_t q = b.query_base + q0 + t;
        report_codes<4, uint64_t>(sink, q, b.base + g * 4, mask, d, kInOrder4);
        above[t] = above_threshold(sink, q);
      }
    }
  }
}

// 128-bit codes, two a vector, eight a step: each vector's two codes have their 64-bit halves
// added byte-wise in pairs of vectors, and two vpsadbw give the eight totals, packed in 32-bit
// lanes in the order of kLaneOf (one compare and one branch per eight codes).
template <int T>
void scan_pairs_tile(const nash_index::ScanBlock& b, size_t q0, nash_index::HitSink& sink) {
  // code -> lane (first eight), lane -> code (last eight): vector j holds codes 2j and 2j + 1 in its
  // halves; the pair sums give qwords {0, 2, 1, 3} (and {4, 6, 5, 7}), the second set in odd lanes.
  static constexpr int kLaneOf[16] = {0, 4, 2, 6, 1, 5, 3, 7, 0, 4, 2, 6, 1, 5, 3, 7};
  __m256i bq[T], above[T];
  for (int t = 0; t < T; ++t) {
    bq[t] = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(b.queries + (q0 + t) * 16)));
    above[t] = _mm256_set1_epi32(static_cast<int>(sink.thresholds[b.query_base + q0 + t]) + 1);
  }
  const size_t steps = b.n / 8;
  for (size_t s = 0; s < steps; ++s) {
    const __m256i* c = reinterpret_cast<const __m256i*>(b.codes + s * 128);
    const __m256i c0 = _mm256_loadu_si256(c), c1 = _mm256_loadu_si256(c + 1);
    const __m256i c2 = _mm256_loadu_si256(c + 2), c3 = _mm256_loadu_si256(c + 3);
    for (int t = 0; t < T; ++t) {
      const __m256i p0 = popcount_bytes(_mm256_xor_si256(c0, bq[t])), p1 = popcount_bytes(_mm256_xor_si256(c1, bq[t]));
      const __m256i p2 = popcount_bytes(_mm256_xor_si256(c2, bq[t])), p3 = popcount_bytes(_mm256_xor_si256(c3, bq[t]));
      const __m256i x = _mm256_add_epi8(_mm256_unpacklo_epi64(p0, p1), _mm256_unpackhi_epi64(p0, p1));
      const __m256i y = _mm256_add_epi8(_mm256_unpacklo_epi64(p2, p3), _mm256_unpackhi_epi64(p2, p3));
      const __m256i d = _mm256_or_si256(_mm256_sad_epu8(x, _mm256_setzero_si256()),
                                        _mm256_slli_epi64(_mm256_sad_epu8(y, _mm256_setzero_si256()), 32));
      const int mask = _mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpgt_epi32(above[t], d)));
      if (__builtin_expect(mask != 0, 0)) {
        const size_t q = b.query_base + q0 + t;
        report_codes<8, uint32_t>(sink, q, b.base + s * 8, mask, d, kLaneOf);
        above[t] = _mm256_set1_epi32(static_cast<int>(sink.thresholds[q]) + 1);
      }
    }
  }
}

void scan_pairs(const nash_index::ScanBlock& b, nash_index::HitSink& sink) {
  for_query_tiles<2>(b.nq, [&](auto tile, size_t q0) { scan_pairs_tile<decltype(tile)::value>(b, q0, sink); });
  scan_rest<2>(b, b.n / 8 * 8, sink);
}

template <int V>
void scan_wide(const nash_index::ScanBlock& b, nash_index::HitSink& sink) {
  // Query vectors in registers: 16 ymm registers hold up to 8 of them beside the constants.
  constexpr int kTile = V >= 4 ? 2 : (V == 3 ? 2 : 4);
  for_query_tiles<kTile>(b.nq, [&](auto tile, size_t q0) {
    scan_wide_tile<V, decltype(tile)::value>(b, q0, sink);
  });
  scan_rest<V * 4>(b, b.n / 4 * 4, sink);
}

// 64-bit codes, four a vector; T queries (compile time: their broadcasts and thresholds stay in
// registers). Two vectors per step share one branch; a hit reports the codes of both, each checked
// against the threshold of the moment.
template <int T>
void scan_vector_tile(const nash_index::ScanBlock& b, size_t q0, nash_index::HitSink& sink) {
  __m256i bq[T], above[T];
  for (int t = 0; t < T; ++t) {
    bq[t] = _mm256_set1_epi64x(static_cast<long long>(load_word(b.queries + (q0 + t) * 8)));
    above[t] = above_threshold(sink, b.query_base + q0 + t);
  }
  auto report = [&](__m256i p, int t, size_t v) {
    const int mask = _mm256_movemask_pd(_mm256_castsi256_pd(_mm256_cmpgt_epi64(above[t], p)));
    report_codes<4, uint64_t>(sink, b.query_base + q0 + t, b.base + v * 4, mask, p, kInOrder4);
  };
  const size_t nvec = b.n / 4;
  size_t v = 0;
  for (; v + 2 <= nvec; v += 2) {
    const __m256i c0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.codes + v * 32));
    const __m256i c1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.codes + v * 32 + 32));
    for (int t = 0; t < T; ++t) {
      const __m256i p0 = popcount_epi64(_mm256_xor_si256(c0, bq[t]));
      const __m256i p1 = popcount_epi64(_mm256_xor_si256(c1, bq[t]));
      const __m256i in = _mm256_or_si256(_mm256_cmpgt_epi64(above[t], p0), _mm256_cmpgt_epi64(above[t], p1));
      if (__builtin_expect(_mm256_movemask_pd(_mm256_castsi256_pd(in)) != 0, 0)) {
        report(p0, t, v);
        above[t] = above_threshold(sink, b.query_base + q0 + t);
        report(p1, t, v + 1);
        above[t] = above_threshold(sink, b.query_base + q0 + t);
      }
    }
  }
  if (v < nvec) {  // an odd last vector
    const __m256i c = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.codes + v * 32));
    for (int t = 0; t < T; ++t) {
      report(popcount_epi64(_mm256_xor_si256(c, bq[t])), t, v);
      above[t] = above_threshold(sink, b.query_base + q0 + t);
    }
  }
}

void scan_vector(const nash_index::ScanBlock& b, nash_index::HitSink& sink) {
  for_query_tiles<4>(b.nq, [&](auto tile, size_t q0) { scan_vector_tile<decltype(tile)::value>(b, q0, sink); });
  scan_rest<1>(b, b.n / 4 * 4, sink);
}

// KernelTable::all_distances: 64-bit codes eight at a time (the cluster scan reads every centre for
// every query: 10^4-10^5 of them, a third of a query at 10^7 codes with the scalar loop). Each lane
// keeps its least and the first code that had it; the first code at the overall least wins.
nash_index::dist_t all_distances_vec(const uint8_t* query, const uint8_t* codes, size_t count, size_t code_size,
                                     nash_index::dist_t* out, size_t* nearest) {
  if (code_size != 8 || count < 8) return all_distances<PopHw>(query, codes, count, code_size, out, nearest);
  const __m256i q = _mm256_set1_epi64x(static_cast<long long>(load_word(query)));
  const __m256i in_order = _mm256_setr_epi32(0, 2, 4, 6, 1, 3, 5, 7);  // lanes d0 d4 d1 d5 .. -> d0 .. d7
  LeastLanes lanes;
  size_t i = 0;
  for (; i + 8 <= count; i += 8) {
    const __m256i* from = reinterpret_cast<const __m256i*>(codes + i * 8);
    const __m256i a = popcount_epi64(_mm256_xor_si256(_mm256_loadu_si256(from), q));
    const __m256i b = popcount_epi64(_mm256_xor_si256(_mm256_loadu_si256(from + 1), q));
    const __m256i d = _mm256_permutevar8x32_epi32(_mm256_or_si256(a, _mm256_slli_epi64(b, 32)), in_order);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i), d);
    lanes.take(d);
  }
  return lanes.finish(query, codes, i, count, 8, out, nearest);
}

// KernelTable::within: eight bounds per compare; only the (few) lanes within tau are written out.
size_t within(const nash_index::dist_t* lower, const nash_index::dist_t* minus, size_t count, nash_index::dist_t tau,
              uint32_t* out) {
  const __m256i limit = _mm256_set1_epi32(tau);  // within: not above tau (tau may be INT32_MAX)
  size_t m = 0, i = 0;
  for (; i + 8 <= count; i += 8) {
    const __m256i bound = _mm256_sub_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(lower + i)),
                                           _mm256_loadu_si256(reinterpret_cast<const __m256i*>(minus + i)));
    int mask = ~_mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpgt_epi32(bound, limit))) & 0xFF;
    while (__builtin_expect(mask != 0, 0)) {
      out[m++] = static_cast<uint32_t>(i + __builtin_ctz(mask));
      mask &= mask - 1;
    }
  }
  return within_rest(lower, minus, i, count, tau, out, m);
}

void scan(const nash_index::ScanBlock& b, nash_index::HitSink& sink) {
  switch (b.code_size) {
    case 8: return scan_vector(b, sink);
    case 16: return scan_pairs(b, sink);
    case 32: return scan_wide<1>(b, sink);
    case 64: return scan_wide<2>(b, sink);
    case 96: return scan_wide<3>(b, sink);
    case 128: return scan_wide<4>(b, sink);
    default: return scan_dispatch_words<PopHw>(b, sink);
  }
}
// KernelTable::all_distances_u8: 32 codes a vector, one byte of each per load (slice_by_32). Each
// nibble of the query has a table of popcount(nibble ^ v), v = 0..15, so a byte of 32 codes costs
// two shuffles and no xor, and the sums come out as bytes in code order (no reduction, no packing).
// Returns the lane-wise least of the first `whole` groups (the last may hold padding).
template <size_t CS>  // the code size, or 0: read at run time
__m256i sliced_groups(const uint8_t* query, const uint8_t* sliced, size_t groups, size_t whole, size_t code_size,
                      uint8_t* out) {
  const size_t cs = CS ? CS : code_size;
  const __m256i bits = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4,
                                        0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
  const __m256i values = _mm256_setr_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
                                          0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  const __m256i low = _mm256_set1_epi8(0x0f);
  __m256i lo_table[31], hi_table[31];
  for (size_t b = 0; b < cs; ++b) {
    lo_table[b] = _mm256_shuffle_epi8(bits, _mm256_xor_si256(values, _mm256_set1_epi8(char(query[b] & 15))));
    hi_table[b] = _mm256_shuffle_epi8(bits, _mm256_xor_si256(values, _mm256_set1_epi8(char(query[b] >> 4))));
  }
  __m256i least = _mm256_set1_epi8(-1);
  for (size_t g = 0; g < groups; ++g) {
    const uint8_t* group = sliced + g * cs * 32;
    __m256i sum = _mm256_setzero_si256();
    for (size_t b = 0; b < cs; ++b) {
      const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(group + 32 * b));
      sum = _mm256_add_epi8(sum, _mm256_shuffle_epi8(lo_table[b], _mm256_and_si256(x, low)));
      sum = _mm256_add_epi8(sum, _mm256_shuffle_epi8(hi_table[b], _mm256_and_si256(_mm256_srli_epi16(x, 4), low)));
    }
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + 32 * g), sum);
    if (g < whole) least = _mm256_min_epu8(least, sum);
  }
  return least;
}

uint8_t all_distances_u8_vec(const uint8_t* query, const uint8_t* sliced, size_t count, size_t code_size,
                             uint8_t* out, size_t* nearest) {
  const size_t groups = (count + 31) / 32, whole = count / 32;
  return sliced_distances(count, code_size, out, nearest, [&](auto cs) {
    return sliced_groups<decltype(cs)::value>(query, sliced, groups, whole, code_size, out);
  });
}

// KernelTable::within_u8: lower - minus <= tau as lower <= minus + tau (saturating), 32 a compare.
size_t within_u8(const uint8_t* lower, const uint8_t* minus, size_t count, nash_index::dist_t tau, uint32_t* out) {
  if (tau < 0) return within_any(lower, minus, count, tau, out);  // never from a walk (tau >= 0)
  const __m256i limit = _mm256_set1_epi8(static_cast<char>(std::min<nash_index::dist_t>(tau, 255)));
  size_t m = 0, i = 0;
  for (; i + 32 <= count; i += 32) {
    const __m256i low = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(lower + i));
    const __m256i reach = _mm256_adds_epu8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(minus + i)), limit);
    unsigned mask = static_cast<unsigned>(_mm256_movemask_epi8(_mm256_cmpeq_epi8(_mm256_min_epu8(low, reach), low)));
    while (__builtin_expect(mask != 0, 0)) {
      out[m++] = static_cast<uint32_t>(i + __builtin_ctz(mask));
      mask &= mask - 1;
    }
  }
  return within_rest(lower, minus, i, count, tau, out, m);
}
}  // namespace

namespace nash_index {
const KernelTable& avx2_kernels() {
  static const KernelTable table{&scan,      &gather_words<PopHw>, &distance_fn<PopHw>,
                                 &all_distances_vec, &within, &all_distances_u8_vec, &within_u8, &scan_sliced, &slice_group, Lanes256::kLanes};
  return table;
}
}  // namespace nash_index
