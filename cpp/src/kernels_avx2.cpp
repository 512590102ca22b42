// AVX2 kernels: nibble-table popcount (vpshufb + vpsadbw), 4 x 64-bit lanes.
#include <immintrin.h>

#include <type_traits>

#include "kernels.hpp"

namespace {
#include "pop_hw.hpp"
#include "scan_common.hpp"

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

// The four 32-bit totals of four codes from their 64-bit lane sums s[0..3] (each lane < 2^32).
inline __m128i total4(const __m256i s[4]) {
  const __m256i x01 = _mm256_or_si256(s[0], _mm256_slli_epi64(s[1], 32));
  const __m256i x23 = _mm256_or_si256(s[2], _mm256_slli_epi64(s[3], 32));
  const __m256i y = _mm256_add_epi32(_mm256_unpacklo_epi64(x01, x23), _mm256_unpackhi_epi64(x01, x23));
  return _mm_add_epi32(_mm256_castsi256_si128(y), _mm256_extracti128_si256(y, 1));
}

// Codes of V whole vectors (256, 512, 768 or 1024 bits), T queries per tile: each query's
// distances to four codes at a time are summed byte-wise (at most 8 * V per byte, no overflow),
// reduced with one vpsadbw per code and gathered into one vector, compared with the
// threshold (held in a register, refreshed after a hit) at once: one branch per four codes.
template <int V, int T>
void scan_wide_tile(const nash_index::ScanBlock& b, size_t q0, nash_index::HitSink& sink) {
  const size_t cs = b.code_size;
  __m256i qv[T][V];
  __m128i above[T];
  for (int t = 0; t < T; ++t) {
    const uint8_t* qp = b.queries + (q0 + t) * cs;
    for (int v = 0; v < V; ++v) qv[t][v] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qp + 32 * v));
    above[t] = _mm_set1_epi32(static_cast<int>(sink.thresholds[b.query_base + q0 + t]) + 1);
  }
  const size_t groups = b.n / 4;
  for (size_t g = 0; g < groups; ++g) {
    const uint8_t* c = b.codes + g * 4 * cs;
    if (g + 4 < groups) __builtin_prefetch(c + 16 * cs);
    for (int t = 0; t < T; ++t) {
      __m256i s[4];
      for (int i = 0; i < 4; ++i) {
        const uint8_t* ci = c + i * cs;
        __m256i acc = popcount_bytes(_mm256_xor_si256(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(ci)), qv[t][0]));
        for (int v = 1; v < V; ++v)
          acc = _mm256_add_epi8(acc, popcount_bytes(_mm256_xor_si256(
                                         _mm256_loadu_si256(reinterpret_cast<const __m256i*>(ci + 32 * v)), qv[t][v])));
        s[i] = _mm256_sad_epu8(acc, _mm256_setzero_si256());
      }
      const __m128i d = total4(s);
      int mask = _mm_movemask_ps(_mm_castsi128_ps(_mm_cmpgt_epi32(above[t], d)));
      if (__builtin_expect(mask != 0, 0)) {
        const size_t q = b.query_base + q0 + t;
        alignas(16) uint32_t lanes[4];
        _mm_store_si128(reinterpret_cast<__m128i*>(lanes), d);
        while (mask) {
          const int lane = __builtin_ctz(mask);
          mask &= mask - 1;
          const nash_index::dist_t dist = static_cast<nash_index::dist_t>(lanes[lane]);
          if (dist <= sink.thresholds[q]) sink.hit(q, dist, b.base + g * 4 + lane);
        }
        above[t] = _mm_set1_epi32(static_cast<int>(sink.thresholds[q]) + 1);
      }
    }
  }
}

template <int V>
void scan_wide(const nash_index::ScanBlock& b, nash_index::HitSink& sink) {
  // Query vectors in registers: 16 ymm registers hold up to 8 of them beside the constants.
  constexpr int kTile = V >= 4 ? 2 : (V == 3 ? 2 : 4);
  for_query_tiles<kTile>(b.nq, [&](auto tile, size_t q0) {
    scan_wide_tile<V, decltype(tile)::value>(b, q0, sink);
  });
  const size_t done = b.n / 4 * 4;
  if (done < b.n) {  // the last 1..3 codes
    nash_index::ScanBlock rest = b;
    rest.codes = b.codes + done * b.code_size;
    rest.n = b.n - done;
    rest.base = b.base + done;
    scan_words<PopHw, V * 4>(rest, sink);
  }
}

