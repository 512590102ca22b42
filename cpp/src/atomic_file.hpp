// Atomic replacement of a file: write a uniquely named temporary in the
// target's directory, then rename it over the target.
#pragma once
#include <cstdint>
#include <string>

namespace nash_index {

// Temporaries are named ".<name>.<pid>.tmp-XXXXXX" (one per save, so threads
// and processes saving to one path never share one; the last rename wins) and
// hold an flock while they are written, so that a later save can tell a
// leftover of a killed writer from a live one and remove it.
class AtomicFile {
 public:
  // Removes stale temporaries of `path`, then creates a fresh one (IoError on failure).
  explicit AtomicFile(const std::string& path);
  ~AtomicFile();  // removes the temporary unless committed
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  int fd() const { return fd_; }
  const std::string& temp_path() const { return tmp_; }
  // Writes `bytes` at `offset` of the temporary (short writes retried; IoError on failure).
  void write_at(uint64_t offset, const void* data, uint64_t bytes);
  // fsync the data, rename over the target, fsync the directory (the rename is durable).
  void commit();

 private:
  std::string path_, dir_, tmp_;
  int fd_ = -1;
};

// Removes temporaries of `path` (the pattern above) left by dead processes;
// those of this process and any still locked are kept. Returns the count removed.
int remove_stale_temporaries(const std::string& path);

}  // namespace nash_index
