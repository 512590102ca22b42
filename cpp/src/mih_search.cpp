// MultiIndexHashing queries: table walks, and the rule that sends a query or
// a batch to the flat scan over the same codes instead.
//
// Costs are counted in "candidate units" (verifying one candidate = 1; a
// bucket probe = params.probe_cost; one 64-bit code read by a scan =
// scan_cost_single for a lone query, scan_cost_batch inside a batch; a scan
// reads code_size / 8 times as much per code, a candidate one cache line
// whatever its size). Defaults were measured by bench/bench_mih.py
// (--calibrate) on the 2-core reference machine.
//  - single query: walk with a budget of the scan's cost (kWalkMargin x that
//    when the codes exceed the cache); past it, the walk stops and the query
//    is scanned (worst case ~2x a scan). After
//    kAbortStreak such queries in a row, queries are scanned directly, except
//    one in kReprobeEvery that walks again (an aborted walk costs up to ~1.5
//    scans at 10^8 codes, so uniform data pays ~5% extra; 1 in 16 measured 9%).
//  - batch: a sample of queries walks first; when their mean cost exceeds a
//    scan's cost per query (kWalkMargin x that beyond the cache), the rest goes
//    to the blocked scan (scan_knn).
//    Each walk of a batch keeps a budget of a whole scan's cost per query.
//    Queries whose walk passed its budget are gathered into one blocked scan.
//  - k >= ntotal / 16 (most codes would be verified anyway): scan.
#include <algorithm>
#include <atomic>
#include <limits>

#include "code_store.hpp"
#include "mih_probe.hpp"
#include "nash_index/mih.hpp"
#include "running_search.hpp"
#include "thread_pool.hpp"
#include "result_handler.hpp"

namespace nash_index {
namespace {

constexpr int kAbortStreak = 4;
constexpr uint32_t kReprobeEvery = 32;
constexpr size_t kMinBatchForBlockedScan = 32;  // below this a scan pays nearly the single-query cost
constexpr double kMinBudget = 4096;
// Once the codes no longer fit in cache, every candidate a walk verifies is a cache miss and the
// model's units underprice it: at 10^7 uniform 64-bit codes (80 MB) a single query's walk priced at
// 0.54 of a scan took 1.4x the scan's time. Beyond kCachedCodeBytes a walk must then be priced at
// most kWalkMargin of the scan to be chosen, so near ties go to the scan, whose time is predictable;
// below it the units hold (10^6 codes) and the full budget stays (bench/bench_auto.py,
// bench/results/auto.md). Clustered codes walk for a few percent of a scan either way.
constexpr double kWalkMargin = 0.4;
constexpr double kCachedCodeBytes = 32.0 * 1024 * 1024;  // not the reported L3: it is shared by the host

// Cost of scanning n codes of code_size bytes at `per_word` units per 64-bit code.
double scan_units(size_t n, size_t code_size, double per_word) {
  return double(n) * per_word * (double(code_size) / 8.0);
}

double walk_cost(const SearchWork& w, const MihParams& p) {
  return p.probe_cost * double(w.probes) + double(w.candidates);
}

// A table walk's scratch, borrowed from the index's pool for one query.
class ScratchLease {
 public:
  ScratchLease(std::mutex& mu, std::vector<std::unique_ptr<MultiIndexHashing::Scratch>>& pool)
      : mu_(mu), pool_(pool) {
    std::lock_guard<std::mutex> lock(mu_);
    if (pool_.empty()) {
      s_ = std::make_unique<MultiIndexHashing::Scratch>();
    } else {
      s_ = std::move(pool_.back());
      pool_.pop_back();
    }
  }
  ~ScratchLease() {
    std::lock_guard<std::mutex> lock(mu_);
    pool_.push_back(std::move(s_));
  }
  MultiIndexHashing::Scratch& get() { return *s_; }

