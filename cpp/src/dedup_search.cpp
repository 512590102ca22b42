// DedupIndex searches. k-NN first looks the query's own code up (answer_exact).
// Otherwise the inner index gives the nearest groups; they
// are walked until their ids reach k at some distance D. Every group at a
// distance below D then belongs to the answer whole, and the groups at D
// (all of them: from the same list when it goes past D, else from a longer
// list or a range search at radius D) give their smallest ids. A list of
// groups that ran out (dead groups hold no ids) is asked again, twice as long.
#include <algorithm>
#include <utility>
#include <vector>

#include "code_lookup.hpp"
#include "nash_index/dedup.hpp"

namespace nash_index {
namespace {

using Hit = std::pair<dist_t, idx_t>;  // (distance, id): the answer's order

// k-NN asks the inner index for kFirstList * k groups, then twice as many per
// round; past kRangeAfter * k, ties at the edge are settled by a range search.
constexpr size_t kFirstList = 2;
constexpr size_t kRangeAfter = 8;

void pad_row(dist_t* distances, idx_t* ids, size_t from, size_t k) {
  std::fill(distances + from, distances + k, kPadDistance);
  std::fill(ids + from, ids + k, kPadId);
}

}  // namespace

// Writes the k best (distance, id) of the groups in `near`, sorted by distance,
// which holds every group within `edge`: the groups below it whole (fewer
// than k ids in all), then the smallest ids at `edge`; padding after.
void DedupIndex::emit(const std::vector<std::pair<dist_t, idx_t>>& near, dist_t edge, size_t k, dist_t* distances,
                      idx_t* ids) const {
  std::vector<Hit> hits;
  for (const auto& [d, g] : near)
    if (d < edge)
      for (size_t t = 0; t < group_size(g); ++t) hits.emplace_back(d, group_ids(g)[t]);
  std::sort(hits.begin(), hits.end());
  const size_t want = k - std::min(k, hits.size());
  std::vector<idx_t> at_edge;  // each group's ids ascend: its first `want` are all it can give
  for (const auto& [d, g] : near)
    if (d == edge) at_edge.insert(at_edge.end(), group_ids(g), group_ids(g) + std::min(want, group_size(g)));
  const size_t need = std::min(want, at_edge.size());
  std::partial_sort(at_edge.begin(), at_edge.begin() + need, at_edge.end());
  for (size_t t = 0; t < need; ++t) hits.emplace_back(edge, at_edge[t]);
  const size_t filled = std::min(k, hits.size());
  for (size_t j = 0; j < filled; ++j) {
    distances[j] = hits[j].first;
    ids[j] = hits[j].second;
  }
  pad_row(distances, ids, filled, k);
}

// The distance at which the ids of `near` (sorted by distance) reach k, or -1.
dist_t DedupIndex::edge_of(const std::vector<std::pair<dist_t, idx_t>>& near, size_t k) const {
  size_t total = 0;
  for (const auto& [d, g] : near)
    if ((total += group_size(g)) >= k) return d;
  return -1;
}

// `gd`, `gi`: the query's kk nearest groups by (distance, group), padded.
// False when kk groups were too few (the query is asked again with more).
bool DedupIndex::complete_query(const uint8_t* query, const dist_t* gd, const idx_t* gi, size_t kk, size_t k,
                                dist_t* distances, idx_t* ids, int num_threads) const {
  std::vector<std::pair<dist_t, idx_t>> near;
  for (size_t j = 0; j < kk && gi[j] != kPadId; ++j) near.emplace_back(gd[j], gi[j]);
  const bool all_listed = near.size() < kk || kk >= groups_;
  const dist_t edge = edge_of(near, k);
  const bool last_list = kk >= kMaxK;  // (beyond 2^31 - 1 groups): a range search over everything
  if (edge < 0 && !all_listed && last_list) return complete_by_range(query, nbits(), k, distances, ids, num_threads);
  if (edge < 0) {
    if (!all_listed) return false;
    emit(near, kPadDistance, k, distances, ids);  // fewer than k ids in the whole index
    return true;
  }
  // Every group at `edge` is listed when the list goes past it (or holds every group).
  if (!all_listed && near.back().first == edge && edge > 0) {  // (one distinct code at most is at distance 0)
    // A longer list, asked for in a batch, usually goes past the edge; a
    // range search (one query at a time) settles ties too many for that.
    if (kk < kRangeAfter * k && !last_list) return false;
    return complete_by_range(query, edge, k, distances, ids, num_threads);
  }
  emit(near, edge, k, distances, ids);
  return true;
}

// The answer from every group within `radius`, which holds k ids or more (or every group).
bool DedupIndex::complete_by_range(const uint8_t* query, dist_t radius, size_t k, dist_t* distances, idx_t* ids,
                                   int num_threads) const {
  const RangeResult within = inner_->range_search(query, 1, radius, num_threads);
  std::vector<std::pair<dist_t, idx_t>> near;
  for (size_t j = 0; j < within.ids.size(); ++j) near.emplace_back(within.distances[j], within.ids[j]);
  const dist_t edge = edge_of(near, k);
  emit(near, edge < 0 ? kPadDistance : edge, k, distances, ids);
  return true;
}

// A query whose very code k ids or more carry is answered by those k smallest
// ids at distance 0 (one hash lookup: the issue of learned codes, where
// thousands of documents share the query's code). Returns the queries left.
std::vector<size_t> DedupIndex::answer_exact(const uint8_t* queries, size_t nq, size_t k, dist_t* distances,
                                             idx_t* ids) const {
  const size_t cs = code_size();
  const uint8_t* inner_codes = inner_->codes();
  auto code_of = [&](size_t g) { return inner_codes + g * cs; };
  std::vector<size_t> left;
  for (size_t q = 0; q < nq; ++q) {
    const uint32_t g = lookup_->find(queries + q * cs, code_of, groups_);
    if (g == CodeLookup::kAbsent || group_size(g) < k) {
      left.push_back(q);
      continue;
    }
    std::fill(distances + q * k, distances + (q + 1) * k, 0);
    std::copy(group_ids(g), group_ids(g) + k, ids + q * k);
  }
  return left;
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
  std::vector<size_t> pending = answer_exact(queries, nq, k, distances, ids);
  size_t kk = std::min({kFirstList * k, groups_, kMaxK});  // every live group holds >= 1 id
  while (!pending.empty()) {
    std::vector<uint8_t> batch(pending.size() * cs);
    for (size_t j = 0; j < pending.size(); ++j)
      std::copy(queries + pending[j] * cs, queries + (pending[j] + 1) * cs, batch.begin() + j * cs);
    std::vector<dist_t> gd(pending.size() * kk);
    std::vector<idx_t> gi(pending.size() * kk);
    std::vector<SearchWork> inner_work(work ? pending.size() : 0);
    inner_->search(batch.data(), pending.size(), kk, gd.data(), gi.data(), num_threads,
                   work ? inner_work.data() : nullptr);
    std::vector<size_t> again;
    for (size_t j = 0; j < pending.size(); ++j) {
      const size_t q = pending[j];
      if (work) {
        work[q].probes += inner_work[j].probes;
        work[q].candidates += inner_work[j].candidates;
        work[q].scanned = work[q].scanned || inner_work[j].scanned;
      }
      if (!complete_query(batch.data() + j * cs, gd.data() + j * kk, gi.data() + j * kk, kk, k, distances + q * k,
                          ids + q * k, num_threads))
        again.push_back(q);
    }
    pending.swap(again);
    kk = std::min({groups_, 2 * kk, kMaxK});
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
