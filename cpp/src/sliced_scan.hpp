// Bit-sliced batch scan (KernelTable::scan_sliced; the layout and the counting identity are in
// sliced_codes.hpp), over the lanes of sliced_lanes.hpp: 256 codes a vector (AVX2) or 512
// (AVX-512). Per group and query: a carry-save adder tree over the planes of the query's smaller
// side (16 planes a step, Harley-Seal), the codes' weights combined in, and a bit-sliced compare
// with the query's threshold; the few codes within it are counted again row by row and reported
// in position order.
//
// Include this ONLY inside the anonymous namespace of a kernel object (kernels_avx2.cpp,
// kernels_avx512.cpp), after scan_common.hpp and sliced_lanes.hpp: its functions are then local
// to that object, compiled with its flags (scripts/check_isa.py), and the standard headers it
// needs (cstring, vector) and sliced_codes.hpp come before that namespace.
#pragma once

constexpr int kStep = 16;            // planes a carry-save step takes
constexpr size_t kSelectSlack = 16;  // lanes over 2k a group reports without selecting

// Which side of a query is counted, its weight |q|, and where that side's planes are, in units of
// 8 bytes from the group (a plane is 32 or 64 bytes: up to 2047 * 8, so 16 bits hold it, and the
// address scales the unit for free), padded with the zero plane's (plane nbits) to whole steps.
// A fixed array: a std::vector<uint16_t> here would instantiate shared (weak) symbols in this
// object (scripts/check_isa.py).
constexpr size_t kMaxPlanList = (nash_index::kMaxSlicedBits + 1) / 2 + kStep;
static_assert(size_t{nash_index::kMaxSlicedBits} * (nash_index::kMaxSliceLanes / 64) <= 0xFFFF,
              "plane units must fit uint16_t");
struct QueryPlan {
  int weight = 0;
  bool ones = true;  // count the planes under q's ones (else its zeros)
  size_t count = 0;
  uint16_t planes[kMaxPlanList];
};

inline int popcount_code(const uint8_t* code, size_t code_size) {
  int w = 0;
  size_t b = 0;
  for (; b + 8 <= code_size; b += 8) w += int(PopHw{}(load_word(code + b)));
  if (b < code_size) w += int(PopHw{}(load_tail(code + b, code_size - b)));
  return w;
}

void plan_query(const uint8_t* q, size_t code_size, int nbits, size_t plane_units, QueryPlan& plan) {
  plan.weight = popcount_code(q, code_size);
  plan.ones = 2 * plan.weight <= nbits;
  plan.count = 0;
  const uint64_t flip = plan.ones ? 0 : ~uint64_t{0};
  for (size_t byte = 0; byte < code_size; byte += 8) {  // the side's bits, a word at a time
    uint64_t word = (code_size - byte >= 8 ? load_word(q + byte) : load_tail(q + byte, code_size - byte)) ^ flip;
    const int first = int(8 * byte);
    if (nbits - first < 64) word &= (uint64_t{1} << (nbits - first)) - 1;
    for (; word; word &= word - 1)
      plan.planes[plan.count++] = uint16_t(size_t(first + __builtin_ctzll(word)) * plane_units);
  }
  while (plan.count % kStep) plan.planes[plan.count++] = uint16_t(size_t(nbits) * plane_units);
}

template <class L>
inline typename L::V plane_at(const uint8_t* group, uint16_t unit) {
  return L::load(group + size_t{unit} * 8);
}

// Eight listed planes into the adder tree's ones, twos and fours; returns the carry of weight 8.
template <class L, class V = typename L::V>
inline V add_eight(const uint8_t* group, const uint16_t* s, V& ones, V& twos, V& fours) {
  V twos_a, twos_b, fours_a, fours_b, eights;
  L::csa(twos_a, ones, ones, plane_at<L>(group, s[0]), plane_at<L>(group, s[1]));
  L::csa(twos_b, ones, ones, plane_at<L>(group, s[2]), plane_at<L>(group, s[3]));
  L::csa(fours_a, twos, twos, twos_a, twos_b);
  L::csa(twos_a, ones, ones, plane_at<L>(group, s[4]), plane_at<L>(group, s[5]));
  L::csa(twos_b, ones, ones, plane_at<L>(group, s[6]), plane_at<L>(group, s[7]));
  L::csa(fours_b, twos, twos, twos_a, twos_b);
  L::csa(eights, fours, fours, fours_a, fours_b);
  return eights;
}

