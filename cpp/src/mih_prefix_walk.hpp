// A radius of one table walked prefix by prefix, in a software pipeline
// (internal to the MIH probe walk, mih_probe.cpp).
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "mih_masks.hpp"
#include "mih_probe.hpp"
#include "mih_table.hpp"

namespace nash_index {
namespace prefix_walk {

using Range = BucketTable::Range;
using Pipeline = MultiIndexHashing::Scratch::Pipeline;

constexpr size_t kProbeBlock = 1024;  // prefix visits generated per block (the pipeline restarts per block)
// Pipeline distances, in prefix visits: a prefix's offsets are prefetched 2 * kStage visits before
// its entries are read and their suffixes kStage before; a match's positions are read kPositionLag
// matches after their prefetch. Enough misses in flight to fill a core's miss buffers (8 and 32
// measured no better at 10^8 codes).
constexpr size_t kStage = 16;
constexpr size_t kPositionLag = 4;
constexpr size_t kHitRing = 8;  // > kPositionLag, a power of two
// A prefix's entries are compared with the wanted suffix distance one by one unless they are many
// more than the suffixes at that distance (each then found by bisection).
constexpr uint64_t kScanEntries = 32;
constexpr uint64_t kScanPerMask = 8;
// Prefix visits are chosen when they are this many times fewer than the keys (a visit compares
// every entry of its prefix, a key's bucket search stops at its suffix).
constexpr double kPrefixGain = 1.5;

inline void reserve(Pipeline& p) {
  p.prefixes.resize(kProbeBlock);
  p.targets.resize(kProbeBlock);
  p.ranges.resize(kProbeBlock);
}

// One radius r of one table, walked prefix by prefix. The keys at distance r
// of the query's key are, for each h, those whose prefix is at distance h of
// the query's prefix and whose suffix is at distance r - h of its suffix; a
// prefix's entries (~8-16 on one or two cache lines) are read once for all its
// suffixes. So C(len, r) bucket probes become sum_h C(prefix bits, h) prefix
// visits with the same two misses each: at r = 4 of 32-bit keys, 35,960
// probes become 10,903 visits (23 prefix bits, 10^8 codes) or 17,902 (26
// bits, 10^9). Where that saves little (short suffixes: 10^7 codes in 21-bit
// keys), every key is visited on its own instead (by_key), its bucket
// found among its prefix's entries.
struct PrefixPlan {
  int key_bits, prefix_bits, suffix_bits, r, h_lo, h_hi;
  uint32_t key, query_prefix, query_suffix;
  uint64_t visits = 0;
  bool by_key;

  PrefixPlan(const BucketTable& t, int bits, uint32_t query_key, int radius)
      : key_bits(bits), prefix_bits(bits - t.suffix_bits()), suffix_bits(t.suffix_bits()), r(radius),
        h_lo(std::max(0, radius - suffix_bits)), h_hi(std::min(radius, prefix_bits)), key(query_key),
        query_prefix(static_cast<uint32_t>(uint64_t{key} >> suffix_bits)),
        query_suffix(static_cast<uint32_t>(uint64_t{key} & suffix_mask())) {
    for (int h = h_lo; h <= h_hi; ++h) visits += choose(prefix_bits, h);
    const uint64_t keys = choose(key_bits, r);
    by_key = double(keys) < kPrefixGain * double(visits);
    if (by_key) visits = keys;
  }
  uint64_t suffix_mask() const { return (uint64_t{1} << suffix_bits) - 1; }

