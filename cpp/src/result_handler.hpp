// Result handlers shared by the flat scan (FlatIndex, MIH's fallback) and the
// multi-index walk: k nearest or everything within a radius, per query.
//
// A handler keeps, per query, the threshold: the largest distance that can
// still enter the result. Scan kernels read it from `thresholds` and call
// hit() only for codes within it, so hits stay rare and a plain code costs no
// call; the walk checks it before hit() likewise.
#pragma once
#include <algorithm>
#include <cstddef>
#include <vector>

#include "kernels.hpp"
#include "scan_search.hpp"
#include "topk.hpp"

namespace nash_index {

// The k smallest (distance, id) of each query.
class KnnHandler final : public HitSink {
 public:
  // `monotonic_ids`: each query's hits come by increasing id, so a tie at the
  // boundary never wins (true for a scan in position order over increasing ids).
  KnnHandler(const CodesView& db, size_t nq, size_t k, bool monotonic_ids);

  void hit(size_t q, dist_t d, size_t pos) override {
    thresholds_[q] = std::min(topks_[q].offer(d, db_.id_at(pos), monotonic_ids_), caps_[q]);
  }
  dist_t threshold(size_t q) const { return thresholds_[q]; }
  // A bound from elsewhere (another part of the same scan has k codes within it): codes farther
  // than `bound` cannot enter, those at it still can (their ids may be smaller).
  void cap(size_t q, dist_t bound) {
    caps_[q] = std::min(caps_[q], bound);
    thresholds_[q] = std::min(thresholds_[q], bound);
  }
  // Final once every code within `covered` was offered: nothing unseen is closer than the k-th.
  bool complete(size_t q, dist_t covered) { return topks_[q].kth_distance() <= covered; }
  TopK& topk(size_t q) { return topks_[q]; }
  // Codes of a block a query needs at most (kernels may report only a block's k nearest).
  size_t select() const { return k_; }

 private:
  CodesView db_;
  size_t k_;
  bool monotonic_ids_;
  std::vector<TopK> topks_;
  std::vector<dist_t> thresholds_;
  std::vector<dist_t> caps_;
};

// Every (distance, id) within `radius` of each query, unsorted.
class RangeHandler final : public HitSink {
 public:
  RangeHandler(const CodesView& db, size_t nq, dist_t radius);

  void hit(size_t q, dist_t d, size_t pos) override { found_[q].push_back({d, db_.id_at(pos)}); }
  dist_t threshold(size_t) const { return radius_; }
  bool complete(size_t, dist_t covered) const { return covered >= radius_; }
  size_t select() const { return 0; }  // every code within the radius
  std::vector<Neighbor>& found(size_t q) { return found_[q]; }

 private:
  CodesView db_;
  dist_t radius_;
  std::vector<std::vector<Neighbor>> found_;
  std::vector<dist_t> thresholds_;  // radius_ for every query: what the kernels read
};

// CSR result from per-query lists, each sorted by (distance, id) on the way.
RangeResult to_range_result(std::vector<std::vector<Neighbor>>& per_query);

}  // namespace nash_index
