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
      for (uint32_t pos : s_.found) s_.visited[pos >> 6] &= ~(uint64_t{1} << (pos & 63));
    work_.candidates += s_.found.size();
    s_.found.clear();
    s_.live.clear();
    return completed;
  }

 private:
  void prepare_scratch() {
    use_bitmap_ = t_.tables->positions <= g_bitmap_limit.load(std::memory_order_relaxed);
    const size_t words = use_bitmap_ ? (t_.tables->positions + 63) / 64 : 0;
    if (s_.visited.size() < words) s_.visited.resize(words, 0);
    s_.distances.resize(kVerifyChunk);
    s_.values.resize(kProbeBlock);
    s_.found.clear();
    s_.live.clear();
    // Without tombstones table positions are store positions: verify `found` itself.
    queue_ = t_.tables->dead.count() == 0 ? &s_.found : &s_.live;
    verified_ = 0;
  }

  void scan_tail() {
    const size_t tail = t_.db.ntotal - t_.indexed;
    if (tail == 0) return;
    const size_t cs = t_.db.code_size;
    kt_.scan(ScanBlock{q_, 1, t_.db.codes + t_.indexed * cs, tail, cs, t_.indexed, 0}, out_);
    work_.candidates += tail;
  }

  // Substring radius r over table j, for r = 0, 1, ...; after (r, j) every
  // code within m*r + j has been verified (one not found is at least m*r + j + 1 away).
  bool walk_tables() {
    const SubstringLayout& layout = t_.tables->layout;
    const int m = layout.m();
    s_.query_values.resize(static_cast<size_t>(m));
    int max_key_bits = 0;
    for (int j = 0; j < m; ++j) {
      s_.query_values[static_cast<size_t>(j)] = t_.tables->key(q_, t_.db.code_size, j);
      max_key_bits = std::max(max_key_bits, t_.tables->key_bits(j));
    }
    for (int r = 0; r <= max_key_bits; ++r) {
      for (int j = 0; j < m; ++j) {
        table_ = j;
        radius_ = r;
        if (r <= t_.tables->key_bits(j) && !probe_radius(j, r)) return false;
        verify_pending();
        if (out_.complete(0, static_cast<dist_t>(m * r + j))) return true;
        if (use_bitmap_ && s_.found.size() == t_.tables->positions) return true;  // every table position met
      }
    }
    return true;
  }

  bool probe_radius(int j, int r) {
    const BucketTable& table = t_.tables->by_substring[static_cast<size_t>(j)];
    const uint32_t base = s_.query_values[static_cast<size_t>(j)];
    // C(len, r) grows to 6e8 for 32-bit substrings: past the table's own
    // size, one pass over its values is cheaper than enumerating masks.
    const int key_bits = t_.tables->key_bits(j);
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
      if (probe_cost_ * double(work_.probes) + double(s_.found.size()) > budget_) return false;
    }
    return true;
  }

  bool sweep_radius(const BucketTable& table, uint32_t base, int r) {
    table.for_each_value([&](uint32_t value, BucketTable::Range b) {
      if (__builtin_popcount(value ^ base) == r) collect(table, b);
    });
    work_.probes += table.value_slots();
    return probe_cost_ * double(work_.probes) + double(s_.found.size()) <= budget_;
  }

  // Queues the bucket's codes not met before (by the bitmap, on small
  // indexes; else met_before sorts them out at verification), translated to
  // store positions when the tables have tombstones, and starts their fetch.
  void collect(const BucketTable& table, BucketTable::Range b) {
    const uint8_t* codes = t_.db.codes;
    const size_t cs = t_.db.code_size;
    uint64_t* visited = s_.visited.data();
    const Tombstones& dead = t_.tables->dead;
    const bool translate = queue_ != &s_.found;
    const uint64_t positions = t_.tables->positions;
    for (uint64_t e = b.begin; e != b.end; ++e) {
      const uint64_t p = table.position(e);
      if (p >= positions) continue;  // only in a damaged file read without verification
      const uint32_t pos = static_cast<uint32_t>(p);
      if (use_bitmap_) {
        uint64_t& word = visited[pos >> 6];
        const uint64_t bit = uint64_t{1} << (pos & 63);
        if (word & bit) continue;
        word |= bit;
      }
      s_.found.push_back(pos);
      uint32_t at = pos;
      if (translate) {
        if (!dead.live(pos, &at)) continue;
        s_.live.push_back(at);
      }
      __builtin_prefetch(codes + size_t{at} * cs);
    }
    if (queue_->size() - verified_ >= kVerifyChunk) verify_pending();
  }

  // Whether a code met while probing (table_, radius_) was met before: by a
  // table j < table_ at this radius, or a later one at the previous radius.
  // Each table lists a code once, so this is exact.
  bool met_before(const uint8_t* code) const {
    const MultiIndexHashing::Tables& tables = *t_.tables;
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
    while (verified_ < queue_->size()) {
      const size_t n = std::min(kVerifyChunk, queue_->size() - verified_);
      const uint32_t* positions = queue_->data() + verified_;
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
  std::vector<uint32_t>* queue_ = nullptr;  // store positions to verify
  size_t verified_ = 0;
  bool use_bitmap_ = true;
  int table_ = 0, radius_ = 0;  // the (table, radius) being probed
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
