// Hardware bounds for bench/bench_limits.py, measured on this machine in the same run as the
// index: built by bench/limits_bounds.py with the system compiler and loaded with ctypes.
//
//   stream_read_seconds: one pass of `threads` threads reading [p, p + n) with 32-byte loads
//     (the least a scan of n bytes of codes can cost once they are beyond the caches).
//   pair_seconds: time of (code, query) pairs of xor + popcount + compare with the codes in
//     L1 and kQueries queries held in registers (the compute bound of a batch scan).
//
// No -march: the ISA of each function is named by its target attribute (AVX2 + POPCNT, and
// AVX-512 with VPOPCNTQ for the loop that needs it; the caller checks the CPU flags first).
#include <immintrin.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <thread>
#include <type_traits>
#include <vector>

namespace {

#define NASH_BOUND_TARGET __attribute__((target("avx2,popcnt"), noinline))

NASH_BOUND_TARGET uint64_t read_slice(const uint8_t* p, size_t n) {
  __m256i acc0 = _mm256_setzero_si256(), acc1 = acc0, acc2 = acc0, acc3 = acc0;
  size_t i = 0;
  for (; i + 128 <= n; i += 128) {
    acc0 = _mm256_or_si256(acc0, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i)));
    acc1 = _mm256_or_si256(acc1, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i + 32)));
    acc2 = _mm256_or_si256(acc2, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i + 64)));
    acc3 = _mm256_or_si256(acc3, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + i + 96)));
  }
  const __m256i acc = _mm256_or_si256(_mm256_or_si256(acc0, acc1), _mm256_or_si256(acc2, acc3));
  alignas(32) uint64_t lanes[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), acc);
  uint64_t out = lanes[0] | lanes[1] | lanes[2] | lanes[3];
  for (; i < n; ++i) out |= p[i];
  return out;
}

constexpr int kQueries = 8;

// Pairs within `threshold` over `reps` passes of the codes (the count keeps the work observable).
template <int W>
NASH_BOUND_TARGET uint64_t count_pairs(const uint64_t* codes, size_t ncodes, const uint64_t* queries,
                                       uint32_t threshold, size_t reps) {
  uint64_t q[kQueries][W];
  for (int t = 0; t < kQueries; ++t)
    for (int w = 0; w < W; ++w) q[t][w] = queries[t * W + w];
  uint64_t hits = 0;
  for (size_t r = 0; r < reps; ++r) {
    for (size_t j = 0; j < ncodes; ++j) {
      const uint64_t* c = codes + j * W;
      for (int t = 0; t < kQueries; ++t) {
        uint32_t d = 0;
        for (int w = 0; w < W; ++w) d += static_cast<uint32_t>(__builtin_popcountll(c[w] ^ q[t][w]));
        hits += d <= threshold;
      }
    }
    __asm__ volatile("" : : : "memory");  // one pass per rep: the compiler may not fold them
  }
  return hits;
}

NASH_BOUND_TARGET inline __m256i byte_counts(__m256i v) {
  const __m256i lut = _mm256_setr_epi8(0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4,
                                       0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4);
  const __m256i low = _mm256_set1_epi8(0x0f);
  return _mm256_add_epi8(_mm256_shuffle_epi8(lut, _mm256_and_si256(v, low)),
                         _mm256_shuffle_epi8(lut, _mm256_and_si256(_mm256_srli_epi16(v, 4), low)));
}

