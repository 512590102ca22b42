// AVX2 bit-sliced batch scan (KernelTable::scan_sliced; the layout and the counting identity are in
// sliced_codes.hpp). Per group of 256 codes and query: a carry-save adder tree over the planes of
// the query's smaller side (16 planes a step, Harley-Seal), the codes' weights combined in, and a
// bit-sliced compare with the query's threshold; the few codes within it are counted again row by
// row and reported in position order.
//
// Include this ONLY inside the anonymous namespace of kernels_avx2.cpp, after scan_common.hpp: its
// functions are then local to that object, compiled with its flags (scripts/check_isa.py), and the
// standard headers it needs (cstring, vector) and sliced_codes.hpp come before that namespace.
#pragma once

using V = __m256i;
using nash_index::kPlaneBytes;
using nash_index::kSliceGroup;
constexpr int kStep = 16;  // planes a carry-save step takes

inline V plane_at(const uint8_t* group, uint16_t p) {
  return _mm256_loadu_si256(reinterpret_cast<const V*>(group + size_t{p} * kPlaneBytes));
}

// Full adder over every lane: a + b + c = 2 * carry + sum.
inline void csa(V& carry, V& sum, V a, V b, V c) {
  const V u = _mm256_xor_si256(a, b);
  carry = _mm256_or_si256(_mm256_and_si256(a, b), _mm256_and_si256(u, c));
  sum = _mm256_xor_si256(u, c);
}

// Which side of a query is counted, its weight |q|, and the planes of that side padded with the
// zero plane (index nbits) to whole steps. A fixed array: a std::vector<uint16_t> here would
// instantiate shared (weak) symbols in this -mavx2 object (scripts/check_isa.py).
constexpr size_t kMaxPlanList = (nash_index::kMaxSlicedBits + 1) / 2 + kStep;
struct QueryPlan {
  int weight = 0;
  bool ones = true;  // count the planes under q's ones (else its zeros)
  size_t count = 0;
  uint16_t planes[kMaxPlanList];
};

void plan_query(const uint8_t* q, int nbits, QueryPlan& plan) {
  plan.weight = 0;
  for (int b = 0; b < nbits; ++b) plan.weight += (q[b >> 3] >> (b & 7)) & 1;
  plan.ones = 2 * plan.weight <= nbits;
  plan.count = 0;
  for (int b = 0; b < nbits; ++b)
    if ((((q[b >> 3] >> (b & 7)) & 1) != 0) == plan.ones) plan.planes[plan.count++] = uint16_t(b);
  while (plan.count % kStep) plan.planes[plan.count++] = uint16_t(nbits);
}

// Eight listed planes into the adder tree's ones, twos and fours; returns the carry of weight 8.
inline V add_eight(const uint8_t* group, const uint16_t* s, V& ones, V& twos, V& fours) {
  V twos_a, twos_b, fours_a, fours_b, eights;
  csa(twos_a, ones, ones, plane_at(group, s[0]), plane_at(group, s[1]));
  csa(twos_b, ones, ones, plane_at(group, s[2]), plane_at(group, s[3]));
  csa(fours_a, twos, twos, twos_a, twos_b);
  csa(twos_a, ones, ones, plane_at(group, s[4]), plane_at(group, s[5]));
  csa(twos_b, ones, ones, plane_at(group, s[6]), plane_at(group, s[7]));
  csa(fours_b, twos, twos, twos_a, twos_b);
  csa(eights, fours, fours, fours_a, fours_b);
  return eights;
}

// The count of the listed planes in every lane, bit-sliced: out[i] holds bit i (W bits).
template <int W>
inline void count_planes(const uint8_t* group, const uint16_t* idx, size_t count, V* out) {
  V ones = _mm256_setzero_si256(), twos = ones, fours = ones, eights = ones;
  V high[W - 4];
  for (int i = 0; i < W - 4; ++i) high[i] = ones;
  for (size_t p = 0; p < count; p += kStep) {
    const V eights_a = add_eight(group, idx + p, ones, twos, fours);
    const V eights_b = add_eight(group, idx + p + 8, ones, twos, fours);
    V sixteens;
    csa(sixteens, eights, eights, eights_a, eights_b);
    V carry = sixteens;  // ripple the sixteens into the high bits
    for (int i = 0; i < W - 4; ++i) {
      const V next = _mm256_and_si256(high[i], carry);
      high[i] = _mm256_xor_si256(high[i], carry);
      carry = next;
    }
  }
  out[0] = ones, out[1] = twos, out[2] = fours, out[3] = eights;
  for (int i = 0; i < W - 4; ++i) out[4 + i] = high[i];
}

