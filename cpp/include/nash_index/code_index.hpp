// What every index kind holds and reports alike: packed codes and their ids.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "nash_index/common.hpp"

namespace nash_index {

class CodeStore;

class CodeIndex {
 public:
  int nbits() const;
  size_t code_size() const;
  size_t ntotal() const;
  // Whether the codes are read in place from a memory-mapped file.
  bool is_mapped() const;
  // ntotal * code_size bytes in position order; valid until the next change.
  const uint8_t* codes() const;
  // The id of every code, in position order.
  std::vector<idx_t> ids() const;
  // The stored code of `id` (code_size bytes into `out`); false when absent.
  bool reconstruct(idx_t id, uint8_t* out) const;

 protected:
  explicit CodeIndex(std::unique_ptr<CodeStore> store);
  ~CodeIndex();
  CodeIndex(const CodeIndex&) = delete;
  CodeIndex& operator=(const CodeIndex&) = delete;

  std::unique_ptr<CodeStore> store_;
};

}  // namespace nash_index
