// AVX-512 kernels with VPOPCNTDQ: 8 x 64-bit popcounts per instruction.
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels.hpp"
#include "sliced_codes.hpp"

namespace {
#include "pop_hw.hpp"
#include "scan_common.hpp"
#include "sliced_lanes.hpp"
#include "sliced_scan.hpp"
#include "sliced_transpose.hpp"
#include "sliced_transpose512.hpp"
#include "least_u8.hpp"

void scan_sliced(const nash_index::SlicedBlock& b, nash_index::HitSink& sink) { scan_sliced_lanes<Lanes512>(b, sink); }

// Broadcast one query of W words to every code slot of a vector.
template <int W>
inline __m512i broadcast_query(const uint8_t* q) {
  if (W == 1) return _mm512_set1_epi64(static_cast<long long>(load_word(q)));
  if (W == 2) return _mm512_broadcast_i32x4(_mm_loadu_si128(reinterpret_cast<const __m128i*>(q)));
  return _mm512_broadcast_i64x4(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(q)));
}

// Per-lane popcounts summed so that the first lane of each code holds its distance.
template <int W>
inline __m512i code_distances(__m512i x) {
  __m512i p = _mm512_popcnt_epi64(x);
  if (W >= 2) p = _mm512_add_epi64(p, _mm512_shuffle_epi32(p, _MM_PERM_BADC));
  if (W >= 4) p = _mm512_add_epi64(p, _mm512_shuffle_i64x2(p, p, _MM_SHUFFLE(2, 3, 0, 1)));
  return p;
}

// Codes of W words (W in {1, 2, 4}) are handled 8 at a time as W "word planes":
// plane j holds word j of each of the 8 codes, so lane i is code i. The
// transposition costs a few shuffles per 8 codes and is shared by a tile of T
// queries; per query a group then costs W xor + W popcnt + (W-1) add + 1 compare,
// with the query words and thresholds held in registers across the block.
template <int W>
inline void load_planes(const uint8_t* p, __m512i* planes) {
  if (W == 1) {
    planes[0] = _mm512_loadu_si512(p);
  } else if (W == 2) {
    const __m512i a = _mm512_loadu_si512(p), b = _mm512_loadu_si512(p + 64);
    planes[0] = _mm512_permutex2var_epi64(a, _mm512_setr_epi64(0, 2, 4, 6, 8, 10, 12, 14), b);
    planes[1] = _mm512_permutex2var_epi64(a, _mm512_setr_epi64(1, 3, 5, 7, 9, 11, 13, 15), b);
  } else {
    const __m512i v0 = _mm512_loadu_si512(p), v1 = _mm512_loadu_si512(p + 64);
    const __m512i v2 = _mm512_loadu_si512(p + 128), v3 = _mm512_loadu_si512(p + 192);
    const __m512i i01 = _mm512_setr_epi64(0, 4, 8, 12, 1, 5, 9, 13), i23 = _mm512_setr_epi64(2, 6, 10, 14, 3, 7, 11, 15);
    // a01: words 0 and 1 of codes 0..3, a23: words 2 and 3; b*: codes 4..7.
    const __m512i a01 = _mm512_permutex2var_epi64(v0, i01, v1), a23 = _mm512_permutex2var_epi64(v0, i23, v1);
    const __m512i b01 = _mm512_permutex2var_epi64(v2, i01, v3), b23 = _mm512_permutex2var_epi64(v2, i23, v3);
    planes[0] = _mm512_shuffle_i64x2(a01, b01, _MM_SHUFFLE(1, 0, 1, 0));
    planes[1] = _mm512_shuffle_i64x2(a01, b01, _MM_SHUFFLE(3, 2, 3, 2));
    planes[2] = _mm512_shuffle_i64x2(a23, b23, _MM_SHUFFLE(1, 0, 1, 0));
    planes[3] = _mm512_shuffle_i64x2(a23, b23, _MM_SHUFFLE(3, 2, 3, 2));
  }
}

template <int W>
inline __m512i group_distances(const __m512i* planes, const __m512i* q) {
  __m512i s = _mm512_popcnt_epi64(_mm512_xor_si512(planes[0], q[0]));
  for (int w = 1; w < W; ++w) s = _mm512_add_epi64(s, _mm512_popcnt_epi64(_mm512_xor_si512(planes[w], q[w])));
  return s;
}