 private:
  std::mutex& mu_;
  std::vector<std::unique_ptr<MultiIndexHashing::Scratch>>& pool_;
  std::unique_ptr<MultiIndexHashing::Scratch> s_;
};

}  // namespace

bool MultiIndexHashing::scan_everything(size_t k) const {
  if (params_.fallback == ScanFallback::Always || indexed_ == 0) return true;
  return params_.fallback == ScanFallback::Auto && k * 16 >= store_->size();
}

double MultiIndexHashing::query_budget(size_t nq) const {
  if (params_.fallback != ScanFallback::Auto) return std::numeric_limits<double>::infinity();
  // Inside a batch an abandoned walk joins the blocked scan, which is cheaper per query; that scan
  // reads every code once for all such queries, so a batch keeps the full budget (a lower one sent
  // 10^8 clustered codes' long walks to a scan pass: 38% fewer queries per second).
  if (nq >= kMinBatchForBlockedScan)
    return std::max(kMinBudget, scan_units(store_->size(), store_->code_size(), params_.scan_cost_batch));
  const double code_bytes = double(store_->size()) * double(store_->code_size());
  const double margin = code_bytes > kCachedCodeBytes ? kWalkMargin : 1.0;
  return std::max(kMinBudget, margin * scan_units(store_->size(), store_->code_size(), params_.scan_cost_single));
}

bool MultiIndexHashing::skip_tables_for_single_query() const {
  if (params_.fallback != ScanFallback::Auto || abort_streak_.load() < kAbortStreak) return false;
  return skipped_.fetch_add(1) % kReprobeEvery != 0;
}

void MultiIndexHashing::note_single_query(bool completed) const {
  // Read before writing: every query writing the shared line would bounce it between the cores
  // of concurrent callers.
  if (completed) {
    if (abort_streak_.load(std::memory_order_relaxed) != 0) abort_streak_.store(0);
  } else {
    abort_streak_.fetch_add(1);
  }
}

namespace {

// Per-query work counters: the caller's array, or our own; zeroed.
class WorkSlots {
 public:
  WorkSlots(SearchWork* given, size_t nq) : ptr_(given) {
    if (!ptr_) {
      own_.resize(nq);
      ptr_ = own_.data();
    }
    std::fill(ptr_, ptr_ + nq, SearchWork{});
  }
  SearchWork* get() const { return ptr_; }

 private:
  std::vector<SearchWork> own_;
  SearchWork* ptr_;
};

// The listed rows of a row-major array, contiguous (the scan takes a block of queries).
std::vector<uint8_t> gather_rows(const uint8_t* rows, size_t row_size, const std::vector<size_t>& list) {
  std::vector<uint8_t> out(list.size() * row_size);
  for (size_t i = 0; i < list.size(); ++i) std::copy_n(rows + list[i] * row_size, row_size, out.data() + i * row_size);
  return out;
}

// Shared shape of k-NN and range batches: `walk(q, work)` tries the tables
// and returns false when over budget; `scan(list, threads)` answers the listed
// queries together by the blocked flat scan.
template <class WalkFn, class ScanFn>
void run_batch(size_t nq, int threads, const MihParams& p, size_t ntotal, size_t code_size, SearchWork* work,
               WalkFn walk, ScanFn scan) {
  std::vector<char> walked_ok(nq, 0);
  auto walk_range = [&](size_t q0, size_t n) {
    ThreadPool::global().parallel_for(n, threads, [&](size_t i) { walked_ok[q0 + i] = walk(q0 + i, work[q0 + i]); });
  };
  auto scan_failed_and = [&](size_t from) {  // failed walks, then queries [from, nq)
    std::vector<size_t> list;
    for (size_t q = 0; q < nq; ++q)
      if (q >= from || !walked_ok[q]) {
        list.push_back(q);
        work[q].scanned = true;
      }
    if (!list.empty()) scan(list, threads);
  };
  const size_t sample = std::min(nq, std::max<size_t>(8, 2 * size_t(threads)));
  walk_range(0, sample);
  const size_t rest = nq - sample;
  if (rest > 0 && p.fallback == ScanFallback::Auto) {
    double walked = 0;
    for (size_t q = 0; q < sample; ++q)
      walked += walk_cost(work[q], p) + (walked_ok[q] ? 0.0 : scan_units(ntotal, code_size, p.scan_cost_batch));
    const double scan_unit = rest >= kMinBatchForBlockedScan ? p.scan_cost_batch : p.scan_cost_single;
    const double margin = double(ntotal) * double(code_size) > kCachedCodeBytes ? kWalkMargin : 1.0;
    if (walked / double(sample) > margin * scan_units(ntotal, code_size, scan_unit)) return scan_failed_and(sample);
  }
  walk_range(sample, rest);
  scan_failed_and(nq);
}

// How the shared driver walks one query: the tables, the budget, and a
// scratch borrowed from the index's pool for the walk.
struct Walker {
  MihTables tables;
  ProbeLimits limits;
  std::mutex& scratch_mutex;
  std::vector<std::unique_ptr<MultiIndexHashing::Scratch>>& scratch_pool;

