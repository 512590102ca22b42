#include "scan_search.hpp"

#include <algorithm>
#include <atomic>
#include <deque>
#include <mutex>

#include "running_search.hpp"
#include "sliced_codes.hpp"
#include "thread_pool.hpp"
#include "result_handler.hpp"

namespace nash_index {
namespace {

// Codes per kernel call: a block that stays in L1/L2 while a tile of queries runs over it.
size_t block_codes(size_t code_size) { return std::max<size_t>(64, (32u << 10) / code_size); }
constexpr size_t kQueriesPerTask = 32;
constexpr size_t kMinCodesPerThread = 16384;  // below this per thread, a split costs more than it saves
constexpr size_t kMinSliceCodes = 4096;        // slices are claimed by threads that keep their top-k: cheap

// Runs the kernel over the codes at positions [begin, end) for queries [0, nq) of `queries`, calling
// between(sink) after each block.
template <class Sink, class Between>
void scan_positions(const CodesView& db, const uint8_t* queries, size_t nq, size_t begin, size_t end, Sink& sink,
                    Between between) {
  const KernelTable& kt = kernels();
  const size_t step = block_codes(db.code_size);
  for (size_t b = begin; b < end; b += step) {
    const size_t n = std::min(step, end - b);
    kt.scan(ScanBlock{queries, nq, db.codes + b * db.code_size, n, db.code_size, b, 0}, sink);
    between(sink);
  }
}

// The k-th distances the threads of one split scan have reached, per query: each prunes by the best
// of them, so a thread whose slices hold no near codes still skips what the other's top-k rules out.
class SharedBounds {
 public:
  SharedBounds(size_t nq, dist_t start) : bounds_(nq) {
    for (auto& b : bounds_) b.store(start, std::memory_order_relaxed);
  }
  void share(KnnHandler& h) {
    for (size_t q = 0; q < bounds_.size(); ++q) {
      const dist_t mine = h.topk(q).kth_distance();
      dist_t best = bounds_[q].load(std::memory_order_relaxed);
      while (mine < best && !bounds_[q].compare_exchange_weak(best, mine, std::memory_order_relaxed)) {
      }
      h.cap(q, std::min(mine, best));
    }
  }