// Rare path, kept out of the loop: passes each lane in `mask` to the sink.
__attribute__((noinline)) void deliver(nash_index::HitSink& sink, size_t q, unsigned mask, __m512i dist,
                                       size_t pos0) {
  alignas(64) uint64_t lanes[8];
  _mm512_store_si512(lanes, dist);
  while (mask) {
    const int lane = __builtin_ctz(mask);
    mask &= mask - 1;
    const nash_index::dist_t d = static_cast<nash_index::dist_t>(lanes[lane]);
    if (d <= sink.thresholds[q]) sink.hit(q, d, pos0 + static_cast<size_t>(lane));
  }
}

// Bytes ahead of the scan to prefetch: beyond L2 the hardware prefetcher alone left the scans of
// 2-4 words a code at ~20 GB/s a thread where the 1-word scan streams at ~27.
constexpr size_t kPrefetchAhead = 2048;

// T queries (compile time, so that their words and thresholds stay in registers)
// against every code of the block. The loop over groups makes no call: a group where any query
// has a hit leaves it for hit_group, and the loop resumes after it. With the hit handling inside
// the loop every register lived across a call, so each query's words and threshold were reloaded
// from the stack for every group.
template <int W, int T>
void scan_tile(const nash_index::ScanBlock& b, size_t q0, nash_index::HitSink& sink) {
  __m512i qw[T][W], threshold[T];
  for (int t = 0; t < T; ++t) {
    const uint8_t* qp = b.queries + (q0 + t) * b.code_size;
    for (int w = 0; w < W; ++w) qw[t][w] = _mm512_set1_epi64(static_cast<long long>(load_word(qp + 8 * w)));
    threshold[t] = _mm512_set1_epi64(sink.thresholds[b.query_base + q0 + t]);
  }
  auto any_hit = [&](const __m512i* planes, __mmask8 valid) {
    __mmask8 any = 0;
    for (int t = 0; t < T; ++t) any |= _mm512_mask_cmple_epi64_mask(valid, group_distances<W>(planes, qw[t]), threshold[t]);
    return any != 0;
  };
  auto hit_group = [&](const __m512i* planes, size_t j, __mmask8 valid) {
    for (int t = 0; t < T; ++t) {
      const __m512i dist = group_distances<W>(planes, qw[t]);
      const unsigned mask = _mm512_mask_cmple_epi64_mask(valid, dist, threshold[t]);
      if (mask != 0) {
        const size_t q = b.query_base + q0 + t;
        deliver(sink, q, mask, dist, b.base + j);
        threshold[t] = _mm512_set1_epi64(sink.thresholds[q]);
      }
    }
  };
  const size_t full = b.n & ~size_t(7);
  __m512i planes[W];
  for (size_t j = 0; j < full; j += 8) {
    for (; j < full; j += 8) {  // call-free: stops at the first group with a hit
      const uint8_t* block = b.codes + j * 8 * W;
      for (int w = 0; w < W; ++w) _mm_prefetch(reinterpret_cast<const char*>(block + kPrefetchAhead + 64 * w), _MM_HINT_T0);
      load_planes<W>(block, planes);
      if (__builtin_expect(any_hit(planes, 0xFF), 0)) break;
    }
    if (j < full) hit_group(planes, j, 0xFF);
  }
  if (full < b.n) {  // last 1..7 codes: zero-padded copy, padding lanes masked off
    alignas(64) uint8_t tail[8 * 8 * W] = {};
    std::memcpy(tail, b.codes + full * 8 * W, (b.n - full) * 8 * W);
    load_planes<W>(tail, planes);
    hit_group(planes, full, static_cast<__mmask8>((1u << (b.n - full)) - 1));
  }
}

template <int W>
void scan_vector(const nash_index::ScanBlock& b, nash_index::HitSink& sink) {
  // Register budget: T * W query vectors + T thresholds + W planes out of 32.
  constexpr int kTile = W == 4 ? 4 : 8;
  for_query_tiles<kTile>(b.nq, [&](auto tile, size_t q0) { scan_tile<W, decltype(tile)::value>(b, q0, sink); });
}

// 32-bit codes: 16 per vector, one 32-bit popcount lane per code.
__attribute__((noinline)) void deliver32(nash_index::HitSink& sink, size_t q, unsigned mask, __m512i dist,
                                         size_t pos0) {
  alignas(64) int32_t lanes[16];
  _mm512_store_si512(lanes, dist);
  while (mask) {
    const int lane = __builtin_ctz(mask);
    mask &= mask - 1;
    if (lanes[lane] <= sink.thresholds[q]) sink.hit(q, lanes[lane], pos0 + static_cast<size_t>(lane));
  }
}

