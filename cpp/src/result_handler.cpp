#include "result_handler.hpp"

#include <algorithm>

namespace nash_index {

KnnHandler::KnnHandler(const CodesView& db, size_t nq, size_t k, bool monotonic_ids)
    : db_(db), k_(k), monotonic_ids_(monotonic_ids), thresholds_(nq, db.nbits), caps_(nq, db.nbits) {
  topks_.reserve(nq);
  for (size_t q = 0; q < nq; ++q) topks_.emplace_back(k, db.nbits);
  thresholds = thresholds_.data();
}

RangeHandler::RangeHandler(const CodesView& db, size_t nq, dist_t radius)
    : db_(db), radius_(radius), found_(nq), thresholds_(nq, radius) {
  thresholds = thresholds_.data();
}

RangeResult to_range_result(std::vector<std::vector<Neighbor>>& per_query) {
  const size_t nq = per_query.size();
  RangeResult result;
  result.lims.assign(nq + 1, 0);
  for (size_t q = 0; q < nq; ++q) result.lims[q + 1] = result.lims[q] + per_query[q].size();
  result.distances.reserve(result.lims[nq]);
  result.ids.reserve(result.lims[nq]);
  for (std::vector<Neighbor>& list : per_query) {
    std::sort(list.begin(), list.end());
    for (const Neighbor& n : list) {
      result.distances.push_back(n.distance);
      result.ids.push_back(n.id);
    }
  }
  return result;
}

}  // namespace nash_index