// Popcount of code ^ query per 64-bit lane; W = 2: each lane of a 128-bit code holds its total.
template <int W>
inline __m256i lane_counts(__m256i code, __m256i query) {
  __m256i p = popcount_epi64(_mm256_xor_si256(code, query));
  if (W == 2) p = _mm256_add_epi64(p, _mm256_shuffle_epi32(p, 0x4E));  // both lanes of a code: its total
  return p;
}

// W = 1 (64-bit codes, 4 per vector) or W = 2 (128-bit codes, 2 per vector); T queries (compile
// time: their broadcasts and thresholds stay in registers). Two vectors per step share one
// branch; a hit reports the codes of both, each checked against the threshold of the moment.
template <int W, int T>
void scan_vector_tile(const nash_index::ScanBlock& b, size_t q0, nash_index::HitSink& sink) {
  constexpr size_t kCodesPerVec = 4 / W;
  constexpr int kLaneMask = W == 1 ? 0xF : 0x5;  // lanes that hold a whole code's count
  const size_t cs = b.code_size;
  __m256i bq[T], above[T];
  for (int t = 0; t < T; ++t) {
    const uint8_t* qp = b.queries + (q0 + t) * cs;
    bq[t] = W == 1 ? _mm256_set1_epi64x(static_cast<long long>(load_word(qp)))
                   : _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(qp)));
    above[t] = above_threshold(sink, b.query_base + q0 + t);
  }
  auto report = [&](__m256i p, int t, size_t v) {
    const size_t q = b.query_base + q0 + t;
    int mask = _mm256_movemask_pd(_mm256_castsi256_pd(_mm256_cmpgt_epi64(above[t], p))) & kLaneMask;
    alignas(32) uint64_t lanes[4];
    _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), p);
    while (mask) {
      const int lane = __builtin_ctz(mask);
      mask &= mask - 1;
      const nash_index::dist_t d = static_cast<nash_index::dist_t>(lanes[lane]);
      if (d <= sink.thresholds[q]) sink.hit(q, d, b.base + v * kCodesPerVec + lane / W);
    }
  };
  const size_t nvec = b.n / kCodesPerVec;
  size_t v = 0;
  for (; v + 2 <= nvec; v += 2) {
    const __m256i c0 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.codes + v * 32));
    const __m256i c1 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.codes + v * 32 + 32));
    for (int t = 0; t < T; ++t) {
      const __m256i p0 = lane_counts<W>(c0, bq[t]), p1 = lane_counts<W>(c1, bq[t]);
      const __m256i in = _mm256_or_si256(_mm256_cmpgt_epi64(above[t], p0), _mm256_cmpgt_epi64(above[t], p1));
      if (__builtin_expect((_mm256_movemask_pd(_mm256_castsi256_pd(in)) & kLaneMask) != 0, 0)) {
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
      report(lane_counts<W>(c, bq[t]), t, v);
      above[t] = above_threshold(sink, b.query_base + q0 + t);
    }
  }
}

template <int W>
void scan_vector(const nash_index::ScanBlock& b, nash_index::HitSink& sink) {
  for_query_tiles<4>(b.nq, [&](auto tile, size_t q0) {
    scan_vector_tile<W, decltype(tile)::value>(b, q0, sink);
  });
  // Codes left over after the last full vector.
  constexpr size_t kCodesPerVec = 4 / W;
  const size_t done = b.n / kCodesPerVec * kCodesPerVec;
  if (done < b.n) {
    nash_index::ScanBlock rest = b;
    rest.codes = b.codes + done * b.code_size;
    rest.n = b.n - done;
    rest.base = b.base + done;
    scan_words<PopHw, W>(rest, sink);
  }
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
  const size_t tail = within_words(lower + i, minus + i, count - i, tau, out + m);  // the last 0..7
  for (size_t j = m; j < m + tail; ++j) out[j] += static_cast<uint32_t>(i);
  return m + tail;
}

void scan(const nash_index::ScanBlock& b, nash_index::HitSink& sink) {
  switch (b.code_size) {
    case 8: return scan_vector<1>(b, sink);
    case 16: return scan_vector<2>(b, sink);
    case 32: return scan_wide<1>(b, sink);
    case 64: return scan_wide<2>(b, sink);
    case 96: return scan_wide<3>(b, sink);
    case 128: return scan_wide<4>(b, sink);
    default: return scan_dispatch_words<PopHw>(b, sink);
  }
}
}  // namespace

namespace nash_index {
const KernelTable& avx2_kernels() {
  static const KernelTable table{&scan, &gather_words<PopHw>, &distance_fn<PopHw>, &all_distances<PopHw>, &within};
  return table;
}
}  // namespace nash_index
