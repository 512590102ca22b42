#include "nash_index/mih_builder.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "atomic_file.hpp"
#include "build_trace.hpp"
#include "code_store.hpp"
#include "file_sections.hpp"
#include "huge_pages.hpp"
#include "mih_partition.hpp"
#include "mih_table.hpp"
#include "mih_tables.hpp"
#include "nash_index/common.hpp"

namespace nash_index {
namespace {

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

void MihFileBuilder::stop_if_cancelled() const {
  if (cancelled_.load()) throw BuildCancelled();
}

bool MihFileBuilder::cancel() {
  const std::lock_guard<std::mutex> lock(commit_mutex_);
  if (committed_) return false;
  cancelled_.store(true);
  done_.fetch_or(kProgressCancelled);  // the table builds stop at their next progress report
  return true;
}

void MihFileBuilder::close() {
  const std::lock_guard<std::mutex> lock(commit_mutex_);
  if (finishing_) {  // finish() runs in another thread: it removes the temporary as it stops
    cancelled_.store(true);
    done_.fetch_or(kProgressCancelled);
    return;
  }
  spent_ = true;
  if (!committed_) out_.reset();  // ~AtomicFile removes the temporary
}

void MihFileBuilder::append(const uint8_t* codes, size_t n) {
  check_open();
  MultiIndexHashing::require_room(n_, n);
  out_->write_at(first_section_offset() + uint64_t(n_) * code_size_, codes, uint64_t(n) * code_size_);
  n_ += n;
}

// The codes are in place (the store's first section); the tables are built
// from a mapping of them and the file is completed by the plan save uses.
void MihFileBuilder::finish() {
  {
    const std::lock_guard<std::mutex> lock(commit_mutex_);
    check_open();
    spent_ = true;  // a failure below leaves the builder unusable
    finishing_ = true;
  }
  try {
    write_tables();
    const std::lock_guard<std::mutex> lock(commit_mutex_);
    stop_if_cancelled();
    BuildTrace trace;
    out_->commit();  // fsync (the mapping's pages included), rename, fsync the directory
    trace.phase("commit");
    committed_ = true;
    finishing_ = false;
  } catch (...) {
    // A failed or cancelled build removes its temporary at once, whoever still holds the builder.
    const std::lock_guard<std::mutex> lock(commit_mutex_);
    out_.reset();
    finishing_ = false;
    throw;
  }
}

void MihFileBuilder::write_tables() {
  stop_if_cancelled();
  const int m = m_ > 0 ? m_ : MultiIndexHashing::auto_m(nbits_, n_);
  const SubstringLayout layout(nbits_, m);
  const std::vector<TableShape> shapes = table_shapes(layout, n_, max_key_bits_);
  const std::array<uint64_t, 2> store_meta = CodeStore::meta_words_for(static_cast<idx_t>(n_));
  total_.store(uint64_t(n_) * (3 * uint64_t(m) + 1));
  const uint64_t codes_end = first_section_offset() + uint64_t(n_) * code_size_;
  if (::ftruncate(out_->fd(), static_cast<off_t>(codes_end)) != 0)
    throw IoError("cannot size '" + out_->temp_path() + "': " + std::strerror(errno));
  {
    // The tables are built in anonymous memory (huge pages) and written once:
    // random writes into a shared file mapping would fault and write back
    // pages over and over. The codes are read through a mapping of the file.
    BuildTrace trace;
    const Mapping codes(out_->fd(), codes_end, out_->temp_path());
    const uint64_t table_bytes = tables_blob_bytes(shapes);
    // Huge pages for the counting sort's random accesses; the partitioned build
    // writes in order, where 4 KiB pages come cheaper (ZeroedPages).
    std::vector<uint64_t, HugePageAllocator<uint64_t>> huge_blob;
    std::unique_ptr<ZeroedPages> blob;
    uint8_t* tables;
    if (partitioned_build_enabled()) {
      blob = std::make_unique<ZeroedPages>(table_bytes);
      tables = blob->data();
    } else {
      huge_blob.assign(table_bytes / 8, 0);
      tables = reinterpret_cast<uint8_t*>(huge_blob.data());
    }
    trace.phase("allocate");
    build_tables_blob(codes.at(first_section_offset()), code_size_, layout, shapes, tables, &done_);
    stop_if_cancelled();
    trace.phase("tables");
    FileSections sections;
    CodeStore::add_sections(sections, codes.at(first_section_offset()), n_, code_size_, nullptr, store_meta.data());
    add_mih_sections(sections, mih_meta_words(m_, m, MihParams{}, max_key_bits_), tables, table_bytes, {});
    finish_index_file(*out_, {MultiIndexHashing::kTag, static_cast<uint32_t>(nbits_), n_, 0}, sections);
    trace.phase("checksum_write");
    done_.fetch_add(n_);
  }
}

}  // namespace nash_index