// Adds `carry` (one bit a lane) into the W-bit count `bits`, ripple style.
template <class L, int N, class V = typename L::V>
inline void ripple(V* bits, V carry) {
  for (int i = 0; i < N; ++i) {
    const V next = L::and_(bits[i], carry);
    bits[i] = L::xor_(bits[i], carry);
    carry = next;
  }
}

// The count of the listed planes in every lane, bit-sliced: out[i] holds bit i (W bits). Blocks of
// 32 planes go through adders up to weight 16 and ripple one carry of weight 32 into the high
// bits (a 16-plane step would ripple twice as often); a last 16 ripple theirs from weight 16.
template <class L, int W, class V = typename L::V>
inline void count_planes(const uint8_t* group, const uint16_t* idx, size_t count, V* out) {
  static_assert(W >= 6, "counts of at least 6 bits");
  V ones = L::zero(), twos = ones, fours = ones, eights = ones;
  V* high = out + 4;  // weights 16, 32, ...
  for (int i = 0; i < W - 4; ++i) high[i] = ones;
  size_t p = 0;
  for (; p + 2 * kStep <= count; p += 2 * kStep) {
    V sixteens_a, sixteens_b, carry;
    const V eights_a = add_eight<L>(group, idx + p, ones, twos, fours);
    const V eights_b = add_eight<L>(group, idx + p + 8, ones, twos, fours);
    L::csa(sixteens_a, eights, eights, eights_a, eights_b);
    const V eights_c = add_eight<L>(group, idx + p + 16, ones, twos, fours);
    const V eights_d = add_eight<L>(group, idx + p + 24, ones, twos, fours);
    L::csa(sixteens_b, eights, eights, eights_c, eights_d);
    L::csa(carry, high[0], high[0], sixteens_a, sixteens_b);
    ripple<L, W - 5>(high + 1, carry);
  }
  if (p < count) {  // the plan is whole steps of 16
    V sixteens;
    const V eights_a = add_eight<L>(group, idx + p, ones, twos, fours);
    const V eights_b = add_eight<L>(group, idx + p + 8, ones, twos, fours);
    L::csa(sixteens, eights, eights, eights_a, eights_b);
    ripple<L, W - 4>(high, sixteens);
  }
  out[0] = ones, out[1] = twos, out[2] = fours, out[3] = eights;
}

// Lanes where 2^ys Y - 2^xs X + t >= 0, in W-bit two's complement (every value fits: |.| < 2^(W-1)).
template <class L, int W, class V = typename L::V>
inline V at_least_zero(const V* x, int xs, const V* y, int ys, int t) {
  const V zero = L::zero(), all = L::all();
  V z[W];
  V carry = all;  // y + ~x + 1
  for (int i = 0; i < W; ++i) z[i] = L::add_not(i >= ys ? y[i - ys] : zero, i >= xs ? x[i - xs] : zero, carry);
  carry = zero;  // + t, a constant: its bits choose the adder's form
  for (int i = 0; i < W - 1; ++i) {
    if ((t >> i) & 1) {
      const V next = L::or_(z[i], carry);
      z[i] = L::xor_(z[i], L::xor_(carry, all));
      carry = next;
    } else {
      const V next = L::and_(z[i], carry);
      z[i] = L::xor_(z[i], carry);
      carry = next;
    }
  }
  const V sign = L::xor_(z[W - 1], ((t >> (W - 1)) & 1) ? L::xor_(carry, all) : carry);
  return L::andnot(sign, all);
}

// Lanes [0, count) of a group.
template <class L>
inline typename L::V valid_lanes(size_t count) {
  uint64_t w[L::kWords];
  for (size_t i = 0; i < L::kWords; ++i) {
    const size_t lo = 64 * i;
    w[i] = count >= lo + 64 ? ~uint64_t{0} : count <= lo ? 0 : (uint64_t{1} << (count - lo)) - 1;
  }
  return L::from(w);
}

template <class L>
inline size_t lanes_in(typename L::V in) {
  uint64_t w[L::kWords];
  L::store(w, in);
  size_t n = 0;
  for (size_t i = 0; i < L::kWords; ++i) n += size_t(__builtin_popcountll(w[i]));
  return n;
}

// Lanes with d <= tau, from the bit-sliced count of the query's side.
template <class L, int W, class V = typename L::V>
inline V within(const V* weight, const V* count, const QueryPlan& p, int tau) {
  // d = |q| + A - 2B (ones) or |q| - A + 2C (zeros); d <= tau as (2B - A) + (tau - |q|) >= 0
  const int t = tau - p.weight;
  return p.ones ? at_least_zero<L, W>(weight, 0, count, 1, t) : at_least_zero<L, W>(count, 1, weight, 0, t);
}

