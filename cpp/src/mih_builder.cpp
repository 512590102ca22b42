#include "nash_index/mih_builder.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "atomic_file.hpp"
#include "code_store.hpp"
#include "file_sections.hpp"
#include "huge_pages.hpp"
#include "mih_tables.hpp"
#include "nash_index/common.hpp"
#include "thread_pool.hpp"

namespace nash_index {
namespace {

constexpr uint64_t kMaxCodes = 0xFFFFFFFFu;  // the tables' uint32 positions

// The code section starts at the same offset whatever the other sizes are.
uint64_t codes_offset() { return section_offsets({0})[0]; }

void write_at(int fd, const void* data, uint64_t bytes, uint64_t offset, const std::string& path) {
  const char* p = static_cast<const char*>(data);
  while (bytes > 0) {
    const ssize_t w = ::pwrite(fd, p, bytes, static_cast<off_t>(offset));
    if (w < 0) {
      if (errno == EINTR) continue;
      throw IoError("cannot write '" + path + "': " + std::strerror(errno));
    }
    p += w;
    bytes -= static_cast<uint64_t>(w);
    offset += static_cast<uint64_t>(w);
  }
}

// A read-only shared mapping of a file, unmapped on scope exit.
class Mapping {
 public:
  Mapping(int fd, uint64_t bytes, const std::string& path) : bytes_(bytes) {
    void* m = ::mmap(nullptr, bytes, PROT_READ, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) throw IoError("cannot mmap '" + path + "': " + std::strerror(errno));
    base_ = static_cast<const uint8_t*>(m);
  }
  ~Mapping() { ::munmap(const_cast<uint8_t*>(base_), bytes_); }
  const uint8_t* at(uint64_t offset) const { return base_ + offset; }

 private:
  uint64_t bytes_;
  const uint8_t* base_;
};

}  // namespace

MihFileBuilder::MihFileBuilder(const std::string& path, int nbits, int m, int max_key_bits)
    : nbits_(nbits), m_(m), max_key_bits_(max_key_bits), code_size_(code_size_for(nbits)) {
  MultiIndexHashing::check_settings(nbits, m, max_key_bits);
  out_ = std::make_unique<AtomicFile>(path);
}

MihFileBuilder::~MihFileBuilder() = default;

void MihFileBuilder::check_open() const {
  require(!spent_, "this MihFileBuilder has already finished (or failed); make a new one");
}

void MihFileBuilder::append(const uint8_t* codes, size_t n) {
  check_open();
  require(n <= kMaxCodes - n_, "MultiIndexHashing holds at most 2^32 - 1 codes (uint32 positions)");
  write_at(out_->fd(), codes, uint64_t(n) * code_size_, codes_offset() + uint64_t(n_) * code_size_,
           out_->temp_path());
  n_ += n;
}

void MihFileBuilder::finish() {
  check_open();
  spent_ = true;  // a failure below leaves the builder unusable; the temporary goes with it
  const int m = m_ > 0 ? m_ : MultiIndexHashing::auto_m(nbits_, n_);
  const SubstringLayout layout(nbits_, m);
  const std::vector<TableShape> shapes = table_shapes(layout, n_, max_key_bits_);
  const std::array<uint64_t, 2> store_meta = CodeStore::meta_words_for(static_cast<idx_t>(n_));
  const std::vector<uint32_t> mih_meta = mih_meta_words(m_, m, MihParams{}, max_key_bits_);
  std::vector<SectionPlan> plan{{kSectionCodes, uint64_t(n_) * code_size_, 0},
                                {kSectionStoreMeta, sizeof(store_meta), 0},
                                {kSectionMihMeta, mih_meta.size() * sizeof(uint32_t), 0},
                                {kSectionMihTables, tables_blob_bytes(shapes), 0}};
  std::vector<uint64_t> sizes;
  for (const SectionPlan& s : plan) sizes.push_back(s.bytes);
  const std::vector<uint64_t> offsets = section_offsets(sizes);
  total_.store(uint64_t(n_) * (3 * uint64_t(m) + 1));
  const int fd = out_->fd();
  const std::string& tmp = out_->temp_path();
  if (::ftruncate(fd, static_cast<off_t>(offsets.back() + plan.back().bytes)) != 0)
    throw IoError("cannot size '" + tmp + "': " + std::strerror(errno));
  {
    // The tables are built in anonymous memory (huge pages) and written once:
    // random writes into a shared file mapping would fault and write back
    // pages over and over. The codes are read through a mapping of the file.
    const Mapping codes(fd, offsets[0] + plan[0].bytes, tmp);
    std::vector<uint64_t, HugePageAllocator<uint64_t>> blob(plan[3].bytes / 8, 0);
    uint8_t* tables = reinterpret_cast<uint8_t*>(blob.data());
    build_tables_blob(codes.at(offsets[0]), code_size_, layout, shapes, tables, &done_);
    const void* data[4] = {codes.at(offsets[0]), store_meta.data(), mih_meta.data(), tables};
    ThreadPool::global().parallel_for(plan.size(), 0, [&](size_t i) {
      plan[i].checksum = checksum64(data[i], plan[i].bytes);
    });
    done_.fetch_add(n_);
    for (size_t i = 1; i < plan.size(); ++i) write_at(fd, data[i], plan[i].bytes, offsets[i], tmp);
  }
  const IndexHeaderInfo info{IndexKind::MultiIndexHashing, static_cast<uint32_t>(nbits_), n_, 0};
  const std::vector<uint8_t> header = header_bytes(info, plan);
  write_at(fd, header.data(), header.size(), 0, tmp);
  out_->commit();  // fsync (the mapping's pages included), rename, fsync the directory
}

}  // namespace nash_index
