#include "nash_index/scan_search.hpp"

#include <algorithm>
#include <mutex>

#include "nash_index/simd.hpp"
#include "nash_index/thread_pool.hpp"
#include "nash_index/topk.hpp"

namespace nash_index {
namespace {

// Codes per kernel call: a block that stays in L1/L2 while a tile of queries runs over it.
size_t block_codes(size_t code_size) { return std::max<size_t>(64, (32u << 10) / code_size); }
constexpr size_t kQueriesPerTask = 32;
constexpr size_t kMinCodesPerThread = 16384;  // below this a database split costs more than it saves

class KnnSink final : public HitSink {
 public:
  KnnSink(const CodesView& db, size_t nq, size_t k) : db_(db) {
    heaps_.reserve(nq);
    for (size_t q = 0; q < nq; ++q) heaps_.emplace_back(k, db.nbits);
    limits_.assign(nq, db.nbits);
    thresholds = limits_.data();
  }
  void hit(size_t q, dist_t d, size_t pos) override {
    limits_[q] = heaps_[q].offer(d, db_.id_at(pos), db_.ids_increasing);
  }
  TopK& topk(size_t q) { return heaps_[q]; }

 private:
  const CodesView& db_;
  std::vector<TopK> heaps_;
  std::vector<dist_t> limits_;
};

class RangeSink final : public HitSink {
 public:
  RangeSink(const CodesView& db, size_t nq, dist_t radius) : db_(db), found_(nq), limits_(nq, radius) {
    thresholds = limits_.data();
  }
  void hit(size_t q, dist_t d, size_t pos) override {
    found_[q].push_back({d, db_.id_at(pos)});
  }
  std::vector<Neighbor>& found(size_t q) { return found_[q]; }

 private:
  const CodesView& db_;
  std::vector<std::vector<Neighbor>> found_;
  std::vector<dist_t> limits_;
};

// Runs the kernel over codes [begin, end) for queries [0, nq) of `queries`.
void scan_positions(const CodesView& db, const uint8_t* queries, size_t nq, size_t begin, size_t end,
                         HitSink& sink) {
  const KernelTable& kt = kernels();
  const size_t step = block_codes(db.code_size);
  for (size_t b = begin; b < end; b += step) {
    const size_t n = std::min(step, end - b);
    kt.scan(ScanBlock{queries, nq, db.codes + b * db.code_size, n, db.code_size, b, 0}, sink);
  }
}

// Few queries: split the database, every part keeps its own top-k, then merge.
void knn_database_parallel(const CodesView& db, const uint8_t* queries, size_t nq, size_t k, dist_t* distances,
                           idx_t* ids, size_t parts) {
  std::vector<std::vector<std::vector<Neighbor>>> partial(nq, std::vector<std::vector<Neighbor>>(parts));
  const size_t per = (db.ntotal + parts - 1) / parts;
  ThreadPool::global().parallel_for(parts, static_cast<int>(parts), [&](size_t p) {
    const size_t begin = p * per, end = std::min(db.ntotal, begin + per);
    KnnSink sink(db, nq, k);
    if (begin < end) scan_positions(db, queries, nq, begin, end, sink);
    for (size_t q = 0; q < nq; ++q) partial[q][p] = sink.topk(q).finish();
  });
  for (size_t q = 0; q < nq; ++q) merge_topk(partial[q], k, distances + q * k, ids + q * k);
}

size_t database_parts(const CodesView& db, size_t nq, int threads) {
  if (nq >= static_cast<size_t>(threads) * 2) return 1;  // query-parallel is better
  return std::max<size_t>(1, std::min<size_t>(threads, db.ntotal / kMinCodesPerThread));
}

}  // namespace

void scan_knn(const CodesView& db, const uint8_t* queries, size_t nq, size_t k, dist_t* distances, idx_t* ids,
              int num_threads) {
  if (nq == 0) return;
  const int threads = resolve_threads(num_threads);
  const size_t parts = database_parts(db, nq, threads);
  if (parts > 1) return knn_database_parallel(db, queries, nq, k, distances, ids, parts);
  const size_t ntasks = (nq + kQueriesPerTask - 1) / kQueriesPerTask;
  ThreadPool::global().parallel_for(ntasks, threads, [&](size_t t) {
    const size_t q0 = t * kQueriesPerTask, qn = std::min(kQueriesPerTask, nq - q0);
    KnnSink sink(db, qn, k);
    scan_positions(db, queries + q0 * db.code_size, qn, 0, db.ntotal, sink);
    for (size_t q = 0; q < qn; ++q) sink.topk(q).finish_into(distances + (q0 + q) * k, ids + (q0 + q) * k);
  });
}

RangeResult scan_range(const CodesView& db, const uint8_t* queries, size_t nq, dist_t radius, int num_threads) {
  std::vector<std::vector<Neighbor>> found(nq);
  const int threads = resolve_threads(num_threads);
  const size_t parts = database_parts(db, nq, threads);
  std::mutex merge_mutex;
  if (parts > 1) {
    const size_t per = (db.ntotal + parts - 1) / parts;
    ThreadPool::global().parallel_for(parts, static_cast<int>(parts), [&](size_t p) {
      const size_t begin = p * per, end = std::min(db.ntotal, begin + per);
      RangeSink sink(db, nq, radius);
      if (begin < end) scan_positions(db, queries, nq, begin, end, sink);
      std::lock_guard<std::mutex> lock(merge_mutex);
      for (size_t q = 0; q < nq; ++q) found[q].insert(found[q].end(), sink.found(q).begin(), sink.found(q).end());
    });
  } else {
    const size_t ntasks = (nq + kQueriesPerTask - 1) / kQueriesPerTask;
    ThreadPool::global().parallel_for(ntasks, threads, [&](size_t t) {
      const size_t q0 = t * kQueriesPerTask, qn = std::min(kQueriesPerTask, nq - q0);
      RangeSink sink(db, qn, radius);
      scan_positions(db, queries + q0 * db.code_size, qn, 0, db.ntotal, sink);
      for (size_t q = 0; q < qn; ++q) found[q0 + q] = std::move(sink.found(q));
    });
  }
  RangeResult result;
  result.lims.resize(nq + 1, 0);
  for (size_t q = 0; q < nq; ++q) result.lims[q + 1] = result.lims[q] + found[q].size();
  result.distances.resize(result.lims[nq]);
  result.ids.resize(result.lims[nq]);
  for (size_t q = 0; q < nq; ++q) {
    std::sort(found[q].begin(), found[q].end());
    for (size_t i = 0; i < found[q].size(); ++i) {
      result.distances[result.lims[q] + i] = found[q][i].distance;
      result.ids[result.lims[q] + i] = found[q][i].id;
    }
  }
  return result;
}

}  // namespace nash_index
