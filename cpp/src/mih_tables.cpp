#include "mih_tables.hpp"

#include <algorithm>
#include <cstring>
#include <string>

#include "mih_partition.hpp"
#include "thread_pool.hpp"

namespace nash_index {
namespace {

constexpr uint64_t kBlobVersion = 1;
constexpr size_t kHeadWords = 4;       // {version, m, positions, 0}
constexpr size_t kWordsPerTable = 4;   // {key_bits, prefix_bits, offset_width, position_width}

uint64_t head_bytes(size_t m) { return 8 * (kHeadWords + kWordsPerTable * m); }

// Points each table's view at its arrays, in table order after the header.
void attach(MultiIndexHashing::Tables& t, const std::vector<TableShape>& shapes) {
  t.by_substring.clear();
  uint64_t at = head_bytes(shapes.size());
  for (const TableShape& s : shapes) {
    t.by_substring.emplace_back(s, t.blob + at);
    at += s.bytes();
  }
  t.dead = Tombstones(t.positions);
}

}  // namespace

int key_bits_for(int substring_bits, int max_key_bits) {
  return max_key_bits > 0 ? std::min(substring_bits, max_key_bits) : substring_bits;
}

std::vector<TableShape> table_shapes(const SubstringLayout& layout, uint64_t n, int max_key_bits) {
  std::vector<TableShape> shapes;
  for (int j = 0; j < layout.m(); ++j)
    shapes.push_back(TableShape::for_codes(key_bits_for(layout.length(j), max_key_bits), n));
  return shapes;
}

uint64_t tables_blob_bytes(const std::vector<TableShape>& shapes) {
  uint64_t total = head_bytes(shapes.size());
  for (const TableShape& s : shapes) total += s.bytes();
  return total;
}

void build_tables_blob(const uint8_t* codes, size_t code_size, const SubstringLayout& layout,
                       const std::vector<TableShape>& shapes, uint8_t* blob, std::atomic<uint64_t>* progress) {
  const uint64_t n = shapes.empty() ? 0 : shapes[0].entries;
  std::vector<uint64_t> head{kBlobVersion, shapes.size(), n, 0};
  std::vector<uint8_t*> arrays;
  uint64_t at = head_bytes(shapes.size());
  for (const TableShape& s : shapes) {
    head.insert(head.end(), {uint64_t(s.key_bits), uint64_t(s.prefix_bits), uint64_t(s.offset_width),
                             uint64_t(s.position_width)});
    arrays.push_back(blob + at);
    at += s.bytes();
  }
  std::memcpy(blob, head.data(), head.size() * 8);
  const auto counting_sort = [&](size_t j) {
    BucketTable::build(codes, code_size, layout, static_cast<int>(j), shapes[j], arrays[j], progress);
  };
  if (!partitioned_build_enabled()) {
    ThreadPool::global().parallel_for(shapes.size(), 0, counting_sort);
    return;
  }
  // One table at a time on every thread: the scratch is held once, and the
  // passes over the codes share the memory bandwidth with nothing else.
  const int threads = ThreadPool::global().num_threads();
  PartitionScratch scratch;
  for (size_t j = 0; j < shapes.size(); ++j) {
    if (j + 1 < shapes.size()) scratch.lend(arrays[j + 1], static_cast<uint64_t>(blob + at - arrays[j + 1]));
    const bool built = build_table_partitioned(codes, code_size, layout, static_cast<int>(j), shapes[j], arrays[j],
                                               progress, threads, scratch);
    scratch.give_back();  // the next table's arrays are zeroed again
    if (!built) counting_sort(j);
  }
}

std::unique_ptr<MultiIndexHashing::Tables> build_tables(const uint8_t* codes, size_t code_size, size_t n,
                                                        const SubstringLayout& layout, int max_key_bits) {
  auto t = std::make_unique<MultiIndexHashing::Tables>();
  t->layout = layout;
  t->max_key_bits = max_key_bits;
  t->positions = n;
  const std::vector<TableShape> shapes = table_shapes(layout, n, max_key_bits);
  t->blob_bytes = tables_blob_bytes(shapes);
  t->owned.assign(t->blob_bytes / 8, 0);
  t->blob = reinterpret_cast<const uint8_t*>(t->owned.data());
  build_tables_blob(codes, code_size, layout, shapes, reinterpret_cast<uint8_t*>(t->owned.data()), nullptr);
  attach(*t, shapes);
  return t;
}

std::unique_ptr<MultiIndexHashing::Tables> tables_from_blob(const std::shared_ptr<IndexFile>& file, const uint8_t* blob,
                                                            uint64_t bytes, const SubstringLayout& layout,
                                                            int max_key_bits, uint64_t ntotal) {
  const std::string bad = "index file: bad multi-index tables: ";
  const size_t m = static_cast<size_t>(layout.m());
  if (bytes < head_bytes(m) || bytes % 8 != 0) throw FormatError(bad + "section of " + std::to_string(bytes) + " bytes");
  std::vector<uint64_t> head(head_bytes(m) / 8);
  std::memcpy(head.data(), blob, head.size() * 8);
  if (head[0] != kBlobVersion) throw FormatError(bad + "unknown version " + std::to_string(head[0]));
  if (head[1] != m) throw FormatError(bad + "m = " + std::to_string(head[1]) + ", the metadata says " + std::to_string(m));
  if (head[2] > ntotal) throw FormatError(bad + "they cover more codes than the file holds");
  // The shapes follow from (key bits, count): anything else is damage.
  const std::vector<TableShape> shapes = table_shapes(layout, head[2], max_key_bits);
  for (size_t j = 0; j < m; ++j) {
    const uint64_t* w = head.data() + kHeadWords + kWordsPerTable * j;
    const TableShape& s = shapes[j];
    if (w[0] != uint64_t(s.key_bits) || w[1] != uint64_t(s.prefix_bits) || w[2] != uint64_t(s.offset_width) ||
        w[3] != uint64_t(s.position_width))
      throw FormatError(bad + "table " + std::to_string(j) + " has an unexpected shape");
  }
  if (tables_blob_bytes(shapes) != bytes) throw FormatError(bad + "section size does not match the tables");
  auto t = std::make_unique<MultiIndexHashing::Tables>();
  t->layout = layout;
  t->max_key_bits = max_key_bits;
  t->positions = head[2];
  t->blob_bytes = bytes;
  // The tables stay in the file's bytes, mapped or read (the codes do too):
  // a copy would double their memory and lose the file's 2 MiB pages.
  t->file = file;
  t->blob = blob;
  attach(*t, shapes);
  return t;
}

}  // namespace nash_index