template <int T>
void scan_tile32(const nash_index::ScanBlock& b, size_t q0, nash_index::HitSink& sink) {
  __m512i qv[T], threshold[T];
  for (int t = 0; t < T; ++t) {
    uint32_t q;
    std::memcpy(&q, b.queries + (q0 + t) * 4, 4);
    qv[t] = _mm512_set1_epi32(static_cast<int>(q));
    threshold[t] = _mm512_set1_epi32(sink.thresholds[b.query_base + q0 + t]);
  }
  auto any_hit = [&](__m512i codes, __mmask16 valid) {
    __mmask16 any = 0;
    for (int t = 0; t < T; ++t)
      any |= _mm512_mask_cmple_epi32_mask(valid, _mm512_popcnt_epi32(_mm512_xor_si512(codes, qv[t])), threshold[t]);
    return any != 0;
  };
  auto hit_group = [&](__m512i codes, size_t j, __mmask16 valid) {
    for (int t = 0; t < T; ++t) {
      const __m512i dist = _mm512_popcnt_epi32(_mm512_xor_si512(codes, qv[t]));
      const unsigned mask = _mm512_mask_cmple_epi32_mask(valid, dist, threshold[t]);
      if (mask != 0) {
        const size_t q = b.query_base + q0 + t;
        deliver32(sink, q, mask, dist, b.base + j);
        threshold[t] = _mm512_set1_epi32(sink.thresholds[q]);
      }
    }
  };
  const size_t full = b.n & ~size_t(15);
  for (size_t j = 0; j < full; j += 16) {
    for (; j < full; j += 16)  // call-free, as in scan_tile: stops at the first group with a hit
      if (__builtin_expect(any_hit(_mm512_loadu_si512(b.codes + j * 4), 0xFFFF), 0)) break;
    if (j < full) hit_group(_mm512_loadu_si512(b.codes + j * 4), j, 0xFFFF);
  }
  if (full < b.n) {  // last 1..15 codes: zero-padded copy, padding lanes masked off
    alignas(64) uint8_t tail[64] = {};
    std::memcpy(tail, b.codes + full * 4, (b.n - full) * 4);
    hit_group(_mm512_load_si512(tail), full, static_cast<__mmask16>((1u << (b.n - full)) - 1));
  }
}

void scan_vector32(const nash_index::ScanBlock& b, nash_index::HitSink& sink) {
  for_query_tiles<8>(b.nq, [&](auto tile, size_t q0) { scan_tile32<decltype(tile)::value>(b, q0, sink); });
}

// Lane i of the result: the sum of a[i]'s eight lanes (8 horizontal sums in 14 shuffles, 7 adds).
inline __m512i sum_lanes8(const __m512i* a) {
  __m512i pairs[4];  // pairs[i], 128-bit lane L: a[2i] and a[2i+1] summed over lane L's two words
  for (int i = 0; i < 4; ++i)
    pairs[i] = _mm512_add_epi64(_mm512_unpacklo_epi64(a[2 * i], a[2 * i + 1]), _mm512_unpackhi_epi64(a[2 * i], a[2 * i + 1]));
  auto fold = [](__m512i x, __m512i y) {  // lanes 0+1, 2+3 of x, then of y
    return _mm512_add_epi64(_mm512_shuffle_i64x2(x, y, _MM_SHUFFLE(2, 0, 2, 0)),
                            _mm512_shuffle_i64x2(x, y, _MM_SHUFFLE(3, 1, 3, 1)));
  };
  return fold(fold(pairs[0], pairs[1]), fold(pairs[2], pairs[3]));
}

// Per-lane popcounts of code ^ query over nchunks 64-byte chunks (their sum is the distance).
inline __m512i chunk_popcounts(const uint8_t* code, const uint8_t* query, size_t nchunks) {
  __m512i acc = _mm512_popcnt_epi64(_mm512_xor_si512(_mm512_loadu_si512(code), _mm512_loadu_si512(query)));
  for (size_t c = 1; c < nchunks; ++c)
    acc = _mm512_add_epi64(acc, _mm512_popcnt_epi64(_mm512_xor_si512(_mm512_loadu_si512(code + 64 * c),
                                                                     _mm512_loadu_si512(query + 64 * c))));
  return acc;
}