  template <class Handler>
  bool probe(const uint8_t* query, Handler& out, SearchWork& work) const {
    ScratchLease scratch(scratch_mutex, scratch_pool);
    return nash_index::probe(tables, query, out, scratch.get(), limits, work);
  }
};

// MultiIndexHashing searches running now (every caller and index). A single
// query's long radius is split between the pool's threads only while fewer
// run than the pool has threads (the flat scan's rule, scan_search.cpp):
// otherwise the cores already serve other callers and a split adds only
// hand-offs. A batch walks its queries in parallel and never splits one.
std::atomic<int> g_running_searches{0};

// k-NN queries as the driver sees them: walk one, scan some or all.
class KnnQueries {
 public:
  KnnQueries(const CodesView& db, const uint8_t* queries, size_t k, dist_t* distances, idx_t* ids)
      : db_(db), queries_(queries), k_(k), distances_(distances), ids_(ids) {}
  size_t k() const { return k_; }
  bool walk(const Walker& walker, size_t q, SearchWork& work) {
    KnnHandler top(db_, 1, k_, false);  // the walk meets ids out of order
    if (!walker.probe(queries_ + q * db_.code_size, top, work)) return false;
    top.topk(0).finish_into(distances_ + q * k_, ids_ + q * k_);
    return true;
  }
  void scan_all(size_t nq, int threads) { scan_knn(db_, queries_, nq, k_, distances_, ids_, threads); }
  // The listed queries, gathered, scanned together and scattered back.
  void scan(const std::vector<size_t>& list, int threads) {
    const std::vector<uint8_t> rows = gather_rows(queries_, db_.code_size, list);
    std::vector<dist_t> dbuf(list.size() * k_);
    std::vector<idx_t> ibuf(list.size() * k_);
    scan_knn(db_, rows.data(), list.size(), k_, dbuf.data(), ibuf.data(), threads);
    for (size_t i = 0; i < list.size(); ++i) {
      std::copy_n(dbuf.data() + i * k_, k_, distances_ + list[i] * k_);
      std::copy_n(ibuf.data() + i * k_, k_, ids_ + list[i] * k_);
    }
  }

 private:
  const CodesView& db_;
  const uint8_t* queries_;
  size_t k_;
  dist_t* distances_;
  idx_t* ids_;
};

// Range queries as the driver sees them; result() assembles the CSR.
class RangeQueries {
 public:
  RangeQueries(const CodesView& db, const uint8_t* queries, size_t nq, dist_t radius)
      : db_(db), queries_(queries), radius_(radius), found_(nq) {}
  size_t k() const { return 1; }  // for the k >= ntotal / 16 rule: nothing to add
  bool walk(const Walker& walker, size_t q, SearchWork& work) {
    RangeHandler within(db_, 1, radius_);
    if (!walker.probe(queries_ + q * db_.code_size, within, work)) return false;
    found_[q] = std::move(within.found(0));
    return true;
  }
  void scan_all(size_t nq, int threads) { found_ = scan_range_lists(db_, queries_, nq, radius_, threads); }
  void scan(const std::vector<size_t>& list, int threads) {
    const std::vector<uint8_t> rows = gather_rows(queries_, db_.code_size, list);
    std::vector<std::vector<Neighbor>> lists = scan_range_lists(db_, rows.data(), list.size(), radius_, threads);
    for (size_t i = 0; i < list.size(); ++i) found_[list[i]] = std::move(lists[i]);
  }
  RangeResult result() { return to_range_result(found_); }

 private:
  const CodesView& db_;
  const uint8_t* queries_;
  dist_t radius_;
  std::vector<std::vector<Neighbor>> found_;
};

}  // namespace

// Set-up and routing shared by search and range_search: work slots, threads,
// and the choice between the tables and the scan (see the top of this file).
template <class Queries>
void MultiIndexHashing::answer(Queries& queries, size_t nq, int num_threads, SearchWork* given) const {
  if (nq == 0) return;
  WorkSlots slots(given, nq);
  SearchWork* work = slots.get();
  const int threads = resolve_threads(num_threads);
  const bool single = nq == 1;
  if (scan_everything(queries.k()) || (single && skip_tables_for_single_query())) {
    queries.scan_all(nq, threads);
    for (size_t q = 0; q < nq; ++q) work[q].scanned = true;
    return;
  }
  const RunningSearch running(g_running_searches);
  const int split = single && running.running < threads ? threads : 1;
  const Walker walker{MihTables{store_->view(), &segments_, indexed_},
                      ProbeLimits{query_budget(nq), params_.probe_cost, split}, scratch_mutex_, scratch_pool_};
  auto walk = [&](size_t q, SearchWork& w) { return queries.walk(walker, q, w); };
  if (single) {
    const bool completed = walk(0, work[0]);
    note_single_query(completed);
    if (!completed) {
      queries.scan_all(1, threads);
      work[0].scanned = true;
    }
    return;
  }
  auto scan = [&](const std::vector<size_t>& list, int t) { queries.scan(list, t); };
  run_batch(nq, threads, params_, store_->size(), store_->code_size(), work, walk, scan);
}

void MultiIndexHashing::search(const uint8_t* queries, size_t nq, size_t k, dist_t* distances, idx_t* ids,
                               int num_threads, SearchWork* work) const {
  require(k > 0, "k must be > 0");
  const CodesView db = store_->view();
  KnnQueries knn(db, queries, k, distances, ids);
  answer(knn, nq, num_threads, work);
}

RangeResult MultiIndexHashing::range_search(const uint8_t* queries, size_t nq, dist_t radius, int num_threads,
                                            SearchWork* work) const {
  require(radius >= 0, "radius must be >= 0");
  const CodesView db = store_->view();
  RangeQueries range(db, queries, nq, radius);
  answer(range, nq, num_threads, work);
  return range.result();
}

}  // namespace nash_index
