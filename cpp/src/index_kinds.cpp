#include "nash_index/index_kinds.hpp"

#include <algorithm>
#include <limits>
#include <stdexcept>

#include "nash_index/index_file.hpp"

namespace nash_index {
namespace {

// Built on first use: registrations run during static initialisation, in no
// particular order across sources.
std::vector<IndexKindInfo>& registry() {
  static std::vector<IndexKindInfo> kinds;
  return kinds;
}

}  // namespace

int IndexOptions::take_int(const std::string& name, int fallback) {
  const auto it = values_.find(name);
  if (it == values_.end()) return fallback;
  const int64_t value = it->second;
  values_.erase(it);
  require(value >= std::numeric_limits<int>::min() && value <= std::numeric_limits<int>::max(),
          name + " is out of range: " + std::to_string(value));
  return static_cast<int>(value);
}

void IndexOptions::check_all_taken(const std::string& kind) const {
  if (values_.empty()) return;
  std::string names;
  for (const auto& entry : values_) names += (names.empty() ? "'" : ", '") + entry.first + "'";
  throw std::invalid_argument("index kind '" + kind + "' takes no option " + names);
}

void register_kind(const IndexKindInfo& info) {
  for (const IndexKindInfo& known : registry())
    if (known.tag == info.tag || known.name == info.name)
      throw std::logic_error("index kind '" + info.name + "' (tag " + std::to_string(info.tag) +
                             ") clashes with kind '" + known.name + "' (tag " + std::to_string(known.tag) + ")");
  registry().push_back(info);
  std::sort(registry().begin(), registry().end(),
            [](const IndexKindInfo& a, const IndexKindInfo& b) { return a.tag < b.tag; });
}

std::vector<IndexKindInfo> index_kinds() { return registry(); }

const IndexKindInfo* find_kind(uint32_t tag) {
  for (const IndexKindInfo& kind : registry())
    if (kind.tag == tag) return &kind;
  return nullptr;
}

const IndexKindInfo* find_kind(const std::string& name) {
  for (const IndexKindInfo& kind : registry())
    if (kind.name == name) return &kind;
  return nullptr;
}

std::unique_ptr<CodeIndex> create_index(const std::string& name, int nbits, IndexOptions options) {
  const IndexKindInfo* kind = find_kind(name);
  if (!kind) {
    std::string names;
    for (const IndexKindInfo& k : registry()) names += (names.empty() ? "'" : ", '") + k.name + "'";
    throw std::invalid_argument("unknown index kind '" + name + "' (registered: " + names + ")");
  }
  std::unique_ptr<CodeIndex> index = kind->create(nbits, options);
  options.check_all_taken(name);
  return index;
}

std::unique_ptr<CodeIndex> load_index(const std::shared_ptr<IndexFile>& file) {
  const IndexKindInfo* kind = find_kind(file->info().kind);
  if (!kind) throw FormatError("index file holds an unknown index kind " + std::to_string(file->info().kind));
  return kind->load(file);
}

}  // namespace nash_index
