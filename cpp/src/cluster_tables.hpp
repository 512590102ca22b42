// The clusters of a ClusterScan: centres, radii and members laid out cluster
// by cluster (codes copied contiguously, sorted by distance to their centre),
// and how they are built.
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "huge_pages.hpp"
#include "nash_index/cluster_scan.hpp"
#include "nash_index/common.hpp"

namespace nash_index {

// Codes up to this many bytes have every distance below 256: the centre pass runs on bytes.
constexpr size_t kMaxByteDistanceCodeSize = 31;

struct ClusterScan::Clusters {
  size_t count = 0;                // K
  size_t code_size = 0;
  std::vector<uint8_t> centres;    // K * code_size
  std::vector<dist_t> radius;      // K: an upper bound of d(member, centre)
  std::vector<uint8_t> radius_u8;  // the same as bytes when every code has at most 248 bits, else empty
  std::vector<uint8_t> centres_sliced;  // with radius_u8: the centres as slice_by_32 lays them out
  std::vector<uint32_t> begin;     // K + 1: cluster c's members are [begin[c], begin[c + 1])
  // Huge pages for the arrays a query reads at random (one ring of each visited cluster): with 4 KiB
  // pages each visit of 10^7 codes' clusters also missed the TLB.
  template <class T>
  using Table = std::vector<T, HugePageAllocator<T>>;
  Table<uint8_t> codes;      // members' codes, cluster by cluster
  Table<uint32_t> positions; // members' store positions
  std::vector<uint16_t> to_centre; // d(member, its centre), ascending within a cluster
  size_t largest = 0;              // members of the largest cluster
  // Each cluster's members by distance to its centre, so that a ring costs two loads where two
  // binary searches over to_centre cost ~20 dependent misses (most of a query at 10^7 codes).
  // Row of cluster c: shells[shell_at[c]] is lo, its members' least distance; entry 1 + j is the
  // first member at distance >= lo + j, for j up to (its greatest distance + 1 - lo): the end.
  Table<uint32_t> shells;
  std::vector<uint64_t> shell_at;  // K + 1

  size_t members() const { return positions.size(); }
  // Members of cluster c, [first, last), whose distance to its centre lies in [lo, hi].
  void ring(size_t c, int64_t lo, int64_t hi, size_t& first, size_t& last) const {
    const uint32_t* row = shells.data() + shell_at[c];
    const int64_t entries = int64_t(shell_at[c + 1] - shell_at[c]) - 1;
    auto start = [&](int64_t d) { return row[1 + std::clamp<int64_t>(d - int64_t(row[0]), 0, entries - 1)]; };
    first = start(lo);
    last = start(hi + 1);  // lo <= hi: starts only grow
  }
  const uint32_t* shell_row(size_t c) const { return shells.data() + shell_at[c]; }
  // Fills radius_u8 and centres_sliced from radius and centres (which a removal keeps).
  void index_centres();
  // Rebuilds shells and shell_at from begin and to_centre.
  void index_shells();
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
// codes form, whatever their number of members (the automatic cluster count), and how tight they
// are: of the sampled codes that joined a group, how many lie within `close` of its leader.
struct LeaderCount {
  size_t leaders = 0, joined = 0, close = 0;
};
LeaderCount count_leaders(const uint8_t* codes, size_t n, int nbits, size_t sample, dist_t radius, dist_t close,
                          size_t cap);

// What k-NN walks of `probes` of the clustered codes (picked evenly from [0, n), each walking alone
// on the calling thread) do on average: clusters visited and codes verified (cluster_search.cpp).
struct ProbeWork {
  double visits = 0, verified = 0;
};
ProbeWork probe_walks(const ClusterScan::Clusters& cl, const uint8_t* codes, size_t n, int nbits, size_t probes,
                      size_t k);

}  // namespace nash_index
