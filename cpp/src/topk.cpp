#include "topk.hpp"

#include <algorithm>
#include <limits>

namespace nash_index {

TopK::TopK(size_t k, int nbits)
    : k_(k),
      nbits_(nbits),
      // Room for k plus a slack that amortises each compaction over many offers.
      capacity_(std::max<size_t>(2 * k, k + 64)),
      histogram_(static_cast<size_t>(nbits) + 1),
      threshold_(nbits),
      boundary_distance_(nbits + 1),
      boundary_id_(std::numeric_limits<idx_t>::max()),
      cut_(nbits) {
  buffer_.reserve(std::min<size_t>(capacity_, 1 << 20));
}

dist_t TopK::offer(dist_t d, idx_t id, bool monotonic_ids) {
  if (d > threshold_ || (d == boundary_distance_ && id >= boundary_id_)) return threshold_;
  monotonic_ = monotonic_ids;
  buffer_.push_back({d, id});
  ++histogram_[static_cast<size_t>(d)];
  // Lower the cut as soon as k candidates lie at or below a smaller distance,
  // so the scan tightens its threshold now rather than at the next compaction.
  ++below_cut_;
  while (below_cut_ - histogram_[static_cast<size_t>(cut_)] >= k_) below_cut_ -= histogram_[static_cast<size_t>(cut_--)];
  if (below_cut_ >= k_) threshold_ = monotonic_ ? cut_ - 1 : cut_;
  if (buffer_.size() >= capacity_) compact();
  return threshold_;
}

void TopK::compact() {
  if (buffer_.size() <= k_) return;
  // histogram_ counts every buffered distance, so the k-th one is cut_.
  const dist_t boundary = cut_;
  const size_t need_at_boundary = k_ - (below_cut_ - histogram_[static_cast<size_t>(boundary)]);

  // Keep everything closer than the boundary and the smallest ids at it.
  auto at_boundary = std::partition(buffer_.begin(), buffer_.end(),
                                    [boundary](const Neighbor& n) { return n.distance < boundary; });
  auto end = std::partition(at_boundary, buffer_.end(),
                            [boundary](const Neighbor& n) { return n.distance == boundary; });
  auto keep_end = at_boundary + static_cast<std::ptrdiff_t>(need_at_boundary);
  std::nth_element(at_boundary, keep_end - 1, end,
                   [](const Neighbor& a, const Neighbor& b) { return a.id < b.id; });
  boundary_id_ = (keep_end - 1)->id;
  for (auto it = keep_end; it != buffer_.end(); ++it) --histogram_[static_cast<size_t>(it->distance)];
  buffer_.erase(keep_end, buffer_.end());
  below_cut_ = k_;
  boundary_distance_ = boundary;
  // With increasing ids a later tie loses, so the scan may skip the boundary.
  threshold_ = monotonic_ ? boundary - 1 : boundary;
}

dist_t TopK::kth_distance() { return below_cut_ >= k_ ? cut_ : nbits_ + 1; }

std::vector<Neighbor> TopK::finish() {
  compact();
  std::sort(buffer_.begin(), buffer_.end());
  if (buffer_.size() > k_) buffer_.resize(k_);
  return std::move(buffer_);
}

void TopK::finish_into(dist_t* distances, idx_t* ids) {
  const std::vector<Neighbor> result = finish();
  for (size_t i = 0; i < k_; ++i) {
    distances[i] = i < result.size() ? result[i].distance : kPadDistance;
    ids[i] = i < result.size() ? result[i].id : kPadId;
  }
}

void merge_topk(std::vector<std::vector<Neighbor>>& parts, size_t k, dist_t* distances, idx_t* ids) {
  std::vector<Neighbor> all;
  for (auto& p : parts) all.insert(all.end(), p.begin(), p.end());
  const size_t keep = std::min(k, all.size());
  std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(keep), all.end());
  for (size_t i = 0; i < k; ++i) {
    distances[i] = i < keep ? all[i].distance : kPadDistance;
    ids[i] = i < keep ? all[i].id : kPadId;
  }
}

}  // namespace nash_index
