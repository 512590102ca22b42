// One query's walk over the multi-index tables (internal to the MIH sources).
#pragma once
#include <cstdint>
#include <vector>

#include "mih_tables.hpp"
#include "nash_index/mih.hpp"
#include "result_handler.hpp"

namespace nash_index {

struct MultiIndexHashing::Scratch {
  std::vector<uint64_t> visited;  // one bit per table position of every segment (small indexes); clear between queries
  std::vector<uint32_t> found;    // bits set in `visited` by the current query
  std::vector<uint32_t> live;     // store positions of the live codes met, to verify
  std::vector<dist_t> distances;  // of the chunk being verified
  std::vector<uint32_t> values;   // bucket values of the probe block being walked
  std::vector<uint32_t> query_values;  // the query's substrings
  // One probe pipeline's buffers (the walk's own, then one per parallel chunk).
  struct Pipeline {
    std::vector<uint32_t> prefixes;           // prefixes of the block
    std::vector<uint32_t> targets;            // the suffix wanted in each, or its distance (PrefixPlan)
    std::vector<BucketTable::Range> ranges;   // their entries
    std::vector<uint64_t> positions;          // a parallel chunk's table positions met, in walk order,
    std::vector<uint32_t> live;               // the store positions of the live ones among them,
    std::vector<dist_t> distances;            // and their codes' distances to the query
  };
  Pipeline pipeline;
  std::vector<Pipeline> chunks;
};

// What a probe walk reads: the codes and the table segments (all with the
// same layout and key bits; segment s holds the store positions after those
// of the segments before it).
struct MihTables {
  CodesView db;
  const std::vector<std::unique_ptr<MultiIndexHashing::Tables>>* segments;
  size_t indexed;  // live codes in the tables; store positions [indexed, db.ntotal) are the tail, scanned linearly
};

// Walks the tables for one query (index 0 of `out`) until its result is
// complete. Returns false (and leaves `out` unusable) when the work passes
// `budget` candidate units, counting a bucket probe as `probe_cost`.
// `split_threads` > 1 lets a long radius be enumerated on that many of the
// pool's threads (the caller decides whether the cores are free for it).
// `scratch` is clean again on return.
struct ProbeLimits {
  double budget, probe_cost;
  int split_threads;
};
bool probe(const MihTables& t, const uint8_t* query, KnnHandler& out, MultiIndexHashing::Scratch& scratch,
           const ProbeLimits& limits, SearchWork& work);
bool probe(const MihTables& t, const uint8_t* query, RangeHandler& out, MultiIndexHashing::Scratch& scratch,
           const ProbeLimits& limits, SearchWork& work);

}  // namespace nash_index
