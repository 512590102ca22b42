// DedupIndex searches. k-NN: the inner index gives the nearest groups; they
// are walked until their ids reach k at some distance D. Every group at a
// distance below D then belongs to the answer whole, and the groups at D
// (all of them: from the same list when it goes past D, else from a range
// search at radius D) give their smallest ids. A list of groups that ran out
// (dead groups hold no ids) is asked again, twice as long.
#include <algorithm>
#include <utility>
#include <vector>

#include "nash_index/dedup.hpp"

namespace nash_index {
namespace {

using Hit = std::pair<dist_t, idx_t>;  // (distance, id): the answer's order

void pad_row(dist_t* distances, idx_t* ids, size_t from, size_t k) {
  std::fill(distances + from, distances + k, kPadDistance);
  std::fill(ids + from, ids + k, kPadId);
}

}  // namespace

// `gd`, `gi`: the query's kk nearest groups by (distance, group), padded.
// Writes the row and sets *done, or leaves it false when kk groups were too few.
void DedupIndex::complete_query(const uint8_t* query, const dist_t* gd, const idx_t* gi, size_t kk, size_t k,
                                dist_t* distances, idx_t* ids, int num_threads, bool* done) const {
  size_t listed = 0, total = 0, boundary = kk;
  for (; listed < kk && gi[listed] != kPadId; ++listed) {
    total += group_size(static_cast<size_t>(gi[listed]));
    if (total >= k && boundary == kk) boundary = listed;
  }
  const bool all_listed = listed < kk || kk >= groups_;
  std::vector<Hit> hits;
  if (boundary == kk) {  // fewer than k ids in the list
    if (!all_listed) return;
    for (size_t j = 0; j < listed; ++j)
      for (size_t t = 0; t < group_size(gi[j]); ++t) hits.emplace_back(gd[j], group_ids(gi[j])[t]);
    std::sort(hits.begin(), hits.end());
  } else {
    const dist_t edge = gd[boundary];
    std::vector<std::pair<dist_t, idx_t>> near;  // (distance, group) of every group within `edge`
    bool past_edge = all_listed;
    for (size_t j = boundary + 1; j < listed && !past_edge; ++j) past_edge = gd[j] > edge;
    if (past_edge) {
      for (size_t j = 0; j < listed && gd[j] <= edge; ++j) near.emplace_back(gd[j], gi[j]);
    } else {
      const RangeResult within = inner_->range_search(query, 1, edge, num_threads);
      for (size_t j = 0; j < within.ids.size(); ++j) near.emplace_back(within.distances[j], within.ids[j]);
    }
    for (const auto& [d, g] : near)  // below the edge: whole groups (fewer than k ids in all)
      if (d < edge)
        for (size_t t = 0; t < group_size(g); ++t) hits.emplace_back(d, group_ids(g)[t]);
    std::sort(hits.begin(), hits.end());
    const size_t need = k - hits.size();
    std::vector<idx_t> at_edge;  // each group's ids ascend: its first `need` are all it can give
    for (const auto& [d, g] : near)
      if (d == edge) at_edge.insert(at_edge.end(), group_ids(g), group_ids(g) + std::min(need, group_size(g)));
    std::partial_sort(at_edge.begin(), at_edge.begin() + need, at_edge.end());
    for (size_t t = 0; t < need; ++t) hits.emplace_back(edge, at_edge[t]);
  }
  const size_t filled = std::min(k, hits.size());
  for (size_t j = 0; j < filled; ++j) {
    distances[j] = hits[j].first;
    ids[j] = hits[j].second;
  }
  pad_row(distances, ids, filled, k);
  *done = true;
}

void DedupIndex::search(const uint8_t* queries, size_t nq, size_t k, dist_t* distances, idx_t* ids, int num_threads,
                        SearchWork* work) const {
  if (work) std::fill(work, work + nq, SearchWork{});
  if (nq == 0 || k == 0) return;
  if (distinct() == 0) {
    for (size_t q = 0; q < nq; ++q) pad_row(distances + q * k, ids + q * k, 0, k);
    return;
  }
  const size_t cs = code_size();
  std::vector<size_t> pending(nq);
  for (size_t q = 0; q < nq; ++q) pending[q] = q;
  size_t kk = std::min(k, groups_);  // every live group holds >= 1 id
  bool first = true;
  while (!pending.empty()) {
    std::vector<uint8_t> batch(pending.size() * cs);
    for (size_t j = 0; j < pending.size(); ++j)
      std::copy(queries + pending[j] * cs, queries + (pending[j] + 1) * cs, batch.begin() + j * cs);
    std::vector<dist_t> gd(pending.size() * kk);
    std::vector<idx_t> gi(pending.size() * kk);
    std::vector<SearchWork> inner_work(first && work ? pending.size() : 0);
    inner_->search(batch.data(), pending.size(), kk, gd.data(), gi.data(), num_threads,
                   inner_work.empty() ? nullptr : inner_work.data());
    std::vector<size_t> again;
    for (size_t j = 0; j < pending.size(); ++j) {
      const size_t q = pending[j];
      if (!inner_work.empty()) work[q] = inner_work[j];
      bool done = false;
      complete_query(batch.data() + j * cs, gd.data() + j * kk, gi.data() + j * kk, kk, k, distances + q * k,
                     ids + q * k, num_threads, &done);
      if (!done) again.push_back(q);
    }
    pending.swap(again);
    kk = std::min(groups_, 2 * kk);
    first = false;
  }
}

RangeResult DedupIndex::range_search(const uint8_t* queries, size_t nq, dist_t radius, int num_threads,
                                     SearchWork* work) const {
  const RangeResult groups = inner_->range_search(queries, nq, radius, num_threads, work);
  RangeResult out;
  out.lims.reserve(nq + 1);
  out.lims.push_back(0);
  std::vector<Hit> hits;
  for (size_t q = 0; q < nq; ++q) {
    hits.clear();
    for (size_t j = groups.lims[q]; j < groups.lims[q + 1]; ++j) {
      const size_t g = static_cast<size_t>(groups.ids[j]);
      for (size_t t = 0; t < group_size(g); ++t) hits.emplace_back(groups.distances[j], group_ids(g)[t]);
    }
    std::sort(hits.begin(), hits.end());
    for (const Hit& hit : hits) {
      out.distances.push_back(hit.first);
      out.ids.push_back(hit.second);
    }
    out.lims.push_back(out.ids.size());
  }
  return out;
}

}  // namespace nash_index
