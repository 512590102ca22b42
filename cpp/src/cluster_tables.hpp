// The clusters of a ClusterScan: centres, radii and members laid out cluster
// by cluster (codes copied contiguously, sorted by distance to their centre),
// and how they are built.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "nash_index/cluster_scan.hpp"
#include "nash_index/common.hpp"

namespace nash_index {

struct ClusterScan::Clusters {
  size_t count = 0;                // K
  size_t code_size = 0;
  std::vector<uint8_t> centres;    // K * code_size
  std::vector<dist_t> radius;      // K: an upper bound of d(member, centre)
  std::vector<uint32_t> begin;     // K + 1: cluster c's members are [begin[c], begin[c + 1])
  std::vector<uint8_t> codes;      // members' codes, cluster by cluster
  std::vector<uint32_t> positions; // members' store positions
  std::vector<uint16_t> to_centre; // d(member, its centre), ascending within a cluster
  size_t largest = 0;              // members of the largest cluster

  size_t members() const { return positions.size(); }
  // Drops the members at the sorted store positions `doomed` and shifts the
  // others' positions down as the store's compaction does; radii stay.
  void remove_positions(const std::vector<size_t>& doomed);
};

// Clusters over codes [0, n) (`clusters` of them, capped at n; >= 1 when n > 0),
// built with up to `num_threads` threads (<= 0: the pool's).
std::unique_ptr<ClusterScan::Clusters> build_clusters(const uint8_t* codes, size_t n, int nbits, size_t clusters,
                                                      int num_threads);

// Leaders among `sample` codes picked evenly from [0, n): each picked code farther than `radius`
// from every leader so far becomes one; counting stops at `cap`. How many groups of that radius the
// codes form, whatever their number of members (the automatic cluster count).
size_t count_leaders(const uint8_t* codes, size_t n, int nbits, size_t sample, dist_t radius, size_t cap);

}  // namespace nash_index
