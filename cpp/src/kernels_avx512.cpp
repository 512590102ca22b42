// AVX-512 kernels with VPOPCNTDQ: 8 x 64-bit popcounts per instruction.
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "centre_kernels512.hpp"
#include "kernels.hpp"
#include "sliced_codes.hpp"

namespace {
#include "pop_hw.hpp"
#include "scan_common.hpp"
#include "sliced_lanes.hpp"
#include "sliced_scan.hpp"
#include "sliced_transpose.hpp"
#include "sliced_transpose512.hpp"
#include "planes512.hpp"

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
}  // namespace

namespace nash_index {
const KernelTable& avx512_kernels() {
  // The centre kernels are in kernels_avx512_centres.cpp; `within` is AVX2's (every AVX-512 CPU has AVX2).
  static const KernelTable table{&scan,
                                 &gather,
                                 &distance_fn<PopHw>,
                                 avx512_centres_kernels().all_distances,
                                 avx2_kernels().within,
                                 avx512_centres_kernels().all_distances_u8,
                                 avx512_centres_kernels().within_u8,
                                 &scan_sliced,  // vpternlog adders over 512 codes a plane
                                 &slice_group_512,
                                 Lanes512::kLanes};
  return table;
}
}  // namespace nash_index
