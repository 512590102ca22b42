// One query's walk over the multi-index tables (internal to the MIH sources).
#pragma once
#include <cstdint>
#include <vector>

#include "nash_index/mih.hpp"
#include "nash_index/topk.hpp"

namespace nash_index {

struct MultiIndexHashing::Scratch {
  std::vector<uint64_t> visited;  // one bit per indexed position; all clear between queries
  std::vector<uint32_t> found;    // positions verified by the current query, in order
  std::vector<dist_t> distances;  // of the chunk being verified
  std::vector<uint32_t> values;   // bucket values of the probe block being walked
  std::vector<uint32_t> query_values;  // the query's substrings
};

// What a probe walk reads: the codes, the tables and their layout.
struct MihTables {
  CodesView db;
  const SubstringLayout* layout;
  const std::vector<BucketTable>* tables;
  size_t indexed;  // positions [indexed, db.ntotal) are the tail, scanned linearly
};

// Collects the k best (distance, id) and says when the walk may stop.
class KnnCollector {
 public:
  KnnCollector(const CodesView& db, size_t k) : db_(db), top_(k, db.nbits) {}
  dist_t limit() const { return top_.threshold(); }
  void take(dist_t d, size_t pos) { top_.offer(d, db_.id_at(pos), false); }
  // Every unverified code is at distance > guaranteed: done once the k-th best is within it.
  bool done(dist_t guaranteed) { return top_.kth_distance() <= guaranteed; }
  TopK& topk() { return top_; }

 private:
  const CodesView& db_;
  TopK top_;
};

// Collects every code within a fixed radius.
class RangeCollector {
 public:
  RangeCollector(const CodesView& db, dist_t radius) : db_(db), radius_(radius) {}
  dist_t limit() const { return radius_; }
  void take(dist_t d, size_t pos) { found_.push_back({d, db_.id_at(pos)}); }
  bool done(dist_t guaranteed) const { return guaranteed >= radius_; }
  std::vector<Neighbor>& found() { return found_; }

 private:
  const CodesView& db_;
  dist_t radius_;
  std::vector<Neighbor> found_;
};

// Walks the tables for one query until the collector is satisfied. Returns
// false (and leaves the collector unusable) when the work passes `budget`
// candidate units, counting a bucket probe as `probe_cost`. `scratch` is clean
// again on return.
bool probe_knn(const MihTables& t, const uint8_t* query, KnnCollector& out, MultiIndexHashing::Scratch& scratch,
               double budget, double probe_cost, SearchWork& work);
bool probe_range(const MihTables& t, const uint8_t* query, RangeCollector& out,
                 MultiIndexHashing::Scratch& scratch, double budget, double probe_cost, SearchWork& work);

}  // namespace nash_index
