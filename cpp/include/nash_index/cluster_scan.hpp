// Exact Hamming k-NN and range search by a cluster-pruned scan. The codes are
// grouped around K centres (sampled codes refined by one majority vote); each
// cluster keeps its members' codes contiguously, sorted by their distance to
// the centre. For a query q, centre c and member x, the triangle inequality
// gives d(q, x) >= |d(q, c) - d(x, c)|, so with the current k-th best distance
// tau a cluster whose radius R_c has d(q, c) - R_c > tau cannot hold a result,
// and inside a visited cluster only members with d(x, c) in
// [d(q, c) - tau, d(q, c) + tau] are verified (a per-cluster table of where each
// distance to the centre starts finds that ring in two loads). The nearest centre's cluster
// is visited first (tau is tight after it); then only the clusters whose lower
// bound is within that tau, by bound, so the walk stops at the first cluster
// above tau: exact, ties by id included (a code at distance tau still enters). The centres and the
// assignment only decide how much is pruned, never what is found.
//
// On well separated clusters a query reads K centres and a few clusters; where
// clusters lie about as close as their radii (10^4 random centres in 64 bits,
// 20% of bits flipped) or on uniform codes the bound prunes little and it
// degrades towards a scan of every code plus K centres. A batch whose first
// queries verified many codes each goes cluster by cluster instead
// (cluster_batch.cpp): each cluster is read once for all the queries that need it.
//
// Codes added after the last build form a tail scanned by every query; the
// clusters are rebuilt (prepare_upkeep) once the tail passes 1/16 of them, or
// the removals 1/4. A removal remaps the clusters' positions (O(n)) and keeps
// their radii (still upper bounds). Files hold the codes and the requested
// cluster count; load rebuilds the clusters (deterministic sampling: the same
// clusters as before saving).
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "nash_index/code_index.hpp"
#include "nash_index/index_file.hpp"
#include "nash_index/index_kinds.hpp"

namespace nash_index {

class ClusterScan : public CodeIndex {
 public:
  static constexpr uint32_t kTag = 5;  // on disk (index_kinds.hpp; 3 and 4 are the dedup kinds)
  static constexpr size_t kMaxCodes = 0xFFFFFFFFu;  // uint32 positions

  // clusters == 0: automatic (auto_choice of the codes at each build).
  explicit ClusterScan(int nbits, int clusters = 0);
  // The registry's factory: option "clusters" as in the constructor.
  static std::unique_ptr<CodeIndex> create(int nbits, IndexOptions& options);
  ~ClusterScan() override;
  uint32_t kind() const override { return kTag; }

  // Clusters in use (0 before the first build) and the request (0 = automatic).
  size_t clusters() const;
  int clusters_requested() const { return requested_; }
  // Live codes covered by the clusters: store positions [0, indexed()); the rest is the tail.
  size_t indexed() const { return indexed_; }

  void add(const uint8_t* codes, size_t n, const idx_t* ids) override;
  size_t remove(const idx_t* ids, size_t n) override;
  void reset() override;
  // Rebuilds the clusters over every code now.
  void optimize();

  void search(const uint8_t* queries, size_t nq, size_t k, dist_t* distances, idx_t* ids, int num_threads,
              SearchWork* work = nullptr) const override;
  RangeResult range_search(const uint8_t* queries, size_t nq, dist_t radius, int num_threads,
                           SearchWork* work = nullptr) const override;

  struct Rebuild;
  std::unique_ptr<Upkeep> prepare_upkeep(bool force) const override;
  bool install_upkeep(Upkeep& prepared) override;

  static std::unique_ptr<ClusterScan> load(const std::shared_ptr<IndexFile>& file);

  struct Clusters;  // cluster_tables.hpp

  // The automatic count's two choices: twice the groups that a sample of the codes forms at radius
  // nbits / 4 (count_leaders), or sqrt(n), each at most one cluster per 64 codes and 2^17 (each
  // query reads every centre), and what picks between them: the share of the sampled codes that
  // joined a group within nbits / 4 - 0.4 sqrt(nbits) of its leader (tight groups); then, where
  // tight groups ask for more clusters than sqrt(n), probe walks (10-NN of a few stored codes) over
  // their clusters once built. Where those visit over 1/16 of the clusters, sqrt(n)'s clusters are
  // built and probed too, and the cheaper by the walks' cost (centres read, clusters visited, codes
  // verified) is kept: the groups lose where they outnumber the clusters allowed.
  struct AutoChoice {
    size_t from_groups, from_size;
    double tight_share;
    bool tight;
    double visited_share;            // of the groups' clusters, by the probe walks (0: not built)
    double groups_cost, size_cost;   // the probe walks' mean cost on each (0: not probed)
    bool fell_back;                  // tight groups, but sqrt(n) probed cheaper
    size_t count() const { return tight && !fell_back ? from_groups : from_size; }
  };
  // The choice, with the clusters it picked built into `built` where given (the check may build
  // both counts' clusters: auto_choice costs up to two builds).
  static AutoChoice auto_choice(const uint8_t* codes, size_t n, int nbits, std::unique_ptr<Clusters>* built = nullptr);

 private:
  ClusterScan(const std::shared_ptr<IndexFile>& file, int clusters);
  void add_sections(FileSections& out) const override;
  bool needs_rebuild() const;
  std::unique_ptr<Rebuild> build_aside() const;
  bool install(Rebuild& built);
  // split > 1: a k-NN walk with many candidate clusters runs on that many of the pool's threads.
  template <class Sink>
  void walk(const uint8_t* query, Sink& sink, SearchWork* work, int split = 1) const;  // cluster_search.cpp
  // Whether a sample of the batch's walks would verify many codes each (clusters_ built).
  bool walks_verify_many(const uint8_t* queries, size_t nq, size_t k) const;
  // A batch visited cluster by cluster (cluster_batch.cpp); clusters_ must be built.
  void search_by_cluster(const uint8_t* queries, size_t nq, size_t k, dist_t* distances, idx_t* ids,
                         int num_threads, SearchWork* work) const;

  int requested_;
  std::unique_ptr<Clusters> clusters_;  // nullptr until the first build
  size_t indexed_ = 0;
  size_t removed_since_build_ = 0;
  uint64_t version_ = 0;  // bumped whenever store positions or the clusters change, adds aside
};

}  // namespace nash_index
