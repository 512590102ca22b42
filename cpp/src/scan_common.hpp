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
// Assembled in registers from fixed-size loads: a byte copy into a zeroed word
// on the stack stalls store forwarding on the 8-byte reload, and made every code
// size that is not a whole number of words (32, 48, 96 bits...) scan ~40x
// slower than 64 bits.
inline uint64_t load_u16(const uint8_t* p) {
  uint16_t v;
  __builtin_memcpy(&v, p, 2);
  return v;
}
inline uint64_t load_u32(const uint8_t* p) {
  uint32_t v;
  __builtin_memcpy(&v, p, 4);
  return v;
}
inline uint64_t load_tail(const uint8_t* p, size_t nbytes) {
  switch (nbytes) {
    case 1: return p[0];
    case 2: return load_u16(p);
    case 3: return load_u16(p) | uint64_t(p[2]) << 16;
    case 4: return load_u32(p);
    case 5: return load_u32(p) | uint64_t(p[4]) << 32;
    case 6: return load_u32(p) | load_u16(p + 4) << 32;
    default: return load_u32(p) | load_u16(p + 4) << 32 | uint64_t(p[6]) << 48;
  }
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
// every code of the block; each code is loaded once per tile. Codes of W whole
// words plus Tail bytes (both compile time), or, when both are 0, of any size.
template <class Pop, int W, int Tail, int T>
void scan_tile_words(const nash_index::ScanBlock& b, size_t q0, nash_index::HitSink& sink) {
  constexpr bool kFixed = W > 0 || Tail > 0;
  constexpr int kWords = kFixed ? W + (Tail > 0 ? 1 : 0) : 1;
  const size_t cs = b.code_size;
  auto load_code = [](const uint8_t* p, uint64_t* words) {
    for (int w = 0; w < W; ++w) words[w] = load_word(p + 8 * w);
    if (Tail > 0) words[kWords - 1] = load_tail(p + 8 * W, Tail);
  };
  const uint8_t* qp[T];
  uint64_t qw[T][kWords] = {};
  nash_index::dist_t threshold[T];
  for (int t = 0; t < T; ++t) {
    qp[t] = b.queries + (q0 + t) * cs;
    if (kFixed) load_code(qp[t], qw[t]);
    threshold[t] = sink.thresholds[b.query_base + q0 + t];
  }
  for (size_t j = 0; j < b.n; ++j) {
    const uint8_t* code = b.codes + j * cs;
    uint64_t cw[kWords] = {};
    if (kFixed) load_code(code, cw);
    for (int t = 0; t < T; ++t) {
      nash_index::dist_t d;
      if (kFixed) {
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

// Calls tile(std::integral_constant<int, T>, q0) over the queries: tiles of Max,
// then one tile of the 1..Max-1 left, so that every tile size is a compile-time
// constant (query words and thresholds held in registers).
template <int N, class Tile>
inline void tile_remainder(size_t left, size_t q0, Tile& tile) {
  if constexpr (N > 0) {
    if (left == N) return tile(std::integral_constant<int, N>{}, q0);
    tile_remainder<N - 1>(left, q0, tile);
  }
}
template <int Max, class Tile>
inline void for_query_tiles(size_t nq, Tile&& tile) {
  size_t q0 = 0;
  for (; q0 + Max <= nq; q0 += Max) tile(std::integral_constant<int, Max>{}, q0);
  tile_remainder<Max - 1>(nq - q0, q0, tile);
}

template <class Pop, int W, int Tail = 0>
void scan_words(const nash_index::ScanBlock& b, nash_index::HitSink& sink) {
  for_query_tiles<4>(b.nq, [&](auto tile, size_t q0) {
    scan_tile_words<Pop, W, Tail, decltype(tile)::value>(b, q0, sink);
  });
}

// Common code sizes (every one up to 16 bytes, then multiples of 4 or 8 up to 64, and the
// 768- and 1024-bit codes of binary embeddings)
// get a loop with the size built in; others take the run-time loop.
#define NASH_INDEX_SIZE_CASE(cs) \
  case cs:                       \
    return scan_words<Pop, (cs) / 8, (cs) % 8>(b, sink);
template <class Pop>
void scan_dispatch_words(const nash_index::ScanBlock& b, nash_index::HitSink& sink) {
  switch (b.code_size) {
    NASH_INDEX_SIZE_CASE(1) NASH_INDEX_SIZE_CASE(2) NASH_INDEX_SIZE_CASE(3) NASH_INDEX_SIZE_CASE(4)
    NASH_INDEX_SIZE_CASE(5) NASH_INDEX_SIZE_CASE(6) NASH_INDEX_SIZE_CASE(7) NASH_INDEX_SIZE_CASE(8)
    NASH_INDEX_SIZE_CASE(9) NASH_INDEX_SIZE_CASE(10) NASH_INDEX_SIZE_CASE(11) NASH_INDEX_SIZE_CASE(12)
    NASH_INDEX_SIZE_CASE(13) NASH_INDEX_SIZE_CASE(14) NASH_INDEX_SIZE_CASE(15) NASH_INDEX_SIZE_CASE(16)
    NASH_INDEX_SIZE_CASE(20) NASH_INDEX_SIZE_CASE(24) NASH_INDEX_SIZE_CASE(28) NASH_INDEX_SIZE_CASE(32)
    NASH_INDEX_SIZE_CASE(40) NASH_INDEX_SIZE_CASE(48) NASH_INDEX_SIZE_CASE(56) NASH_INDEX_SIZE_CASE(64)
    NASH_INDEX_SIZE_CASE(96) NASH_INDEX_SIZE_CASE(128)
    default: return scan_words<Pop, 0>(b, sink);
  }
}
#undef NASH_INDEX_SIZE_CASE

template <class Pop>
void gather_words(const nash_index::GatherBlock& g) {
  constexpr size_t kAhead = 16;  // software prefetch distance for random code fetches
  for (size_t i = 0; i < g.count; ++i) {
    if (i + kAhead < g.count) __builtin_prefetch(g.codes + size_t(g.positions[i + kAhead]) * g.code_size);
    g.out[i] = distance_any<Pop>(g.query, g.codes + size_t(g.positions[i]) * g.code_size, g.code_size);
  }
}

// KernelTable::all_distances: the code's words in registers for the common widths.
template <class Pop, int W>
nash_index::dist_t all_distances_fixed(const uint8_t* query, const uint8_t* codes, size_t count,
                                       nash_index::dist_t* out, size_t& nearest) {
  uint64_t q[W];
  for (int w = 0; w < W; ++w) q[w] = load_word(query + 8 * w);
  nash_index::dist_t least = std::numeric_limits<nash_index::dist_t>::max();
  for (size_t i = 0; i < count; ++i) {
    const uint8_t* c = codes + i * 8 * W;
    uint64_t total = 0;
    for (int w = 0; w < W; ++w) total += Pop{}(load_word(c + 8 * w) ^ q[w]);
    out[i] = static_cast<nash_index::dist_t>(total);
    if (__builtin_expect(out[i] < least, 0)) {
      least = out[i];
      nearest = i;
    }
  }
  return least;
}

template <class Pop>
nash_index::dist_t all_distances(const uint8_t* query, const uint8_t* codes, size_t count, size_t code_size,
                                 nash_index::dist_t* out, size_t* nearest) {
  size_t at = 0;
  nash_index::dist_t least = std::numeric_limits<nash_index::dist_t>::max();
  switch (code_size) {
    case 8: least = all_distances_fixed<Pop, 1>(query, codes, count, out, at); break;
    case 16: least = all_distances_fixed<Pop, 2>(query, codes, count, out, at); break;
    case 32: least = all_distances_fixed<Pop, 4>(query, codes, count, out, at); break;
    default:
      for (size_t i = 0; i < count; ++i) {
        out[i] = distance_any<Pop>(query, codes + i * code_size, code_size);
        if (out[i] < least) {
          least = out[i];
          at = i;
        }
      }
  }
  if (nearest) *nearest = at;
  return least;
}

// KernelTable::within and within_u8 without vectors: a rare, well predicted branch per index.
template <class Dist>
size_t within_any(const Dist* lower, const Dist* minus, size_t count, nash_index::dist_t tau, uint32_t* out) {
  size_t m = 0;
  for (size_t i = 0; i < count; ++i)
    if (__builtin_expect(nash_index::dist_t(lower[i]) - nash_index::dist_t(minus[i]) <= tau, 0))
      out[m++] = static_cast<uint32_t>(i);
  return m;
}

// The end of a vector `within`: the indexes from `done` on (fewer than a vector's lanes) appended
// after the `m` found before them; returns how many in all.
template <class Dist>
size_t within_rest(const Dist* lower, const Dist* minus, size_t done, size_t count, nash_index::dist_t tau,
                   uint32_t* out, size_t m) {
  const size_t tail = within_any(lower + done, minus + done, count - done, tau, out + m);
  for (size_t j = m; j < m + tail; ++j) out[j] += static_cast<uint32_t>(done);
  return m + tail;
}

template <class Pop>
nash_index::dist_t distance_fn(const uint8_t* a, const uint8_t* b, size_t code_size) {
  return distance_any<Pop>(a, b, code_size);
}

// Kernel table of a level without vector kernels: the word loops above.
template <class Pop>
const nash_index::KernelTable& word_kernels() {
  static const nash_index::KernelTable table{&scan_dispatch_words<Pop>, &gather_words<Pop>, &distance_fn<Pop>,
                                             &all_distances<Pop>, &within_any<nash_index::dist_t>, nullptr,
                                             nullptr, nullptr, nullptr, 0};
  return table;
}