  // Calls fn(prefix, target) for visits [first, first + count), in order;
  // target: the suffix wanted (by_key), else its distance to the query's.
  template <class Fn>
  void for_visits(uint64_t first, uint64_t count, Fn&& fn) const {
    if (by_key) {
      MaskWalk masks(key_bits, r, mask_of_rank(key_bits, r, first));
      for (; count > 0; --count, masks.next()) {
        const uint64_t value = key ^ masks.value();
        fn(static_cast<uint32_t>(value >> suffix_bits), static_cast<uint32_t>(value & suffix_mask()));
      }
      return;
    }
    for (int h = h_lo; h <= h_hi && count > 0; ++h) {
      const uint64_t group = choose(prefix_bits, h);
      if (first >= group) {
        first -= group;
        continue;
      }
      MaskWalk masks(prefix_bits, h, mask_of_rank(prefix_bits, h, first));
      for (uint64_t n = std::min(count, group - first); n > 0; --n, --count, masks.next())
        fn(query_prefix ^ masks.value(), static_cast<uint32_t>(r - h));
      first = 0;
    }
  }
};

// Matching entries whose positions are on the way: emitted kPositionLag matches later.
template <class Emit>
class HitQueue {
 public:
  HitQueue(const BucketTable& t, Emit& emit) : t_(t), emit_(emit) {}
  ~HitQueue() {
    while (head_ != tail_) emit_(ring_[head_++ % kHitRing]);
  }
  void push(Range b) {
    t_.prefetch_positions(b);
    ring_[tail_++ % kHitRing] = b;
    if (tail_ - head_ > kPositionLag) emit_(ring_[head_++ % kHitRing]);
  }

 private:
  const BucketTable& t_;
  Emit& emit_;
  Range ring_[kHitRing];
  size_t head_ = 0, tail_ = 0;
};

// The entries of prefix range `r` wanted by a visit: those whose suffix is
// `target` (by_key) or at distance `target` of the query's.
template <class Queue>
void match_suffixes(const BucketTable& t, const PrefixPlan& plan, Range r, uint32_t target, Queue& hits) {
  if (r.begin == r.end) return;
  if (plan.suffix_bits == 0) return hits.push(r);  // target 0: the whole prefix is the key
  if (plan.by_key) {
    const Range b = t.bucket_in(target, r);
    if (b.begin != b.end) hits.push(b);
    return;
  }
  const int d = static_cast<int>(target);
  const uint64_t masks = choose(plan.suffix_bits, d);
  if (r.end - r.begin <= kScanEntries || r.end - r.begin <= masks * kScanPerMask) {
    if (d == 0) {  // most visits of a long radius (h = r): the query's own suffix, found in order
      const Range b = t.bucket_in(plan.query_suffix, r);
      if (b.begin != b.end) hits.push(b);
      return;
    }
    for (uint64_t e = r.begin; e < r.end; ++e)
      if (popcount32(static_cast<uint32_t>(t.suffix(e)) ^ plan.query_suffix) == d) hits.push({e, e + 1});
    return;
  }
  for (MaskWalk m(plan.suffix_bits, d); m.valid(); m.next()) {
    const Range b = t.bucket_in(plan.query_suffix ^ m.value(), r);
    if (b.begin != b.end) hits.push(b);
  }
}

// Visits [first, first + count) of the plan in a software pipeline (see
// kStage); emit(range) receives the matching entries, positions prefetched.
template <class Emit>
void visit_prefixes(const BucketTable& t, const PrefixPlan& plan, uint64_t first, uint64_t count, Pipeline& p,
                    Emit&& emit) {
  uint32_t* prefix = p.prefixes.data();
  uint32_t* target = p.targets.data();
  Range* range = p.ranges.data();
  HitQueue<Emit> hits(t, emit);
  while (count > 0) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(count, kProbeBlock));
    size_t i = 0;
    plan.for_visits(first, n, [&](uint32_t pre, uint32_t want) {
      prefix[i] = pre;
      target[i++] = want;
    });
    for (i = 0; i < std::min(n, 2 * kStage); ++i) t.prefetch_prefix(prefix[i]);
    for (i = 0; i < std::min(n, kStage); ++i) {
      range[i] = t.prefix_entries(prefix[i]);
      t.prefetch_suffixes(range[i]);
    }
    for (i = 0; i < n; ++i) {
      if (i + 2 * kStage < n) t.prefetch_prefix(prefix[i + 2 * kStage]);
      if (i + kStage < n) {
        range[i + kStage] = t.prefix_entries(prefix[i + kStage]);
        t.prefetch_suffixes(range[i + kStage]);
      }
      match_suffixes(t, plan, range[i], target[i], hits);
    }
    first += n;
    count -= n;
  }
}

}  // namespace prefix_walk
}  // namespace nash_index
