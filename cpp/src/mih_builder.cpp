#include "nash_index/mih_builder.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "atomic_file.hpp"
#include "code_store.hpp"
#include "file_sections.hpp"
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

// A writable shared mapping of a whole file, unmapped on scope exit.
class Mapping {
 public:
  Mapping(int fd, uint64_t bytes, const std::string& path) : bytes_(bytes) {
    if (::ftruncate(fd, static_cast<off_t>(bytes)) != 0)
      throw IoError("cannot size '" + path + "': " + std::strerror(errno));
    void* m = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (m == MAP_FAILED) throw IoError("cannot mmap '" + path + "': " + std::strerror(errno));
    base_ = static_cast<uint8_t*>(m);
  }
  ~Mapping() { ::munmap(base_, bytes_); }
  uint8_t* at(uint64_t offset) const { return base_ + offset; }

 private:
  uint64_t bytes_;
  uint8_t* base_;
};

}  // namespace

MihFileBuilder::MihFileBuilder(const std::string& path, int nbits, int m)
    : nbits_(nbits), m_(m), code_size_(code_size_for(nbits)) {
  require(m >= 0, "m must be >= 0 (0 = automatic), got " + std::to_string(m));
  if (m > 0) SubstringLayout(nbits, m);  // throws with a clear message on a bad split
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
  const std::vector<TableShape> shapes = table_shapes(layout, n_);
  const std::array<uint64_t, 2> store_meta = CodeStore::meta_words_for(static_cast<idx_t>(n_));
  const std::vector<uint32_t> mih_meta = mih_meta_words(m_, m, MihParams{});
  std::vector<SectionPlan> plan{{kSectionCodes, uint64_t(n_) * code_size_, 0},
                                {kSectionStoreMeta, sizeof(store_meta), 0},
                                {kSectionMihMeta, mih_meta.size() * sizeof(uint32_t), 0},
                                {kSectionMihTables, tables_blob_bytes(shapes), 0}};
  std::vector<uint64_t> sizes;
  for (const SectionPlan& s : plan) sizes.push_back(s.bytes);
  const std::vector<uint64_t> offsets = section_offsets(sizes);
  total_.store(uint64_t(n_) * (3 * uint64_t(m) + 1));
  {
    const Mapping file(out_->fd(), offsets.back() + plan.back().bytes, out_->temp_path());
    std::memcpy(file.at(offsets[1]), store_meta.data(), sizeof(store_meta));
    std::memcpy(file.at(offsets[2]), mih_meta.data(), plan[2].bytes);
    build_tables_blob(file.at(offsets[0]), code_size_, layout, shapes, file.at(offsets[3]), &done_);
    ThreadPool::global().parallel_for(plan.size(), 0, [&](size_t i) {
      plan[i].checksum = checksum64(file.at(offsets[i]), plan[i].bytes);
    });
    done_.fetch_add(n_);
    const IndexHeaderInfo info{IndexKind::MultiIndexHashing, static_cast<uint32_t>(nbits_), n_, 0};
    const std::vector<uint8_t> header = header_bytes(info, plan);
    std::memcpy(file.at(0), header.data(), header.size());
  }
  out_->commit();  // fsync (the mapping's pages included), rename, fsync the directory
}

}  // namespace nash_index