// Lanes of `valid` within the least distance that `select` of them reach, below `tau` (which more
// than `select` reach): a top-`select` sink's threshold falls to it once they are reported, so no
// lane beyond it can enter. Binary search over the distance, a bit-sliced compare a step.
template <class L, int W, class V = typename L::V>
inline V within_selected(const V* weight, const V* count, const QueryPlan& p, int tau, size_t select, V valid) {
  int lo = 0, hi = tau;
  while (lo < hi) {
    const int mid = (lo + hi) / 2;
    if (lanes_in<L>(L::and_(valid, within<L, W>(weight, count, p, mid))) >= select) hi = mid;
    else lo = mid + 1;
  }
  return L::and_(valid, within<L, W>(weight, count, p, lo));
}

// Offers the codes of lanes `in` (group g) to query q in position order, each counted row by row
// and checked against the threshold of the moment.
template <class L>
inline void report(const nash_index::SlicedBlock& b, nash_index::HitSink& sink, size_t q, size_t g, typename L::V in) {
  uint64_t w[L::kWords];
  L::store(w, in);
  const uint8_t* query = b.queries + q * b.code_size;
  for (size_t i = 0; i < L::kWords; ++i) {
    for (uint64_t bits = w[i]; bits; bits &= bits - 1) {
      const size_t at = g * L::kLanes + 64 * i + size_t(__builtin_ctzll(bits));
      const nash_index::dist_t d = distance_any<PopHw>(query, b.codes + at * b.code_size, b.code_size);
      if (d <= sink.thresholds[q]) sink.hit(q, d, b.base + at);
    }
  }
}

std::vector<QueryPlan>& plans() {
  thread_local std::vector<QueryPlan> p;
  return p;
}

template <class L, int W>
void scan_groups(const nash_index::SlicedBlock& b, nash_index::HitSink& sink) {
  using V = typename L::V;
  constexpr size_t plane_bytes = L::kLanes / 8;
  std::vector<QueryPlan>& plan = plans();
  if (plan.size() < b.nq) plan.resize(b.nq);
  for (size_t q = 0; q < b.nq; ++q) plan_query(b.queries + q * b.code_size, b.code_size, b.nbits, plane_bytes / 8, plan[q]);
  for (size_t g = 0; g < b.ngroups; ++g) {
    const uint8_t* group = b.groups + g * b.group_bytes;
    const V valid = valid_lanes<L>(std::min(L::kLanes, b.n - g * L::kLanes));
    V weight[W];  // the codes' popcounts, bit-sliced
    const uint8_t* weight_planes = group + (size_t(b.nbits) + 1) * plane_bytes;
    for (int i = 0; i < W; ++i) weight[i] = i < b.weight_bits ? L::load(weight_planes + i * plane_bytes) : L::zero();
    for (size_t q = 0; q < b.nq; ++q) {
      const nash_index::dist_t tau = sink.thresholds[q];
      if (tau < 0) continue;
      const bool counted = tau < b.nbits || b.select;
      V in = valid, count[W];
      if (counted) count_planes<L, W>(group, plan[q].planes, plan[q].count, count);
      if (tau < b.nbits) in = L::and_(in, within<L, W>(weight, count, plan[q], int(tau)));
      if (L::none(in)) continue;
      // A group that would report many more lanes than the sink keeps (its first, at a top-k
      // warm-up) reports only the ones within the k-th least distance among them.
      if (b.select && lanes_in<L>(in) > 2 * b.select + kSelectSlack)
        in = within_selected<L, W>(weight, count, plan[q], std::min(int(tau), b.nbits), b.select, in);
      report<L>(b, sink, q, g, in);
    }
  }
}

// W = bit width of nbits + 2: signed room for 2 * nbits (codes of at most 2047 bits: sliceable()).
template <class L>
void scan_sliced_lanes(const nash_index::SlicedBlock& b, nash_index::HitSink& sink) {
  if (b.lanes != L::kLanes) return;  // a layout for another level: run_sliced never passes one
  int width = 0;
  while (b.nbits >> width) ++width;
  switch (width + 2) {
    case 6: return scan_groups<L, 6>(b, sink);
    case 7: return scan_groups<L, 7>(b, sink);
    case 8: return scan_groups<L, 8>(b, sink);
    case 9: return scan_groups<L, 9>(b, sink);
    case 10: return scan_groups<L, 10>(b, sink);
    case 11: return scan_groups<L, 11>(b, sink);
    case 12: return scan_groups<L, 12>(b, sink);
    case 13: return scan_groups<L, 13>(b, sink);
    default: return;  // not sliceable: run_sliced never passes these
  }
}
