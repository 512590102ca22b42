// Builds a MultiIndexHashing index file from codes streamed in chunks, in
// memory bounded by the index itself: codes are written straight into the
// file's code section; then the tables are built in memory from a read-only
// mapping of those codes (a counting sort per table), written after them,
// the checksums computed, the header written and the file committed
// atomically. load(path, mmap) then serves it without a rebuild. Peak memory:
// the tables, the codes' mapped pages (clean: the OS may drop them) and one
// uint32 count per prefix of each table (~n / 2 bytes per table).
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

namespace nash_index {

class AtomicFile;

class MihFileBuilder {
 public:
  // m == 0: automatic (MultiIndexHashing::auto_m of the final count);
  // max_key_bits as in MultiIndexHashing's constructor.
  MihFileBuilder(const std::string& path, int nbits, int m = 0, int max_key_bits = 0);
  ~MihFileBuilder();  // an unfinished build leaves nothing behind
  MihFileBuilder(const MihFileBuilder&) = delete;
  MihFileBuilder& operator=(const MihFileBuilder&) = delete;

  // Appends n codes (ids are positions, 0..count-1).
  void append(const uint8_t* codes, size_t n);
  // Builds the tables and commits the file; the builder is spent afterwards.
  void finish();
  // From any thread while finish() runs: finish() stops within a progress
  // step of the table build (2^20 codes), or at its next stage, and never
  // commits. False when the file was already committed.
  bool cancel();
  // Removes the temporary now unless committed (the builder is spent); while
  // finish() runs in another thread, cancels it instead (a failed or cancelled
  // finish() removes the temporary itself). The destructor does the same.
  void close();

  size_t count() const { return n_; }
  int nbits() const { return nbits_; }
  // Work done and total of finish(), in codes passed (for progress bars; any thread).
  uint64_t progress_done() const { return done_.load(std::memory_order_relaxed) & ~(uint64_t{1} << 63); }
  uint64_t progress_total() const { return total_.load(std::memory_order_relaxed); }

 private:
  void check_open() const;
  void stop_if_cancelled() const;
  void write_tables();  // finish() but the commit

  std::unique_ptr<AtomicFile> out_;
  int nbits_, m_, max_key_bits_;
  size_t code_size_;
  size_t n_ = 0;
  bool spent_ = false;
  std::mutex commit_mutex_;  // cancel() and the commit exclude each other
  std::atomic<bool> cancelled_{false};
  bool committed_ = false, finishing_ = false;
  std::atomic<uint64_t> done_{0}, total_{0};
};

}  // namespace nash_index
