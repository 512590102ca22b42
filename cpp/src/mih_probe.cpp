#include "mih_probe.hpp"

#include <algorithm>
#include <atomic>
#include <string>

#include "kernels.hpp"
#include "mih_masks.hpp"
#include "nash_index/common.hpp"
#include "thread_pool.hpp"

namespace nash_index {
namespace {

std::atomic<size_t> g_bitmap_limit{size_t{1} << 26};  // 8 MB of bitmap per thread
std::atomic<int> g_probe_pipeline{1};
// Below this many prefix visits, the hand-off to the pool and the merge cost more than the
// second core could save (a radius of 2^14 visits takes ~0.5 ms).
std::atomic<size_t> g_split_min_probes{size_t{1} << 14};
std::atomic<uint64_t> g_split_radii{0};

constexpr size_t kVerifyChunk = 256;  // candidates gathered before a verification pass
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
constexpr size_t kChunksPerThread = 4;  // a thread the OS delays holds up a small chunk, not half the radius
constexpr uint64_t kMinChunkVisits = 1024;
// The loop before the pipeline (probe_pipeline = 0).
constexpr size_t kLegacyBlock = 256;
constexpr size_t kLegacyAhead = 8;

double binomial(int n, int r) {
  double c = 1;
  for (int i = 1; i <= r; ++i) c = c * double(n - r + i) / double(i);
  return c;
}

using Range = BucketTable::Range;
using Pipeline = MultiIndexHashing::Scratch::Pipeline;

void reserve(Pipeline& p) {
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

// The handler holds this one query, at index 0.
template <class Handler>
class Walk {
 public:
  Walk(const MihTables& t, const uint8_t* query, Handler& out, MultiIndexHashing::Scratch& s,
       const ProbeLimits& limits, SearchWork& work)
      : t_(t), q_(query), out_(out), s_(s), budget_(limits.budget), probe_cost_(limits.probe_cost),
        split_threads_(limits.split_threads), work_(work), kt_(kernels()),
        pipelined_(g_probe_pipeline.load(std::memory_order_relaxed) != 0),
        split_min_(g_split_min_probes.load(std::memory_order_relaxed)) {}

  bool run() {
    prepare_scratch();
    scan_tail();
    const bool completed = walk_tables();
    if (use_bitmap_)
      for (uint32_t bit : s_.found) s_.visited[bit >> 6] &= ~(uint64_t{1} << (bit & 63));
    work_.candidates += s_.live.size();
    s_.found.clear();
    s_.live.clear();
    return completed;
  }

 private:
  const MultiIndexHashing::Tables& main() const { return *t_.segments->front(); }

  void prepare_scratch() {
    positions_ = 0;
    for (const auto& seg : *t_.segments) positions_ += seg->positions;
    use_bitmap_ = positions_ <= g_bitmap_limit.load(std::memory_order_relaxed);
    const size_t words = use_bitmap_ ? (positions_ + 63) / 64 : 0;
    if (s_.visited.size() < words) s_.visited.resize(words, 0);
    s_.distances.resize(kVerifyChunk);
    s_.values.resize(kLegacyBlock);
    reserve(s_.pipeline);
    s_.found.clear();
    s_.live.clear();
    verified_ = 0;
  }

  void scan_tail() {
    const size_t tail = t_.db.ntotal - t_.indexed;
    if (tail == 0) return;
    const size_t cs = t_.db.code_size;
    kt_.scan(ScanBlock{q_, 1, t_.db.codes + t_.indexed * cs, tail, cs, t_.indexed, 0}, out_);
    work_.candidates += tail;
  }

  // Substring radius r over table j (of every segment), for r = 0, 1, ...;
  // after (r, j) every code within m*r + j has been verified (one not found
  // is at least m*r + j + 1 away).
  bool walk_tables() {
    const int m = main().layout.m();
    s_.query_values.resize(static_cast<size_t>(m));
    int max_key_bits = 0;
    for (int j = 0; j < m; ++j) {
      s_.query_values[static_cast<size_t>(j)] = main().key(q_, t_.db.code_size, j);
      max_key_bits = std::max(max_key_bits, main().key_bits(j));
    }
    for (int r = 0; r <= max_key_bits; ++r) {
      for (int j = 0; j < m; ++j) {
        table_ = j;
        radius_ = r;
        if (r <= main().key_bits(j) && !probe_segments(j, r)) return false;
        verify_pending();
        if (out_.complete(0, static_cast<dist_t>(m * r + j))) return true;
        if (use_bitmap_ && s_.found.size() == positions_) return true;  // every table position met
      }
    }
    return true;
  }

  bool probe_segments(int j, int r) {
    segment_bit_ = 0;
    segment_start_ = 0;
    for (const auto& seg : *t_.segments) {
      segment_ = seg.get();
      if (!probe_radius(j, r)) return false;
      segment_bit_ += seg->positions;
      segment_start_ += seg->live();
    }
    return true;
  }

  bool probe_radius(int j, int r) {
    const BucketTable& table = segment_->by_substring[static_cast<size_t>(j)];
    const uint32_t base = s_.query_values[static_cast<size_t>(j)];
    // C(len, r) grows to 6e8 for 32-bit substrings: past the table's own
    // size, one pass over its values is cheaper than enumerating masks.
    const int key_bits = segment_->key_bits(j);
    if (binomial(key_bits, r) > double(table.value_slots())) return sweep_radius(table, base, r);
    if (!pipelined_) return probe_radius_legacy(table, base, key_bits, r);
    // A probe is a table lookup: a prefix visit or a key's bucket (about the
    // same two misses), so probe_cost prices both and the budget sees the work done.
    const PrefixPlan plan(table, key_bits, base, r);
    // A radius that would pass the budget is not started: the walk would stop
    // inside it anyway (probes and candidates only grow), after wasted work.
    if (probe_cost_ * double(work_.probes + plan.visits) + double(s_.live.size()) > budget_) return false;
    if (split_threads_ > 1 && plan.visits >= split_min_) return probe_radius_split(table, plan);
    Pipeline& p = s_.pipeline;
    for (uint64_t first = 0; first < plan.visits; first += kProbeBlock) {
      visit_prefixes(table, plan, first, std::min<uint64_t>(kProbeBlock, plan.visits - first), p,
                     [&](Range b) { collect(table, b); });
      if (over_budget()) return false;  // candidates pass the budget (probes are checked above)
    }
    work_.probes += plan.visits;
    return !over_budget();
  }

  // The radius's prefix visits in chunks on the pool's threads, each listing
  // the table positions it meets; this thread then takes them in walk order.
  bool probe_radius_split(const BucketTable& table, const PrefixPlan& plan) {
    const uint64_t most = uint64_t(split_threads_) * kChunksPerThread;
    const uint64_t chunks = std::min(plan.visits, std::clamp<uint64_t>(plan.visits / kMinChunkVisits, 2, most));
    if (s_.chunks.size() < chunks) s_.chunks.resize(chunks);
    const uint64_t per = (plan.visits + chunks - 1) / chunks;
    ThreadPool::global().parallel_for(chunks, split_threads_, [&](size_t c) {
      Pipeline& out = s_.chunks[c];
      out.positions.clear();
      const uint64_t first = c * per;
      if (first >= plan.visits) return;
      reserve(out);
      visit_prefixes(table, plan, first, std::min(per, plan.visits - first), out, [&](Range b) {
        for (uint64_t e = b.begin; e != b.end; ++e) out.positions.push_back(table.position(e));
      });
    });
    g_split_radii.fetch_add(1, std::memory_order_relaxed);
    for (uint64_t c = 0; c < chunks; ++c) {
      for (uint64_t p : s_.chunks[c].positions) take(p);
      if (s_.live.size() - verified_ >= kVerifyChunk) verify_pending();
    }
    work_.probes += plan.visits;
    return !over_budget();
  }

  // The loop before the pipeline: the reference of bench/bench_mih_tail.py.
  bool probe_radius_legacy(const BucketTable& table, uint32_t base, int key_bits, int r) {
    MaskWalk masks(key_bits, r);
    while (masks.valid()) {
      size_t n = 0;
      for (; n < kLegacyBlock && masks.valid(); masks.next_by_division()) s_.values[n++] = base ^ masks.value();
      for (size_t i = 0; i < std::min(n, kLegacyAhead); ++i) table.prefetch(s_.values[i]);
      for (size_t i = 0; i < n; ++i) {
        if (i + kLegacyAhead < n) table.prefetch(s_.values[i + kLegacyAhead]);
        collect(table, table.bucket(s_.values[i]));
      }
      work_.probes += n;
      if (over_budget()) return false;
    }
    return true;
  }

  bool sweep_radius(const BucketTable& table, uint32_t base, int r) {
    table.for_each_value([&](uint32_t value, BucketTable::Range b) {
      if (__builtin_popcount(value ^ base) == r) collect(table, b);
    });
    work_.probes += table.value_slots();
    return !over_budget();
  }

  bool over_budget() const { return probe_cost_ * double(work_.probes) + double(s_.live.size()) > budget_; }

  // Queues the store positions of the bucket's live codes not met before (by
  // the bitmap, on small indexes; else met_before sorts them out at
  // verification) and starts their fetch.
  void collect(const BucketTable& table, Range b) {
    for (uint64_t e = b.begin; e != b.end; ++e) take(table.position(e));
    if (s_.live.size() - verified_ >= kVerifyChunk) verify_pending();
  }

  void take(uint64_t p) {
    if (p >= segment_->positions) return;  // only in a damaged file read without verification
    const uint32_t pos = static_cast<uint32_t>(p);
    if (use_bitmap_) {
      const uint32_t bit = static_cast<uint32_t>(segment_bit_ + pos);
      uint64_t& word = s_.visited[bit >> 6];
      const uint64_t mask = uint64_t{1} << (bit & 63);
      if (word & mask) return;
      word |= mask;
      s_.found.push_back(bit);
    }
    uint32_t at = pos;
    const Tombstones& dead = segment_->dead;
    if (dead.count() != 0 && !dead.live(pos, &at)) return;
    at += static_cast<uint32_t>(segment_start_);
    s_.live.push_back(at);
    __builtin_prefetch(t_.db.codes + size_t{at} * t_.db.code_size);
  }

  // Whether a code met while probing (table_, radius_) was met before: by a
  // table j < table_ at this radius, or a later one at the previous radius.
  // Each segment lists a code once, in one segment, so this is exact.
  bool met_before(const uint8_t* code) const {
    const MultiIndexHashing::Tables& tables = main();
    for (int j = 0; j < tables.layout.m(); ++j) {
      if (j == table_) continue;
      const int d = __builtin_popcount(tables.key(code, t_.db.code_size, j) ^ s_.query_values[size_t(j)]);
      if (d <= radius_ - (j > table_ ? 1 : 0)) return true;
    }
    return false;
  }

  // Full-code distances of the queued candidates, in chunks, into the handler.
  void verify_pending() {
    const size_t cs = t_.db.code_size;
    while (verified_ < s_.live.size()) {
      const size_t n = std::min(kVerifyChunk, s_.live.size() - verified_);
      const uint32_t* positions = s_.live.data() + verified_;
      kt_.gather_distances(GatherBlock{q_, t_.db.codes, positions, n, cs, s_.distances.data()});
      for (size_t i = 0; i < n; ++i) {
        const dist_t d = s_.distances[i];
        if (d > out_.threshold(0)) continue;
        // Only codes that would enter the result need the check (no bitmap).
        if (!use_bitmap_ && met_before(t_.db.codes + size_t{positions[i]} * cs)) continue;
        out_.hit(0, d, positions[i]);
      }
      verified_ += n;
    }
  }

  const MihTables& t_;
  const uint8_t* q_;
  Handler& out_;
  MultiIndexHashing::Scratch& s_;
  double budget_, probe_cost_;
  int split_threads_;
  SearchWork& work_;
  const KernelTable& kt_;
  bool pipelined_;
  uint64_t split_min_;
  size_t verified_ = 0;          // of s_.live
  size_t positions_ = 0;         // table positions of every segment
  bool use_bitmap_ = true;
  int table_ = 0, radius_ = 0;   // the (table, radius) being probed
  const MultiIndexHashing::Tables* segment_ = nullptr;  // the segment being probed,
  size_t segment_bit_ = 0;       // its first bit in the visited bitmap,
  size_t segment_start_ = 0;     // and its first store position
};

}  // namespace

size_t MultiIndexHashing::visited_bitmap_limit() { return g_bitmap_limit.load(); }
void MultiIndexHashing::set_visited_bitmap_limit(size_t positions) { g_bitmap_limit.store(positions); }
int MultiIndexHashing::probe_pipeline() { return g_probe_pipeline.load(); }
void MultiIndexHashing::set_probe_pipeline(int mode) {
  require(mode == 0 || mode == 1, "probe_pipeline must be 0 or 1, got " + std::to_string(mode));
  g_probe_pipeline.store(mode);
}
size_t MultiIndexHashing::split_min_probes() { return g_split_min_probes.load(); }
void MultiIndexHashing::set_split_min_probes(size_t masks) { g_split_min_probes.store(std::max<size_t>(1, masks)); }
uint64_t MultiIndexHashing::split_radii() { return g_split_radii.load(); }

bool probe(const MihTables& t, const uint8_t* query, KnnHandler& out, MultiIndexHashing::Scratch& scratch,
           const ProbeLimits& limits, SearchWork& work) {
  return Walk<KnnHandler>(t, query, out, scratch, limits, work).run();
}

bool probe(const MihTables& t, const uint8_t* query, RangeHandler& out, MultiIndexHashing::Scratch& scratch,
           const ProbeLimits& limits, SearchWork& work) {
  return Walk<RangeHandler>(t, query, out, scratch, limits, work).run();
}

}  // namespace nash_index
