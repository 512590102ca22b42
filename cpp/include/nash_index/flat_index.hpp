// Exact Hamming k-NN and range search by scanning every code.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "nash_index/code_store.hpp"
#include "nash_index/scan_search.hpp"

namespace nash_index {

class FlatIndex {
 public:
  explicit FlatIndex(int nbits) : store_(nbits) {}

  int nbits() const { return store_.nbits(); }
  size_t code_size() const { return store_.code_size(); }
  size_t ntotal() const { return store_.size(); }
  const CodeStore& store() const { return store_; }

  void add(const uint8_t* codes, size_t n, const idx_t* ids) { store_.add(codes, n, ids); }
  size_t remove(const idx_t* ids, size_t n) { return store_.remove(ids, n); }
  void reset() { store_.reset(); }

  void search(const uint8_t* queries, size_t nq, size_t k, dist_t* distances, idx_t* ids, int num_threads) const {
    scan_knn(store_.view(), queries, nq, k, distances, ids, num_threads);
  }
  RangeResult range_search(const uint8_t* queries, size_t nq, dist_t radius, int num_threads) const {
    return scan_range(store_.view(), queries, nq, radius, num_threads);
  }

  void save(const std::string& path) const;
  std::vector<uint8_t> serialize() const;
  static std::unique_ptr<FlatIndex> load(const std::shared_ptr<IndexFile>& file);

 private:
  explicit FlatIndex(CodeStore store) : store_(std::move(store)) {}
  CodeStore store_;
};

}  // namespace nash_index