// Code sizes that are a multiple of 64 bytes: 8 codes a step, whole-vector popcounts per code,
// their eight sums reduced together, one compare per query and step (codes prefetched ahead: a
// single query streams them).
void scan_wide(const nash_index::ScanBlock& b, nash_index::HitSink& sink) {
  const size_t cs = b.code_size, nchunks = cs / 64, full = b.n & ~size_t(7);
  for (size_t j = 0; j < full; j += 8) {
    const uint8_t* block = b.codes + j * cs;
    for (size_t line = 0; line < 8 * nchunks; ++line)
      _mm_prefetch(reinterpret_cast<const char*>(block + kPrefetchAhead + 64 * line), _MM_HINT_T0);
    for (size_t t = 0; t < b.nq; ++t) {
      const uint8_t* qp = b.queries + t * cs;
      __m512i acc[8];
      for (int i = 0; i < 8; ++i) acc[i] = chunk_popcounts(block + size_t(i) * cs, qp, nchunks);
      const __m512i dist = sum_lanes8(acc);
      const size_t q = b.query_base + t;
      const unsigned mask = _mm512_cmple_epi64_mask(dist, _mm512_set1_epi64(sink.thresholds[q]));
      if (__builtin_expect(mask != 0, 0)) deliver(sink, q, mask, dist, b.base + j);
    }
  }
  for (size_t j = full; j < b.n; ++j) {  // the last 0..7 codes one by one
    const uint8_t* code = b.codes + j * cs;
    for (size_t t = 0; t < b.nq; ++t) {
      const __m512i acc = chunk_popcounts(code, b.queries + t * cs, nchunks);
      const nash_index::dist_t d = static_cast<nash_index::dist_t>(_mm512_reduce_add_epi64(acc));
      const size_t q = b.query_base + t;
      if (d <= sink.thresholds[q]) sink.hit(q, d, b.base + j);
    }
  }
}

void scan(const nash_index::ScanBlock& b, nash_index::HitSink& sink) {
  switch (b.code_size) {
    case 4: return scan_vector32(b, sink);
    case 8: return scan_vector<1>(b, sink);
    case 16: return scan_vector<2>(b, sink);
    case 32: return scan_vector<4>(b, sink);
    default:
      if (b.code_size % 64 == 0) return scan_wide(b, sink);
      return scan_dispatch_words<PopHw>(b, sink);
  }
}

// 64-bit codes: gather 8 codes at a time. Positions are unsigned 32-bit:
// they are widened to 64-bit indices (a 32-bit gather would read positions
// from 2^31 up as negative offsets, before the codes).
void gather(const nash_index::GatherBlock& g) {
  if (g.code_size != 8) return gather_words<PopHw>(g);
  const __m512i q = _mm512_set1_epi64(static_cast<long long>(load_word(g.query)));
  size_t i = 0;
  for (; i + 8 <= g.count; i += 8) {
    const __m256i pos = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(g.positions + i));
    const __m512i c = _mm512_i64gather_epi64(_mm512_cvtepu32_epi64(pos), reinterpret_cast<const long long*>(g.codes), 8);
    const __m512i p = _mm512_popcnt_epi64(_mm512_xor_si512(c, q));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(g.out + i), _mm512_cvtepi64_epi32(p));
  }
  for (; i < g.count; ++i)
    g.out[i] = static_cast<nash_index::dist_t>(
        __builtin_popcountll(load_word(g.codes + size_t(g.positions[i]) * 8) ^ load_word(g.query)));
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

uint8_t all_distances_u8(const uint8_t* query, const uint8_t* sliced, size_t count, size_t code_size, uint8_t* out,
                         size_t* nearest) {
  const size_t groups = (count + 31) / 32, whole = count / 32;
  __m256i least;
  switch (code_size) {
    case 8: least = sliced_groups_512<8>(query, sliced, groups, whole, code_size, out); break;
    case 16: least = sliced_groups_512<16>(query, sliced, groups, whole, code_size, out); break;
    default: least = sliced_groups_512<0>(query, sliced, groups, whole, code_size, out);
  }
  return least_and_first_u8(least, count, out, nearest);
}

// KernelTable::within_u8: lower <= minus + tau (saturating), 64 bounds a compare into a mask.
size_t within_u8(const uint8_t* lower, const uint8_t* minus, size_t count, nash_index::dist_t tau, uint32_t* out) {
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
  const size_t tail = within_any(lower + i, minus + i, count - i, tau, out + m);
  for (size_t j = m; j < m + tail; ++j) out[j] += static_cast<uint32_t>(i);
  return m + tail;
}
}  // namespace

namespace nash_index {
const KernelTable& avx512_kernels() {
  // The int32 centre kernels are AVX2's (every AVX-512 CPU has AVX2): called through pointers.
  static const KernelTable table{&scan,
                                 &gather,
                                 &distance_fn<PopHw>,
                                 avx2_kernels().all_distances,
                                 avx2_kernels().within,
                                 &all_distances_u8,
                                 &within_u8,
                                 &scan_sliced,  // vpternlog adders over 512 codes a plane
                                 &slice_group_512,
                                 Lanes512::kLanes};
  return table;
}
}  // namespace nash_index