// Lanes where 2^ys Y - 2^xs X + t >= 0, in W-bit two's complement (every value fits: |.| < 2^(W-1)).
template <int W>
inline V at_least_zero(const V* x, int xs, const V* y, int ys, int t) {
  const V zero = _mm256_setzero_si256(), all = _mm256_set1_epi32(-1);
  V z[W];
  V carry = all;  // y + ~x + 1
  for (int i = 0; i < W; ++i) {
    const V yi = i >= ys ? y[i - ys] : zero;
    const V xi = _mm256_xor_si256(i >= xs ? x[i - xs] : zero, all);
    const V u = _mm256_xor_si256(yi, xi);
    z[i] = _mm256_xor_si256(u, carry);
    carry = _mm256_or_si256(_mm256_and_si256(yi, xi), _mm256_and_si256(u, carry));
  }
  carry = zero;  // + t, a constant: its bits choose the adder's form
  for (int i = 0; i < W - 1; ++i) {
    if ((t >> i) & 1) {
      const V next = _mm256_or_si256(z[i], carry);
      z[i] = _mm256_xor_si256(z[i], _mm256_xor_si256(carry, all));
      carry = next;
    } else {
      const V next = _mm256_and_si256(z[i], carry);
      z[i] = _mm256_xor_si256(z[i], carry);
      carry = next;
    }
  }
  const V sign = _mm256_xor_si256(z[W - 1], ((t >> (W - 1)) & 1) ? _mm256_xor_si256(carry, all) : carry);
  return _mm256_andnot_si256(sign, all);
}

// Lanes [0, count) of a group.
inline V valid_lanes(size_t count) {
  alignas(32) uint64_t w[4];
  for (size_t i = 0; i < 4; ++i) {
    const size_t lo = 64 * i;
    w[i] = count >= lo + 64 ? ~uint64_t{0} : count <= lo ? 0 : (uint64_t{1} << (count - lo)) - 1;
  }
  return _mm256_load_si256(reinterpret_cast<const V*>(w));
}

// Offers the codes of lanes `in` (group g) to query q in position order, each counted row by row
// and checked against the threshold of the moment.
inline void report(const nash_index::SlicedBlock& b, nash_index::HitSink& sink, size_t q, size_t g, V in) {
  alignas(32) uint64_t w[4];
  _mm256_store_si256(reinterpret_cast<V*>(w), in);
  const uint8_t* query = b.queries + q * b.code_size;
  for (size_t i = 0; i < 4; ++i) {
    for (uint64_t bits = w[i]; bits; bits &= bits - 1) {
      const size_t at = g * kSliceGroup + 64 * i + size_t(__builtin_ctzll(bits));
      const nash_index::dist_t d = distance_any<PopHw>(query, b.codes + at * b.code_size, b.code_size);
      if (d <= sink.thresholds[q]) sink.hit(q, d, b.base + at);
    }
  }
}

std::vector<QueryPlan>& plans() {
  thread_local std::vector<QueryPlan> p;
  return p;
}

template <int W>
void scan_groups(const nash_index::SlicedBlock& b, nash_index::HitSink& sink) {
  std::vector<QueryPlan>& plan = plans();
  if (plan.size() < b.nq) plan.resize(b.nq);
  for (size_t q = 0; q < b.nq; ++q) plan_query(b.queries + q * b.code_size, b.nbits, plan[q]);
  const V zero = _mm256_setzero_si256();
  for (size_t g = 0; g < b.ngroups; ++g) {
    const uint8_t* group = b.groups + g * b.group_bytes;
    const V valid = valid_lanes(std::min(kSliceGroup, b.n - g * kSliceGroup));
    V weight[W];  // the codes' popcounts, bit-sliced
    const uint8_t* weight_planes = group + (size_t(b.nbits) + 1) * kPlaneBytes;
    for (int i = 0; i < W; ++i)
      weight[i] = i < b.weight_bits ? _mm256_loadu_si256(reinterpret_cast<const V*>(weight_planes + i * kPlaneBytes))
                                    : zero;
    for (size_t q = 0; q < b.nq; ++q) {
      const nash_index::dist_t tau = sink.thresholds[q];
      if (tau < 0) continue;
      V in = valid;
      if (tau < b.nbits) {
        const QueryPlan& p = plan[q];
        V count[W];
        count_planes<W>(group, p.planes, p.count, count);
        // d = |q| + A - 2B (ones) or |q| - A + 2C (zeros); d <= tau as (2B - A) + (tau - |q|) >= 0
        const int t = int(tau) - p.weight;
        in = _mm256_and_si256(in, p.ones ? at_least_zero<W>(weight, 0, count, 1, t)
                                         : at_least_zero<W>(count, 1, weight, 0, t));
      }
      if (!_mm256_testz_si256(in, in)) report(b, sink, q, g, in);
    }
  }
}