 private:
  std::vector<std::atomic<dist_t>> bounds_;
};

// Searches of the flat scan running now (every caller): a search splits its database between
// the pool's threads only while fewer searches run than the pool has threads. Otherwise
// the cores are already busy with other callers, and a split would only add hand-offs and
// merges (total q/s fell 11% from 4 to 8 Python callers): the search runs on its caller.
std::atomic<int> g_running_searches{0};

// Slices of the database for few queries: several per thread, so that a thread done with its own
// run helps with the runs after it slice by slice (the OS may delay a thread on a shared machine).
constexpr size_t kSlicesPerThread = 16;

size_t database_parts(const CodesView& db, size_t nq, int threads, int running) {
  if (nq >= static_cast<size_t>(threads) * 2) return 1;  // query-parallel is better
  if (threads <= 1 || running >= threads) return 1;
  if (db.ntotal < 2 * kMinCodesPerThread) return 1;
  return std::min<size_t>(threads * kSlicesPerThread, db.ntotal / kMinSliceCodes);
}

// Batches from this many queries scan bit-sliced codes where the level has that kernel. Below it
// the transposition (a fixed cost per batch) and the per-query setup eat the gain over the word
// kernels. Measured with the same batch through both paths (100k codes, 32-1000 queries):
// - AVX2 (no vector popcount; AMD Zen 4): the sliced scan wins from ~24 queries at 64-512 bits
//   (1.1-1.8x at 64) and from ~100 at 1024;
// - AVX-512 (VPOPCNTQ word kernels, 512-code planes with vpternlog, a vpermb transposition;
//   Intel): from ~380 queries at 64 bits, ~250 at 128, ~190 at 256 and below 32 at 512 and 1024
//   bits (the word kernels over 512 bits do not block queries). Over codes beyond the caches the
//   word kernels wait on memory (every block of queries streams every code) while the sliced scan
//   counts 2 MiB at a time for all of them: it wins from ~130 queries over 10^7 64-bit codes and
//   5 * 10^6 128-bit ones, ~100 over 2.5 * 10^6 256-bit ones, ~250 over 10^6 64-bit ones (8 MB).
constexpr size_t kCachedCodesBytes = size_t{16} << 20;
size_t least_sliced_queries(int nbits, size_t codes_bytes) {
  if (kernels().sliced_lanes >= 512) {
    const bool beyond_caches = codes_bytes >= kCachedCodesBytes;
    if (nbits <= 64) return beyond_caches ? 160 : 384;
    if (nbits <= 128) return beyond_caches ? 128 : 256;
    if (nbits <= 256) return beyond_caches ? 96 : 192;
    return nbits <= 1024 ? 32 : 128;
  }
  return nbits <= 512 ? 32 : 128;
}
// Codes transposed at a time: the planes stay in the caches while every task scans them, and a
// batch over 10^8 codes needs no second copy of them.
constexpr size_t kSlicedChunkBytes = size_t{2} << 20;

bool use_sliced(const CodesView& db, size_t nq) {
  return kernels().scan_sliced && sliceable(db.nbits) && nq >= least_sliced_queries(db.nbits, db.ntotal * db.code_size) &&
         db.ntotal >= kernels().sliced_lanes;
}

// A handler built in place by make(n) (handlers are neither copied nor moved).
template <class Handler>
struct HandlerSlot {
  Handler handler;
  template <class Make>
  HandlerSlot(Make& make, size_t n) : handler(make(n)) {}
};

// Queries of one pass over the codes: their handlers live through the pass (the word kernels
// keep one task's), so a batch of 10^6 queries at large k holds no 10^6 top-k lists at once.
constexpr size_t kSlicedWave = 4096;

// Waves of kSlicedWave queries; in each, tasks of kQueriesPerTask queries with their own handlers
// over the codes transposed chunk by chunk (each chunk once for every task).
template <class Make, class Done>
void run_sliced(const CodesView& db, const uint8_t* queries, size_t nq, int threads, Make make, Done done) {
  using Handler = decltype(make(size_t{1}));
  const size_t lanes = kernels().sliced_lanes;
  const size_t chunk = std::max<size_t>(1, kSlicedChunkBytes / db.code_size / lanes) * lanes;
  SlicedCodes sliced;
  for (size_t w0 = 0; w0 < nq; w0 += kSlicedWave) {
    const size_t wn = std::min(kSlicedWave, nq - w0);
    const size_t ntasks = (wn + kQueriesPerTask - 1) / kQueriesPerTask;
    auto first = [&](size_t t) { return w0 + t * kQueriesPerTask; };
    auto count = [&](size_t t) { return std::min(kQueriesPerTask, wn - t * kQueriesPerTask); };
    std::deque<HandlerSlot<Handler>> slots;
    for (size_t t = 0; t < ntasks; ++t) slots.emplace_back(make, count(t));
    for (size_t c0 = 0; c0 < db.ntotal; c0 += chunk) {
      const size_t cn = std::min(chunk, db.ntotal - c0);
      const uint8_t* codes = db.codes + c0 * db.code_size;
      slice_codes(codes, cn, db.code_size, lanes, threads, sliced);
      ThreadPool::global().parallel_for(ntasks, threads, [&](size_t t) {
        kernels().scan_sliced(SlicedBlock{queries + first(t) * db.code_size, count(t), lanes, sliced.group(0), sliced.groups,
                                          sliced.group_bytes, cn, codes, db.code_size, db.nbits, sliced.weight_bits,
                                          c0, slots[t].handler.select()},
                              slots[t].handler);
      });
    }
    for (size_t t = 0; t < ntasks; ++t) done(slots[t].handler, first(t), count(t), 0);
  }
}

// The two ways to share a scan between threads. parts > 1 (few queries): the
// database in `parts` slices, claimed by threads that each keep one handler
// over every query; otherwise tasks of kQueriesPerTask queries over the whole database.
// make(n) builds a handler for n queries; done(handler, q0, n, part) takes
// its results for queries [q0, q0 + n); between(handler) runs after each block of a slice.
template <class Make, class Done, class Between>
void run_scan(const CodesView& db, const uint8_t* queries, size_t nq, size_t parts, int threads, Make make,
              Done done, Between between) {
  if (parts > 1) {
    // One handler per thread, carried from slice to slice (a slice costs no setup, warm-up or
    // merge). Each thread first scans its own run of slices, the same run every query, so that a
    // database that fits the cores' L2 caches stays in them; then it helps with the runs after
    // its own. Its claims stay in increasing order: ids stay monotonic for the tie rule.
    const size_t workers = std::min<size_t>(parts, static_cast<size_t>(std::max(threads, 1)));
    std::vector<std::atomic<size_t>> cursor(workers);  // the next slice of each run
    for (size_t r = 0; r < workers; ++r) cursor[r].store(r * parts / workers, std::memory_order_relaxed);
    const size_t per = (db.ntotal + parts - 1) / parts;
    ThreadPool::global().parallel_for(workers, threads, [&](size_t w) {
      auto handler = make(nq);
      between(handler);  // start from what the other threads reached
      for (size_t r = w; r < workers; ++r) {
        const size_t run_end = (r + 1) * parts / workers;
        for (size_t p; (p = cursor[r].fetch_add(1, std::memory_order_relaxed)) < run_end;) {
          const size_t begin = p * per, end = std::min(db.ntotal, begin + per);
          if (begin < end) scan_positions(db, queries, nq, begin, end, handler, between);
        }
      }
      done(handler, 0, nq, w);
    });
    return;
  }
  if (use_sliced(db, nq)) return run_sliced(db, queries, nq, threads, make, done);
  const size_t ntasks = (nq + kQueriesPerTask - 1) / kQueriesPerTask;
  ThreadPool::global().parallel_for(ntasks, threads, [&](size_t t) {
    const size_t q0 = t * kQueriesPerTask, qn = std::min(kQueriesPerTask, nq - q0);
    auto handler = make(qn);
    scan_positions(db, queries + q0 * db.code_size, qn, 0, db.ntotal, handler, [](auto&) {});
    done(handler, q0, qn, 0);
  });
}

}  // namespace

size_t sliced_batch_from(int nbits, size_t codes_bytes) {
  return kernels().scan_sliced && sliceable(nbits) ? least_sliced_queries(nbits, codes_bytes) : 0;
}

void scan_knn(const CodesView& db, const uint8_t* queries, size_t nq, size_t k, dist_t* distances, idx_t* ids,
              int num_threads) {
  if (nq == 0) return;
  const int threads = resolve_threads(num_threads);
  const RunningSearch search(g_running_searches);
  const size_t parts = database_parts(db, nq, threads, search.running);
  auto make = [&](size_t n) { return KnnHandler(db, n, k, db.ids_increasing); };
  if (parts == 1) {
    return run_scan(
        db, queries, nq, parts, threads, make,
        [&](KnnHandler& h, size_t q0, size_t n, size_t) {
          for (size_t q = 0; q < n; ++q) h.topk(q).finish_into(distances + (q0 + q) * k, ids + (q0 + q) * k);
        },
        [](KnnHandler&) {});
  }
  // Every part keeps its own top-k of every query, pruned by the best k-th distance any part has
  // reached; merged at the end.
  std::vector<std::vector<std::vector<Neighbor>>> partial(nq, std::vector<std::vector<Neighbor>>(threads));
  SharedBounds bounds(nq, db.nbits);
  run_scan(
      db, queries, nq, parts, threads, make,
      [&](KnnHandler& h, size_t, size_t n, size_t p) {
        for (size_t q = 0; q < n; ++q) partial[q][p] = h.topk(q).finish();
      },
      [&](KnnHandler& h) { bounds.share(h); });
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
           },
           [](RangeHandler&) {});
  return found;
}

RangeResult scan_range(const CodesView& db, const uint8_t* queries, size_t nq, dist_t radius, int num_threads) {
  std::vector<std::vector<Neighbor>> found = scan_range_lists(db, queries, nq, radius, num_threads);
  return to_range_result(found);
}

}  // namespace nash_index
