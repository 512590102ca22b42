// Word-at-a-time scan loops shared by every ISA translation unit.
//
// Include this ONLY inside an anonymous namespace of a kernels_*.cpp file: each
// TU then gets its own copy compiled with its own -m flags (no ODR sharing).
// `Pop` is a functor giving popcount of a uint64_t for that ISA.
#pragma once
#include <cstring>

#include "nash_index/kernels.hpp"

inline uint64_t load_word(const uint8_t* p) {
  uint64_t w;
  std::memcpy(&w, p, 8);
  return w;
}

// Tail of 1..7 bytes, zero padded (both sides are padded alike, so xor is 0 there).
inline uint64_t load_tail(const uint8_t* p, size_t nbytes) {
  uint64_t w = 0;
  std::memcpy(&w, p, nbytes);
  return w;
}

template <class Pop>
inline nash_index::dist_t distance_any(const uint8_t* a, const uint8_t* b, size_t code_size) {
  uint64_t total = 0;
  size_t i = 0;
  for (; i + 8 <= code_size; i += 8) total += Pop{}(load_word(a + i) ^ load_word(b + i));
  if (i < code_size) total += Pop{}(load_tail(a + i, code_size - i) ^ load_tail(b + i, code_size - i));
  return static_cast<nash_index::dist_t>(total);
}

// Distance for a code size of exactly W 64-bit words (compile-time unrolled).
template <class Pop, int W>
inline nash_index::dist_t distance_words(const uint8_t* a, const uint8_t* b) {
  uint64_t total = 0;
  for (int w = 0; w < W; ++w) total += Pop{}(load_word(a + 8 * w) ^ load_word(b + 8 * w));
  return static_cast<nash_index::dist_t>(total);
}

// Tile of up to kTile queries against every code of the block; one code is
// loaded once per tile. W > 0: fixed size of W words; W == 0: any size.
template <class Pop, int W>
void scan_words(const nash_index::ScanBlock& b, nash_index::HitSink& sink) {
  constexpr size_t kTile = 4;
  const size_t cs = b.code_size;
  for (size_t q0 = 0; q0 < b.nq; q0 += kTile) {
    const size_t qt = (b.nq - q0 < kTile) ? b.nq - q0 : kTile;
    const uint8_t* qbase = b.queries + q0 * cs;
    for (size_t j = 0; j < b.n; ++j) {
      const uint8_t* code = b.codes + j * cs;
      for (size_t t = 0; t < qt; ++t) {
        const nash_index::dist_t d = W > 0 ? distance_words<Pop, (W > 0 ? W : 1)>(qbase + t * cs, code)
                                           : distance_any<Pop>(qbase + t * cs, code, cs);
        const size_t q = b.query_base + q0 + t;
        if (d <= sink.thresholds[q]) sink.hit(q, d, b.base + j);
      }
    }
  }
}

template <class Pop>
void scan_dispatch_words(const nash_index::ScanBlock& b, nash_index::HitSink& sink) {
  switch (b.code_size) {
    case 8: return scan_words<Pop, 1>(b, sink);
    case 16: return scan_words<Pop, 2>(b, sink);
    case 32: return scan_words<Pop, 4>(b, sink);
    case 64: return scan_words<Pop, 8>(b, sink);
    default: return scan_words<Pop, 0>(b, sink);
  }
}

template <class Pop>
void gather_words(const nash_index::GatherBlock& g) {
  constexpr size_t kAhead = 16;  // software prefetch distance for random code fetches
  for (size_t i = 0; i < g.count; ++i) {
    if (i + kAhead < g.count) __builtin_prefetch(g.codes + size_t(g.positions[i + kAhead]) * g.code_size);
    g.out[i] = distance_any<Pop>(g.query, g.codes + size_t(g.positions[i]) * g.code_size, g.code_size);
  }
}

template <class Pop>
nash_index::dist_t distance_fn(const uint8_t* a, const uint8_t* b, size_t code_size) {
  return distance_any<Pop>(a, b, code_size);
}
