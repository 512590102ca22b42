#include "mih_probe.hpp"

#include <algorithm>
#include <atomic>
#include <string>

#include "kernels.hpp"
#include "mih_masks.hpp"
#include "mih_prefix_walk.hpp"
#include "nash_index/common.hpp"
#include "thread_pool.hpp"

namespace nash_index {
namespace {

std::atomic<size_t> g_bitmap_limit{size_t{1} << 16};  // 8 KB of bitmap per thread (mih.hpp)
std::atomic<int> g_probe_pipeline{1};
// A radius of 2^10 lookups takes ~40 us on one core (10^9 codes), several times the pool's
// hand-off: from there a free second core pays. At 10^9 clustered codes (1,000 single 10-NN
// queries, 3 runs) 2^10 gave p99 3.7-4.3 ms against 4.5-5.3 ms at 2^13 and 7.1 ms unsplit;
// 2^9 was no better (bench/results/billion_1e9.md).
std::atomic<size_t> g_split_min_probes{size_t{1} << 10};
std::atomic<uint64_t> g_split_radii{0};

constexpr size_t kVerifyChunk = 256;  // candidates gathered before a verification pass
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

using prefix_walk::kProbeBlock;
using prefix_walk::reserve;
using prefix_walk::visit_prefixes;
using prefix_walk::Pipeline;
using prefix_walk::PrefixPlan;
using prefix_walk::Range;

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
    work_.candidates += candidates();
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
    if (probe_cost_ * double(work_.probes + plan.visits) + double(candidates()) > budget_) return false;
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

  // The radius's prefix visits in chunks on the pool's threads. Each lists the
  // table positions it meets and verifies their codes (the codes' misses are
  // most of a long radius's cost at 10^9); this thread then takes them in walk
  // order, so the result is the sequential walk's.
  bool probe_radius_split(const BucketTable& table, const PrefixPlan& plan) {
    const uint64_t most = uint64_t(split_threads_) * kChunksPerThread;
    const uint64_t chunks = std::min(plan.visits, std::clamp<uint64_t>(plan.visits / kMinChunkVisits, 2, most));
    if (s_.chunks.size() < chunks) s_.chunks.resize(chunks);
    const uint64_t per = (plan.visits + chunks - 1) / chunks;
    // The chunks stop once the positions they met (an upper bound of the
    // candidates) pass the budget, as the sequential walk would stop.
    const double room = budget_ - probe_cost_ * double(work_.probes + plan.visits) - double(candidates());
    std::atomic<uint64_t> met{0};
    std::atomic<bool> over{false};
    ThreadPool::global().parallel_for(chunks, split_threads_, [&](size_t c) {
      Pipeline& out = s_.chunks[c];
      out.positions.clear();
      out.live.clear();
      reserve(out);
      const uint64_t end = std::min(plan.visits, (c + 1) * per);
      for (uint64_t first = c * per; first < end && !over.load(std::memory_order_relaxed); first += kProbeBlock) {
        const size_t before = out.positions.size(), live_before = out.live.size();
        visit_prefixes(table, plan, first, std::min<uint64_t>(kProbeBlock, end - first), out, [&](Range b) {
          for (uint64_t e = b.begin; e != b.end; ++e) meet(table.position(e), out);
        });
        const size_t got = out.positions.size() - before, live = out.live.size() - live_before;
        if (double(met.fetch_add(got) + got) > room) over = true;
        out.distances.resize(out.live.size());  // the block's live codes, fetched while it was walked
        if (live) kt_.gather_distances(GatherBlock{q_, t_.db.codes, out.live.data() + live_before, live,
                                                   t_.db.code_size, out.distances.data() + live_before});
      }
    });
    g_split_radii.fetch_add(1, std::memory_order_relaxed);
    if (over.load()) return false;
    verify_pending();  // candidates of earlier segments first: hits in walk order
    for (uint64_t c = 0; c < chunks; ++c) {
      const Pipeline& in = s_.chunks[c];
      size_t next_live = 0;  // live[] and distances[] skip the removed codes
      for (uint64_t p : in.positions) {
        const bool removed = (p & kDeadBit) != 0;
        take_verified(p, removed ? 0 : in.live[next_live], removed ? 0 : in.distances[next_live]);
        next_live += removed ? 0 : 1;
      }
    }
    work_.probes += plan.visits;
    return !over_budget();
  }

  // A parallel chunk's share of take(): the table position (kDeadBit set:
  // removed) and, for a live code, its store position, its fetch started.
  static constexpr uint64_t kDeadBit = uint64_t{1} << 63;
  void meet(uint64_t p, Pipeline& out) const {
    if (p >= segment_->positions) return;  // only in a damaged file read without verification
    uint32_t at = 0;
    if (!store_position(p, &at)) {
      out.positions.push_back(p | kDeadBit);  // still marks the visited bitmap, as take() does
      return;
    }
    out.positions.push_back(p);
    out.live.push_back(at);
    __builtin_prefetch(t_.db.codes + size_t{at} * t_.db.code_size);
  }

  // take() then verification, for a code a chunk has met and measured.
  void take_verified(uint64_t p, uint32_t at, dist_t d) {
    if (!first_meeting(p & ~kDeadBit) || (p & kDeadBit)) return;
    ++split_candidates_;
    if (d > out_.threshold(0)) return;
    if (!use_bitmap_ && met_before(t_.db.codes + size_t{at} * t_.db.code_size)) return;
    out_.hit(0, d, at);
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

  size_t candidates() const { return s_.live.size() + split_candidates_; }
  bool over_budget() const { return probe_cost_ * double(work_.probes) + double(candidates()) > budget_; }

  // Queues the store positions of the bucket's live codes not met before (by
  // the bitmap, on small indexes; else met_before sorts them out at
  // verification) and starts their fetch.
  void collect(const BucketTable& table, Range b) {
    for (uint64_t e = b.begin; e != b.end; ++e) take(table.position(e));
    if (s_.live.size() - verified_ >= kVerifyChunk) verify_pending();
  }

  void take(uint64_t p) {
    if (p >= segment_->positions) return;  // only in a damaged file read without verification
    uint32_t at = 0;
    if (!first_meeting(p) || !store_position(p, &at)) return;
    s_.live.push_back(at);
    __builtin_prefetch(t_.db.codes + size_t{at} * t_.db.code_size);
  }

  // False when the visited bitmap (small indexes) has met table position p of
  // this segment before; marks it met. Without the bitmap, always true.
  bool first_meeting(uint64_t p) {
    if (!use_bitmap_) return true;
    const uint32_t bit = static_cast<uint32_t>(segment_bit_ + p);
    uint64_t& word = s_.visited[bit >> 6];
    const uint64_t mask = uint64_t{1} << (bit & 63);
    if (word & mask) return false;
    word |= mask;
    s_.found.push_back(bit);
    return true;
  }

  // The store position of the code at table position p of this segment; false when it was removed.
  bool store_position(uint64_t p, uint32_t* at) const {
    *at = static_cast<uint32_t>(p);
    const Tombstones& dead = segment_->dead;
    if (dead.count() != 0 && !dead.live(static_cast<uint32_t>(p), at)) return false;
    *at += static_cast<uint32_t>(segment_start_);
    return true;
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
  size_t split_candidates_ = 0;  // live codes met and verified by parallel chunks
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