// The same count with AVX2 (nibble-table popcount, vpsadbw): four 64-bit codes per vector, or
// codes of V = W / 4 vectors summed byte-wise, four codes reduced into one compare. The bound
// is the faster of this and the scalar loop: whichever way the CPU counts bits fastest.
template <int W>
NASH_BOUND_TARGET uint64_t count_pairs_avx2(const uint64_t* codes, size_t ncodes, const uint64_t* queries,
                                            uint32_t threshold, size_t reps) {
  constexpr int kQ = W <= 2 ? 8 : 2;
  constexpr int V = W < 4 ? 1 : W / 4;
  __m256i q[kQ][V];
  for (int t = 0; t < kQ; ++t)
    for (int v = 0; v < V; ++v)
      q[t][v] = W == 1   ? _mm256_set1_epi64x(static_cast<long long>(queries[t]))
                : W == 2 ? _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(queries + 2 * t)))
                         : _mm256_loadu_si256(reinterpret_cast<const __m256i*>(queries + t * W + 4 * v));
  const __m256i thr = _mm256_set1_epi64x(threshold + 1);
  const __m128i thr32 = _mm_set1_epi32(static_cast<int>(threshold) + 1);
  uint64_t hits = 0;
  const size_t step = W <= 2 ? 4 / W : 4;  // codes per iteration
  for (size_t r = 0; r < reps; ++r) {
    for (size_t j = 0; j + step <= ncodes; j += step) {
      const uint64_t* c = codes + j * W;
      for (int t = 0; t < kQ; ++t) {
        if (W <= 2) {
          __m256i p = _mm256_sad_epu8(byte_counts(_mm256_xor_si256(
                                          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(c)), q[t][0])),
                                      _mm256_setzero_si256());
          if (W == 2) p = _mm256_add_epi64(p, _mm256_shuffle_epi32(p, 0x4E));
          hits += __builtin_popcount(_mm256_movemask_pd(_mm256_castsi256_pd(_mm256_cmpgt_epi64(thr, p))));
        } else {
          __m256i s[4];
          for (int i = 0; i < 4; ++i) {
            __m256i acc = _mm256_setzero_si256();
            for (int v = 0; v < V; ++v)
              acc = _mm256_add_epi8(acc, byte_counts(_mm256_xor_si256(
                                             _mm256_loadu_si256(reinterpret_cast<const __m256i*>(c + i * W + 4 * v)),
                                             q[t][v])));
            s[i] = _mm256_sad_epu8(acc, _mm256_setzero_si256());
          }
          const __m256i x01 = _mm256_or_si256(s[0], _mm256_slli_epi64(s[1], 32));
          const __m256i x23 = _mm256_or_si256(s[2], _mm256_slli_epi64(s[3], 32));
          const __m256i y = _mm256_add_epi32(_mm256_unpacklo_epi64(x01, x23), _mm256_unpackhi_epi64(x01, x23));
          const __m128i d = _mm_add_epi32(_mm256_castsi256_si128(y), _mm256_extracti128_si256(y, 1));
          hits += __builtin_popcount(_mm_movemask_ps(_mm_castsi128_ps(_mm_cmpgt_epi32(thr32, d))));
        }
      }
    }
    __asm__ volatile("" : : : "memory");
  }
  return hits * (8 / kQ);  // pairs are counted for kQ queries; the caller counts 8 (kQueries)
}

#define NASH_BOUND_TARGET_512 __attribute__((target("avx512f,avx512vpopcntdq,avx2,popcnt"), noinline))

// The same count with AVX-512 VPOPCNTQ, the codes laid out as word planes (plane w of a block holds
// word w of its 8 codes: the layout a blocked kernel transposes into), 8 codes per compare; the
// query words come as broadcasts (from registers or, for wide codes, embedded in the xor).
template <int W>
NASH_BOUND_TARGET_512 uint64_t count_pairs_avx512(const uint64_t* codes, size_t ncodes, const uint64_t* queries,
                                                  uint32_t threshold, size_t reps) {
  const __m512i thr = _mm512_set1_epi64(threshold), one = _mm512_set1_epi64(1);
  __m512i hits = _mm512_setzero_si512();
  for (size_t r = 0; r < reps; ++r) {
    for (size_t j = 0; j + 8 <= ncodes; j += 8) {
      const uint64_t* block = codes + j * W;  // W planes of 8 words
      for (int t = 0; t < kQueries; ++t) {
        __m512i d = _mm512_popcnt_epi64(_mm512_xor_si512(
            _mm512_loadu_si512(block), _mm512_set1_epi64(static_cast<long long>(queries[t * W]))));
        for (int w = 1; w < W; ++w)
          d = _mm512_add_epi64(d, _mm512_popcnt_epi64(_mm512_xor_si512(
                                      _mm512_loadu_si512(block + 8 * w),
                                      _mm512_set1_epi64(static_cast<long long>(queries[t * W + w])))));
        hits = _mm512_mask_add_epi64(hits, _mm512_cmple_epu64_mask(d, thr), hits, one);
      }
    }
    __asm__ volatile("" : : : "memory");
  }
  return static_cast<uint64_t>(_mm512_reduce_add_epi64(hits));
}

