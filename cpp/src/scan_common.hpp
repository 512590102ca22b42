// Word-at-a-time scan loops shared by every ISA translation unit.
//
// Include this ONLY inside an anonymous namespace of a kernels_*.cpp file: each
// TU then gets its own copy compiled with its own -m flags (no ODR sharing).
// `Pop` is a functor giving popcount of a uint64_t for that ISA.
//
// Standard headers must be included by the TU *before* its anonymous namespace:
// a header first included inside it declares memcpy there, and every 8-byte
// load became a call into libc (10-30x slower scans).
#pragma once

inline uint64_t load_word(const uint8_t* p) {
  uint64_t w;
  __builtin_memcpy(&w, p, 8);
  return w;
}

// Tail of 1..7 bytes, zero padded (both sides are padded alike, so xor is 0 there).
inline uint64_t load_tail(const uint8_t* p, size_t nbytes) {
  uint64_t w = 0;
  __builtin_memcpy(&w, p, nbytes);
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

// T queries (compile time: their words and thresholds stay in registers) against
// every code of the block; each code is loaded once per tile. W > 0: codes of
// exactly W words; W == 0: any size.
template <class Pop, int W, int T>
void scan_tile_words(const nash_index::ScanBlock& b, size_t q0, nash_index::HitSink& sink) {
  constexpr int kWords = W > 0 ? W : 1;
  const size_t cs = b.code_size;
  const uint8_t* qp[T];
  uint64_t qw[T][kWords];
  nash_index::dist_t threshold[T];
  for (int t = 0; t < T; ++t) {
    qp[t] = b.queries + (q0 + t) * cs;
    for (int w = 0; w < kWords; ++w) qw[t][w] = W > 0 ? load_word(qp[t] + 8 * w) : 0;
    threshold[t] = sink.thresholds[b.query_base + q0 + t];
  }
  for (size_t j = 0; j < b.n; ++j) {
    const uint8_t* code = b.codes + j * cs;
    uint64_t cw[kWords];
    for (int w = 0; w < kWords; ++w) cw[w] = W > 0 ? load_word(code + 8 * w) : 0;
    for (int t = 0; t < T; ++t) {
      nash_index::dist_t d;
      if (W > 0) {
        uint64_t total = 0;
        for (int w = 0; w < kWords; ++w) total += Pop{}(cw[w] ^ qw[t][w]);
        d = static_cast<nash_index::dist_t>(total);
      } else {
        d = distance_any<Pop>(qp[t], code, cs);
      }
      if (__builtin_expect(d <= threshold[t], 0)) {
        const size_t q = b.query_base + q0 + t;
        sink.hit(q, d, b.base + j);
        threshold[t] = sink.thresholds[q];
      }
    }
  }
}

template <class Pop, int W>
void scan_words(const nash_index::ScanBlock& b, nash_index::HitSink& sink) {
  constexpr size_t kTile = 4;
  size_t q0 = 0;
  for (; q0 + kTile <= b.nq; q0 += kTile) scan_tile_words<Pop, W, kTile>(b, q0, sink);
  switch (b.nq - q0) {
    case 1: return scan_tile_words<Pop, W, 1>(b, q0, sink);
    case 2: return scan_tile_words<Pop, W, 2>(b, q0, sink);
    case 3: return scan_tile_words<Pop, W, 3>(b, q0, sink);
    default: return;
  }
}

template <class Pop>
void scan_dispatch_words(const nash_index::ScanBlock& b, nash_index::HitSink& sink) {
  switch (b.code_size) {
    case 8: return scan_words<Pop, 1>(b, sink);
    case 16: return scan_words<Pop, 2>(b, sink);
    case 24: return scan_words<Pop, 3>(b, sink);
    case 32: return scan_words<Pop, 4>(b, sink);
    case 40: return scan_words<Pop, 5>(b, sink);
    case 48: return scan_words<Pop, 6>(b, sink);
    case 56: return scan_words<Pop, 7>(b, sink);
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

// Kernel table of a level without vector kernels: the word loops above.
template <class Pop>
const nash_index::KernelTable& word_kernels() {
  static const nash_index::KernelTable table{&scan_dispatch_words<Pop>, &gather_words<Pop>, &distance_fn<Pop>};
  return table;
}
