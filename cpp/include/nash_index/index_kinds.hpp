// The registry of index kinds: each kind's tag (the number its files carry),
// name (what Python and the command line call it), factory and loader. It
// drives the file parser (which kinds a file may hold), the binding and
// Python's list of kinds, so a kind registers itself with one line in its own
// source and touches nothing else:
//
//   const RegisterKind<FlatIndex> registered("flat");  // tag: FlatIndex::kTag
//
// Tags are on disk: never renumber or reuse one (Flat = 1, MIH = 2; kinds
// built only for the tests use tags above kFirstTestTag).
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "nash_index/code_index.hpp"

namespace nash_index {

constexpr uint32_t kFirstTestTag = 1000;

// A factory's keyword options (Python: make_index(kind=..., m=...)): each
// kind takes those it knows; the registry refuses whatever is left.
class IndexOptions {
 public:
  IndexOptions() = default;
  explicit IndexOptions(std::map<std::string, int64_t> values) : values_(std::move(values)) {}
  // Removes option `name` and returns it (`fallback` when absent); std::invalid_argument beyond int.
  int take_int(const std::string& name, int fallback);
  // std::invalid_argument naming the options no kind took.
  void check_all_taken(const std::string& kind) const;

 private:
  std::map<std::string, int64_t> values_;
};

struct IndexKindInfo {
  uint32_t tag;
  std::string name;
  std::unique_ptr<CodeIndex> (*create)(int nbits, IndexOptions& options);
  // Called with a parsed file of this kind's tag.
  std::unique_ptr<CodeIndex> (*load)(const std::shared_ptr<IndexFile>& file);
};

// Adds a kind; a tag or name registered twice is a programming error (std::logic_error at start-up).
void register_kind(const IndexKindInfo& info);
// The registered kinds, by tag.
std::vector<IndexKindInfo> index_kinds();
// nullptr when no kind has this tag / name.
const IndexKindInfo* find_kind(uint32_t tag);
const IndexKindInfo* find_kind(const std::string& name);
// An empty index of the named kind (std::invalid_argument: unknown kind or option).
std::unique_ptr<CodeIndex> create_index(const std::string& name, int nbits, IndexOptions options);
// The index a parsed file holds, whatever its kind (the parser has checked that it is registered).
std::unique_ptr<CodeIndex> load_index(const std::shared_ptr<IndexFile>& file);

// Registers Index under Index::kTag at static initialisation. The factory is
// Index(nbits) unless the kind has options (then Index::create(nbits, options));
// the loader is Index::load(file). The library is linked as object files
// (CMakeLists.txt), so no registration is dropped by the linker.
template <class Index>
class RegisterKind {
 public:
  explicit RegisterKind(const char* name, std::unique_ptr<CodeIndex> (*create)(int, IndexOptions&) = &plain) {
    register_kind({Index::kTag, name, create, &load});
  }

 private:
  static std::unique_ptr<CodeIndex> plain(int nbits, IndexOptions&) { return std::make_unique<Index>(nbits); }
  static std::unique_ptr<CodeIndex> load(const std::shared_ptr<IndexFile>& file) { return Index::load(file); }
};

}  // namespace nash_index
