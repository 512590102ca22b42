#include "scan_search.hpp"

#include <algorithm>
#include <atomic>
#include <mutex>

#include "running_search.hpp"
#include "thread_pool.hpp"
#include "result_handler.hpp"

namespace nash_index {
namespace {

// Codes per kernel call: a block that stays in L1/L2 while a tile of queries runs over it.
size_t block_codes(size_t code_size) { return std::max<size_t>(64, (32u << 10) / code_size); }
constexpr size_t kQueriesPerTask = 32;
constexpr size_t kMinCodesPerThread = 16384;  // below this a database slice costs more than it saves

// Runs the kernel over the codes at positions [begin, end) for queries [0, nq) of `queries`.
void scan_positions(const CodesView& db, const uint8_t* queries, size_t nq, size_t begin, size_t end,
                    HitSink& sink) {
  const KernelTable& kt = kernels();
  const size_t step = block_codes(db.code_size);
  for (size_t b = begin; b < end; b += step) {
    const size_t n = std::min(step, end - b);
    kt.scan(ScanBlock{queries, nq, db.codes + b * db.code_size, n, db.code_size, b, 0}, sink);
  }
}

// Searches of the flat scan running now (every caller): a search splits its database between
// the pool's threads only while fewer searches run than the pool has threads. Otherwise
// the cores are already busy with other callers, and a split would only add hand-offs and
// merges (total q/s fell 11% from 4 to 8 Python callers): the search runs on its caller.
std::atomic<int> g_running_searches{0};

// Slices of the database for few queries: several per thread, claimed as threads come free,
// so that a thread the OS delays (a shared machine) holds up one small slice, not half the scan.
constexpr size_t kSlicesPerThread = 8;

size_t database_parts(const CodesView& db, size_t nq, int threads, int running) {
  if (nq >= static_cast<size_t>(threads) * 2) return 1;  // query-parallel is better
  if (threads <= 1 || running >= threads) return 1;
  return std::max<size_t>(1, std::min<size_t>(threads * kSlicesPerThread, db.ntotal / kMinCodesPerThread));
}

// The two ways to share a scan between threads. parts > 1 (few queries): one
// slice of the database per part, each with a handler over every query;
// otherwise tasks of kQueriesPerTask queries over the whole database.
// make(n) builds a handler for n queries; done(handler, q0, n, part) takes
// its results for queries [q0, q0 + n).
template <class Make, class Done>
void run_scan(const CodesView& db, const uint8_t* queries, size_t nq, size_t parts, int threads, Make make,
              Done done) {
  if (parts > 1) {
    const size_t per = (db.ntotal + parts - 1) / parts;
    ThreadPool::global().parallel_for(parts, threads, [&](size_t p) {
      const size_t begin = p * per, end = std::min(db.ntotal, begin + per);
      auto handler = make(nq);
      if (begin < end) scan_positions(db, queries, nq, begin, end, handler);
      done(handler, 0, nq, p);
    });
    return;
  }
  const size_t ntasks = (nq + kQueriesPerTask - 1) / kQueriesPerTask;
  ThreadPool::global().parallel_for(ntasks, threads, [&](size_t t) {
    const size_t q0 = t * kQueriesPerTask, qn = std::min(kQueriesPerTask, nq - q0);
    auto handler = make(qn);
    scan_positions(db, queries + q0 * db.code_size, qn, 0, db.ntotal, handler);
    done(handler, q0, qn, 0);
  });
}

}  // namespace

void scan_knn(const CodesView& db, const uint8_t* queries, size_t nq, size_t k, dist_t* distances, idx_t* ids,
              int num_threads) {
  if (nq == 0) return;
  const int threads = resolve_threads(num_threads);
  const RunningSearch search(g_running_searches);
  const size_t parts = database_parts(db, nq, threads, search.running);
  auto make = [&](size_t n) { return KnnHandler(db, n, k, db.ids_increasing); };
  if (parts == 1) {
    return run_scan(db, queries, nq, parts, threads, make, [&](KnnHandler& h, size_t q0, size_t n, size_t) {
      for (size_t q = 0; q < n; ++q) h.topk(q).finish_into(distances + (q0 + q) * k, ids + (q0 + q) * k);
    });
  }
  // Every part keeps its own top-k of every query; merged at the end.
  std::vector<std::vector<std::vector<Neighbor>>> partial(nq, std::vector<std::vector<Neighbor>>(parts));
  run_scan(db, queries, nq, parts, threads, make, [&](KnnHandler& h, size_t, size_t n, size_t p) {
    for (size_t q = 0; q < n; ++q) partial[q][p] = h.topk(q).finish();
  });
  for (size_t q = 0; q < nq; ++q) merge_topk(partial[q], k, distances + q * k, ids + q * k);
}

std::vector<std::vector<Neighbor>> scan_range_lists(const CodesView& db, const uint8_t* queries, size_t nq,
                                                    dist_t radius, int num_threads) {
  std::vector<std::vector<Neighbor>> found(nq);
  if (nq == 0) return found;
  const int threads = resolve_threads(num_threads);
  const RunningSearch search(g_running_searches);
  std::mutex merge_mutex;  // database parts add to the same queries
  auto make = [&](size_t n) { return RangeHandler(db, n, radius); };
  run_scan(db, queries, nq, database_parts(db, nq, threads, search.running), threads, make,
           [&](RangeHandler& h, size_t q0, size_t n, size_t) {
             std::lock_guard<std::mutex> lock(merge_mutex);
             for (size_t q = 0; q < n; ++q) {
               std::vector<Neighbor>& to = found[q0 + q];
               if (to.empty()) to = std::move(h.found(q));
               else to.insert(to.end(), h.found(q).begin(), h.found(q).end());
             }
           });
  return found;
}

RangeResult scan_range(const CodesView& db, const uint8_t* queries, size_t nq, dist_t radius, int num_threads) {
  std::vector<std::vector<Neighbor>> found = scan_range_lists(db, queries, nq, radius, num_threads);
  return to_range_result(found);
}

}  // namespace nash_index