// Stores bits 7..0 of the 32 bytes of x (bit 7 first) as planes `first_plane` - 0..7's word `word`
// (the 32 codes of sub-block `word`), planes below `limit` only.
inline void store_bit_planes(__m256i x, uint8_t* planes, int first_plane, int limit, size_t word) {
  for (int bit = 7; bit >= 0; --bit, x = _mm256_slli_epi16(x, 1)) {
    if (first_plane + bit >= limit) continue;
    const uint32_t m = static_cast<uint32_t>(_mm256_movemask_epi8(x));
    std::memcpy(planes + size_t(first_plane + bit) * kPlaneBytes + 4 * word, &m, 4);
  }
}

inline int popcount_code(const uint8_t* code, size_t code_size) {
  int w = 0;
  size_t b = 0;
  for (; b + 8 <= code_size; b += 8) w += int(PopHw{}(load_word(code + b)));
  if (b < code_size) w += int(PopHw{}(load_tail(code + b, code_size - b)));
  return w;
}

// 32 codes at a time: four gathers fetch one 4-byte column of all 32, a byte shuffle and a 4 x 4
// dword transpose leave each byte column in one vector in code order (the gathers' lanes are
// chosen for that), and eight movemasks give its eight planes' words.
bool slice_group(const uint8_t* codes, size_t count, size_t code_size, int nbits, int weight_bits,
                      uint8_t* planes) {
  if (code_size % 4 != 0 || code_size * 32 > size_t{1} << 30) return false;
  const __m256i by_column = _mm256_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15,
                                             0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
  const __m256i zero = _mm256_setzero_si256();
  uint8_t* weight_planes = planes + (size_t(nbits) + 1) * kPlaneBytes;
  for (size_t word = 0; word * 32 < count; ++word) {
    const size_t in_block = std::min<size_t>(32, count - word * 32);
    const uint8_t* block = codes + word * 32 * code_size;
    alignas(32) int32_t index[4][8], valid[4][8];
    for (int g = 0; g < 4; ++g)
      for (int i = 0; i < 8; ++i) {  // byte 16 (i / 4) + 4 g + i % 4 of each column: code order
        const size_t code = 16 * size_t(i / 4) + 4 * size_t(g) + size_t(i % 4);
        index[g][i] = int32_t(code * code_size);
        valid[g][i] = code < in_block ? -1 : 0;
      }
    for (size_t col = 0; col < code_size / 4; ++col) {
      __m256i v[4];
      for (int g = 0; g < 4; ++g)
        v[g] = _mm256_shuffle_epi8(
            _mm256_mask_i32gather_epi32(zero, reinterpret_cast<const int*>(block + 4 * col),
                                        _mm256_load_si256(reinterpret_cast<const __m256i*>(index[g])),
                                        _mm256_load_si256(reinterpret_cast<const __m256i*>(valid[g])), 1),
            by_column);
      const __m256i t0 = _mm256_unpacklo_epi32(v[0], v[1]), t1 = _mm256_unpackhi_epi32(v[0], v[1]);
      const __m256i t2 = _mm256_unpacklo_epi32(v[2], v[3]), t3 = _mm256_unpackhi_epi32(v[2], v[3]);
      const __m256i bytes[4] = {_mm256_unpacklo_epi64(t0, t2), _mm256_unpackhi_epi64(t0, t2),
                                _mm256_unpacklo_epi64(t1, t3), _mm256_unpackhi_epi64(t1, t3)};
      for (int c = 0; c < 4; ++c) store_bit_planes(bytes[c], planes, int(8 * (4 * col + size_t(c))), nbits, word);
    }
    alignas(32) uint8_t low[32] = {}, high[32] = {};
    for (size_t j = 0; j < in_block; ++j) {
      const int w = popcount_code(block + j * code_size, code_size);
      low[j] = uint8_t(w & 0xFF);
      high[j] = uint8_t(w >> 8);
    }
    store_bit_planes(_mm256_load_si256(reinterpret_cast<const __m256i*>(low)), weight_planes, 0, weight_bits, word);
    store_bit_planes(_mm256_load_si256(reinterpret_cast<const __m256i*>(high)), weight_planes, 8, weight_bits, word);
  }
  return true;
}

// W = bit width of nbits + 2: signed room for 2 * nbits (codes of at most 2047 bits: sliceable()).
void scan_sliced(const nash_index::SlicedBlock& b, nash_index::HitSink& sink) {
  int width = 0;
  while (b.nbits >> width) ++width;
  switch (width + 2) {
    case 6: return scan_groups<6>(b, sink);
    case 7: return scan_groups<7>(b, sink);
    case 8: return scan_groups<8>(b, sink);
    case 9: return scan_groups<9>(b, sink);
    case 10: return scan_groups<10>(b, sink);
    case 11: return scan_groups<11>(b, sink);
    case 12: return scan_groups<12>(b, sink);
    case 13: return scan_groups<13>(b, sink);
    default: return;  // not sliceable: run_sliced never passes these
  }
}
