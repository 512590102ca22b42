// AVX2 kernels: nibble-table popcount (vpshufb + vpsadbw), 4 x 64-bit lanes.
#include <immintrin.h>

#include "kernels.hpp"

namespace {
#include "pop_hw.hpp"
#include "scan_common.hpp"

inline __m256i popcount_epi64(__m256i v) {
  const __m256i lut = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4,
                                       0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
  const __m256i low = _mm256_set1_epi8(0x0f);
  const __m256i lo = _mm256_and_si256(v, low);
  const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), low);
  const __m256i cnt = _mm256_add_epi8(_mm256_shuffle_epi8(lut, lo), _mm256_shuffle_epi8(lut, hi));
  return _mm256_sad_epu8(cnt, _mm256_setzero_si256());
}

// W = 1 (64-bit codes, 4 per vector) or W = 2 (128-bit codes, 2 per vector).
template <int W>
void scan_vector(const nash_index::ScanBlock& b, nash_index::HitSink& sink) {
  constexpr size_t kTile = 4;
  constexpr size_t kCodesPerVec = 4 / W;
  constexpr int kLaneMask = W == 1 ? 0xF : 0x5;  // lanes that hold a whole code's count
  const size_t cs = b.code_size;
  const size_t nvec = b.n / kCodesPerVec;
  for (size_t q0 = 0; q0 < b.nq; q0 += kTile) {
    const size_t qt = (b.nq - q0 < kTile) ? b.nq - q0 : kTile;
    __m256i bq[kTile];
    for (size_t t = 0; t < qt; ++t) {
      const uint8_t* qp = b.queries + (q0 + t) * cs;
      bq[t] = W == 1 ? _mm256_set1_epi64x(static_cast<long long>(load_word(qp)))
                     : _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(qp)));
    }
    for (size_t v = 0; v < nvec; ++v) {
      const __m256i c = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b.codes + v * 32));
      for (size_t t = 0; t < qt; ++t) {
        const size_t q = b.query_base + q0 + t;
        __m256i p = popcount_epi64(_mm256_xor_si256(c, bq[t]));
        if (W == 2) p = _mm256_add_epi64(p, _mm256_shuffle_epi32(p, 0x4E));
        // d <= threshold as threshold + 1 > d: AVX2 has only a signed greater-than.
        const __m256i above = _mm256_set1_epi64x(static_cast<long long>(sink.thresholds[q]) + 1);
        int mask = _mm256_movemask_pd(_mm256_castsi256_pd(_mm256_cmpgt_epi64(above, p))) & kLaneMask;
        if (__builtin_expect(mask != 0, 0)) {
          alignas(32) uint64_t lanes[4];
          _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), p);
          while (mask) {
            const int lane = __builtin_ctz(mask);
            mask &= mask - 1;
            const nash_index::dist_t d = static_cast<nash_index::dist_t>(lanes[lane]);
            if (d <= sink.thresholds[q]) sink.hit(q, d, b.base + v * kCodesPerVec + lane / W);
          }
        }
      }
    }
  }
  // Codes left over after the last full vector.
  const size_t done = nvec * kCodesPerVec;
  if (done < b.n) {
    nash_index::ScanBlock rest = b;
    rest.codes = b.codes + done * cs;
    rest.n = b.n - done;
    rest.base = b.base + done;
    scan_words<PopHw, W>(rest, sink);
  }
}

void scan(const nash_index::ScanBlock& b, nash_index::HitSink& sink) {
  switch (b.code_size) {
    case 8: return scan_vector<1>(b, sink);
    case 16: return scan_vector<2>(b, sink);
    default: return scan_dispatch_words<PopHw>(b, sink);
  }
}
}  // namespace

namespace nash_index {
const KernelTable& avx2_kernels() {
  static const KernelTable table{&scan, &gather_words<PopHw>, &distance_fn<PopHw>};
  return table;
}
}  // namespace nash_index
