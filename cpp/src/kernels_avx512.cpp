// AVX-512 kernels with VPOPCNTDQ: 8 x 64-bit popcounts per instruction.
#include <immintrin.h>

#include "nash_index/kernels.hpp"

namespace {
#include "scan_common.hpp"

struct PopHw {
  uint64_t operator()(uint64_t x) const { return static_cast<uint64_t>(__builtin_popcountll(x)); }
};

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

// W in {1, 2, 4}: 8 / W codes per vector; a masked load handles the tail.
template <int W>
void scan_vector(const nash_index::ScanBlock& b, nash_index::HitSink& sink) {
  constexpr size_t kTile = 8;
  constexpr size_t kCodesPerVec = 8 / W;
  constexpr __mmask8 kLaneMask = W == 1 ? 0xFF : (W == 2 ? 0x55 : 0x11);
  const size_t cs = b.code_size;
  for (size_t q0 = 0; q0 < b.nq; q0 += kTile) {
    const size_t qt = (b.nq - q0 < kTile) ? b.nq - q0 : kTile;
    __m512i bq[kTile];
    for (size_t t = 0; t < qt; ++t) bq[t] = broadcast_query<W>(b.queries + (q0 + t) * cs);
    for (size_t j = 0; j < b.n; j += kCodesPerVec) {
      const size_t left = b.n - j;
      __mmask8 valid = kLaneMask;
      __m512i c;
      if (left >= kCodesPerVec) {
        c = _mm512_loadu_si512(b.codes + j * cs);
      } else {
        const __mmask8 load_mask = static_cast<__mmask8>((1u << (left * W)) - 1);
        c = _mm512_maskz_loadu_epi64(load_mask, b.codes + j * cs);
        valid &= load_mask;
      }
      for (size_t t = 0; t < qt; ++t) {
        const size_t q = b.query_base + q0 + t;
        const __m512i p = code_distances<W>(_mm512_xor_si512(c, bq[t]));
        const __m512i limit = _mm512_set1_epi64(sink.thresholds[q]);
        unsigned mask = _mm512_mask_cmple_epi64_mask(valid, p, limit);
        if (__builtin_expect(mask != 0, 0)) {
          alignas(64) uint64_t lanes[8];
          _mm512_store_si512(lanes, p);
          while (mask) {
            const int lane = __builtin_ctz(mask);
            mask &= mask - 1;
            const nash_index::dist_t d = static_cast<nash_index::dist_t>(lanes[lane]);
            if (d <= sink.thresholds[q]) sink.hit(q, d, b.base + j + lane / W);
          }
        }
      }
    }
  }
}

// Code sizes that are a multiple of 64 bytes: accumulate whole-vector popcounts.
void scan_wide(const nash_index::ScanBlock& b, nash_index::HitSink& sink) {
  const size_t cs = b.code_size, nchunks = cs / 64;
  for (size_t j = 0; j < b.n; ++j) {
    const uint8_t* code = b.codes + j * cs;
    for (size_t t = 0; t < b.nq; ++t) {
      const uint8_t* qp = b.queries + t * cs;
      __m512i acc = _mm512_setzero_si512();
      for (size_t c = 0; c < nchunks; ++c)
        acc = _mm512_add_epi64(acc, _mm512_popcnt_epi64(_mm512_xor_si512(
                                        _mm512_loadu_si512(code + 64 * c), _mm512_loadu_si512(qp + 64 * c))));
      const nash_index::dist_t d = static_cast<nash_index::dist_t>(_mm512_reduce_add_epi64(acc));
      const size_t q = b.query_base + t;
      if (d <= sink.thresholds[q]) sink.hit(q, d, b.base + j);
    }
  }
}

void scan(const nash_index::ScanBlock& b, nash_index::HitSink& sink) {
  switch (b.code_size) {
    case 8: return scan_vector<1>(b, sink);
    case 16: return scan_vector<2>(b, sink);
    case 32: return scan_vector<4>(b, sink);
    default:
      if (b.code_size % 64 == 0) return scan_wide(b, sink);
      return scan_dispatch_words<PopHw>(b, sink);
  }
}

// 64-bit codes: gather 8 codes at a time.
void gather(const nash_index::GatherBlock& g) {
  if (g.code_size != 8) return gather_words<PopHw>(g);
  const __m512i q = _mm512_set1_epi64(static_cast<long long>(load_word(g.query)));
  size_t i = 0;
  for (; i + 8 <= g.count; i += 8) {
    const __m256i pos = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(g.positions + i));
    const __m512i c = _mm512_i32gather_epi64(pos, reinterpret_cast<const long long*>(g.codes), 8);
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
  static const KernelTable table{&scan, &gather, &distance_fn<PopHw>};
  return table;
}
}  // namespace nash_index
