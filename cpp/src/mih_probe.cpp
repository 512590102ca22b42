#include "mih_probe.hpp"

#include <algorithm>
#include <atomic>

#include "kernels.hpp"

namespace nash_index {
namespace {

std::atomic<size_t> g_bitmap_limit{size_t{1} << 26};  // 8 MB of bitmap per thread

constexpr size_t kVerifyChunk = 256;  // candidates gathered before a verification pass
constexpr size_t kProbeBlock = 256;   // bucket values generated per block
constexpr size_t kProbeAhead = 8;     // bucket-start prefetch distance

// Every `len`-bit mask of popcount r, in increasing order (Gosper's hack).
class MaskWalk {
 public:
  MaskWalk(int len, int r) : end_(uint64_t{1} << len), mask_(r == 0 ? 0 : (uint64_t{1} << r) - 1), zero_(r == 0) {}
  bool valid() const { return mask_ < end_; }
  uint32_t value() const { return static_cast<uint32_t>(mask_); }
  void next() {
    if (zero_) {
      mask_ = end_;
      return;
    }
    const uint64_t low = mask_ & (~mask_ + 1);
    const uint64_t ripple = mask_ + low;
    mask_ = (((ripple ^ mask_) >> 2) / low) | ripple;
  }

 private:
  uint64_t end_, mask_;
  bool zero_;
};

double binomial(int n, int r) {
  double c = 1;
  for (int i = 1; i <= r; ++i) c = c * double(n - r + i) / double(i);
  return c;
}

// The handler holds this one query, at index 0.
template <class Handler>
class Walk {
 public:
  Walk(const MihTables& t, const uint8_t* query, Handler& out, MultiIndexHashing::Scratch& s, double budget,
       double probe_cost, SearchWork& work)
      : t_(t), q_(query), out_(out), s_(s), budget_(budget), probe_cost_(probe_cost), work_(work),
        kt_(kernels()) {}

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
    s_.values.resize(kProbeBlock);
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
    MaskWalk masks(key_bits, r);
    while (masks.valid()) {
      size_t n = 0;
      for (; n < kProbeBlock && masks.valid(); masks.next()) s_.values[n++] = base ^ masks.value();
      for (size_t i = 0; i < std::min(n, kProbeAhead); ++i) table.prefetch(s_.values[i]);
      for (size_t i = 0; i < n; ++i) {
        if (i + kProbeAhead < n) table.prefetch(s_.values[i + kProbeAhead]);
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
  void collect(const BucketTable& table, BucketTable::Range b) {
    const uint8_t* codes = t_.db.codes;
    const size_t cs = t_.db.code_size;
    uint64_t* visited = s_.visited.data();
    const Tombstones& dead = segment_->dead;
    const bool translate = dead.count() != 0;
    const uint64_t positions = segment_->positions;
    for (uint64_t e = b.begin; e != b.end; ++e) {
      const uint64_t p = table.position(e);
      if (p >= positions) continue;  // only in a damaged file read without verification
      const uint32_t pos = static_cast<uint32_t>(p);
      if (use_bitmap_) {
        const uint32_t bit = static_cast<uint32_t>(segment_bit_ + pos);
        uint64_t& word = visited[bit >> 6];
        const uint64_t mask = uint64_t{1} << (bit & 63);
        if (word & mask) continue;
        word |= mask;
        s_.found.push_back(bit);
      }
      uint32_t at = pos;
      if (translate && !dead.live(pos, &at)) continue;
      at += static_cast<uint32_t>(segment_start_);
      s_.live.push_back(at);
      __builtin_prefetch(codes + size_t{at} * cs);
    }
    if (s_.live.size() - verified_ >= kVerifyChunk) verify_pending();
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
  SearchWork& work_;
  const KernelTable& kt_;
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

bool probe(const MihTables& t, const uint8_t* query, KnnHandler& out, MultiIndexHashing::Scratch& scratch,
           double budget, double probe_cost, SearchWork& work) {
  return Walk<KnnHandler>(t, query, out, scratch, budget, probe_cost, work).run();
}

bool probe(const MihTables& t, const uint8_t* query, RangeHandler& out, MultiIndexHashing::Scratch& scratch,
           double budget, double probe_cost, SearchWork& work) {
  return Walk<RangeHandler>(t, query, out, scratch, budget, probe_cost, work).run();
}

}  // namespace nash_index