// Runs kernel(std::integral_constant<int, W>) for the code width in 64-bit words (0 for widths
// without an instantiation): one switch for both loops.
template <typename Kernel>
uint64_t by_words(int words, Kernel kernel) {
  switch (words) {
    case 1: return kernel(std::integral_constant<int, 1>{});
    case 2: return kernel(std::integral_constant<int, 2>{});
    case 4: return kernel(std::integral_constant<int, 4>{});
    case 8: return kernel(std::integral_constant<int, 8>{});
    case 16: return kernel(std::integral_constant<int, 16>{});
    default: return 0;
  }
}

uint64_t count_pairs_avx2_any(int words, const uint64_t* codes, size_t ncodes, const uint64_t* queries,
                              uint32_t threshold, size_t reps) {
  return by_words(words, [&](auto w) {
    return count_pairs_avx2<decltype(w)::value>(codes, ncodes, queries, threshold, reps);
  });
}

uint64_t count_pairs_avx512_any(int words, const uint64_t* codes, size_t ncodes, const uint64_t* queries,
                                uint32_t threshold, size_t reps) {
  return by_words(words, [&](auto w) {
    return count_pairs_avx512<decltype(w)::value>(codes, ncodes, queries, threshold, reps);
  });
}

uint64_t count_pairs_any(int words, const uint64_t* codes, size_t ncodes, const uint64_t* queries,
                         uint32_t threshold, size_t reps) {
  return by_words(words, [&](auto w) { return count_pairs<decltype(w)::value>(codes, ncodes, queries, threshold, reps); });
}

template <class Fn>
double run_threads(int threads, Fn fn) {
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(fn, t);
  fn(0);
  for (auto& th : pool) th.join();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

volatile uint64_t g_sink;  // results land here so that no pass is optimised away

}  // namespace

extern "C" {

double stream_read_seconds(const uint8_t* p, size_t n, int threads) {
  const size_t per = (n / threads) & ~size_t(127);
  return run_threads(threads, [&](int t) {
    const size_t begin = t * per, len = t == threads - 1 ? n - begin : per;
    g_sink = read_slice(p + begin, len);
  });
}

// Seconds of `reps` passes of every thread over its codes; *pairs gets the (code, query) pairs
// compared in all (0 for an unsupported width).
// `vector`: 1 the AVX2 loop (kQueries / its own query count passes, so pairs match), 2 the
// AVX-512 VPOPCNTQ loop, else scalar.
double pair_seconds(int words, int threads, size_t reps, int vector, double* pairs) {
  *pairs = 0;
  if (words != 1 && words != 2 && words != 4 && words != 8 && words != 16) return 0;
  constexpr size_t kCodeBytes = 16 << 10;  // half of L1d
  const size_t ncodes = kCodeBytes / (8 * words);
  const double seconds = run_threads(threads, [&](int t) {
    std::vector<uint64_t> codes(ncodes * words), queries(kQueries * words);
    uint64_t x = 0x9E3779B97F4A7C15ull * (t + 1);
    for (auto& c : codes) c = (x = x * 6364136223846793005ull + 1442695040888963407ull);
    for (auto& q : queries) q = (x = x * 6364136223846793005ull + 1442695040888963407ull);
    if (vector == 2) {
      g_sink = count_pairs_avx512_any(words, codes.data(), ncodes, queries.data(), 32 * words - 8, reps);
      return;
    }
    if (!vector) {
      g_sink = count_pairs_any(words, codes.data(), ncodes, queries.data(), 32 * words - 8, reps);
      return;
    }
    const size_t passes = words <= 2 ? 1 : kQueries / 2;  // the vector loop holds 2 wide queries
    for (size_t p = 0; p < passes; ++p)
      g_sink = count_pairs_avx2_any(words, codes.data(), ncodes, queries.data(), 32 * words - 8, reps);
  });
  *pairs = double(ncodes) * kQueries * reps * threads;
  return seconds;
}
}
