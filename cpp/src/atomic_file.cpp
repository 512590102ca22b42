#include "atomic_file.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <random>
#include <thread>

#include "nash_index/index_file.hpp"

namespace nash_index {
namespace {

constexpr size_t kMaxStem = 200;  // the temporary's name must stay under NAME_MAX (255)
constexpr int kRandomChars = 6;
constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

std::string error_text(int err) { return std::strerror(err); }

void split_path(const std::string& path, std::string* dir, std::string* name) {
  const size_t slash = path.find_last_of('/');
  *dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  *name = slash == std::string::npos ? path : path.substr(slash + 1);
  if (name->empty() || *name == "." || *name == "..")
    throw IoError("cannot save to '" + path + "': not a file name");
}

// ".<name>." : what every temporary of this target starts with.
std::string temp_prefix(const std::string& name) { return "." + name.substr(0, kMaxStem) + "."; }

// Six random characters; the seed mixes time, thread and a counter so that
// threads and forked children draw different names (O_EXCL catches the rest).
std::string random_suffix() {
  static std::atomic<uint64_t> counter{0};
  thread_local std::mt19937_64 rng(static_cast<uint64_t>(
      std::chrono::high_resolution_clock::now().time_since_epoch().count()) ^
      std::hash<std::thread::id>()(std::this_thread::get_id()) ^ (counter.fetch_add(1) << 48));
  std::string s;
  for (int i = 0; i < kRandomChars; ++i) s += kAlphabet[rng() % (sizeof(kAlphabet) - 1)];
  return s;
}

// The pid of "<prefix><pid>.tmp-XXXXXX", or -1 when `entry` is not such a name.
long temp_owner(const std::string& entry, const std::string& prefix) {
  if (entry.compare(0, prefix.size(), prefix) != 0) return -1;
  size_t i = prefix.size();
  long pid = 0;
  const size_t digits_from = i;
  while (i < entry.size() && entry[i] >= '0' && entry[i] <= '9' && i - digits_from < 10)
    pid = pid * 10 + (entry[i++] - '0');
  if (i == digits_from || entry.compare(i, 5, ".tmp-") != 0) return -1;
  i += 5;
  if (entry.size() - i != static_cast<size_t>(kRandomChars)) return -1;
  for (; i < entry.size(); ++i)
    if (!std::strchr(kAlphabet, entry[i])) return -1;
  return pid;
}

// A leftover of a dead writer: its pid is gone and nobody holds its lock. The
// lock covers a live writer whose pid we cannot see (another pid namespace).
bool is_stale(const std::string& file, long pid) {
  if (pid <= 0 || pid == static_cast<long>(::getpid())) return false;
  if (::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) return false;
  const int fd = ::open(file.c_str(), O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return false;
  struct stat st;
  bool stale = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
  if (stale && ::flock(fd, LOCK_EX | LOCK_NB) != 0) stale = errno != EWOULDBLOCK;
  ::close(fd);
  return stale;
}

}  // namespace

int remove_stale_temporaries(const std::string& path) {
  std::string dir, name;
  split_path(path, &dir, &name);
  const std::string prefix = temp_prefix(name);
  DIR* d = ::opendir(dir.c_str());
  if (!d) return 0;  // creating the temporary reports the real problem
  int removed = 0;
  while (const dirent* e = ::readdir(d)) {
    const std::string entry = e->d_name;
    const std::string file = dir + "/" + entry;
    if (is_stale(file, temp_owner(entry, prefix)) && ::unlink(file.c_str()) == 0) ++removed;
  }
  ::closedir(d);
  return removed;
}

AtomicFile::AtomicFile(const std::string& path) : path_(path) {
  std::string name;
  split_path(path, &dir_, &name);
  remove_stale_temporaries(path);  // before writing: they may hold the disk space we need
  const std::string stem = dir_ + "/" + temp_prefix(name) + std::to_string(::getpid()) + ".tmp-";
  for (int attempt = 0;; ++attempt) {
    tmp_ = stem + random_suffix();
    fd_ = ::open(tmp_.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd_ < 0 && (errno != EEXIST || attempt == 100))
      throw IoError("cannot create a temporary file for '" + path + "' in '" + dir_ + "': " + error_text(errno));
    if (fd_ < 0) continue;
    // Marks the temporary as in use (a filesystem without locks only loses that mark).
    (void)::flock(fd_, LOCK_EX | LOCK_NB);
    // A cleaner that found the file before the lock may have removed it: then start over.
    struct stat mine, named;
    if (::fstat(fd_, &mine) == 0 && ::stat(tmp_.c_str(), &named) == 0 && mine.st_ino == named.st_ino &&
        mine.st_dev == named.st_dev)
      break;
    ::close(fd_);
    fd_ = -1;
    if (attempt == 100) throw IoError("cannot keep a temporary file for '" + path + "' in '" + dir_ + "'");
  }
}

AtomicFile::~AtomicFile() {
  if (fd_ < 0) return;
  ::unlink(tmp_.c_str());
  ::close(fd_);
}

void AtomicFile::write_at(uint64_t offset, const void* data, uint64_t bytes) {
  const char* p = static_cast<const char*>(data);
  while (bytes > 0) {
    const ssize_t w = ::pwrite(fd_, p, bytes, static_cast<off_t>(offset));
    if (w < 0) {
      if (errno == EINTR) continue;
      throw IoError("cannot write '" + tmp_ + "': " + error_text(errno));
    }
    p += w;
    bytes -= static_cast<uint64_t>(w);
    offset += static_cast<uint64_t>(w);
  }
}

void AtomicFile::commit() {
  if (::fsync(fd_) != 0) throw IoError("cannot sync '" + tmp_ + "': " + error_text(errno));
  if (::rename(tmp_.c_str(), path_.c_str()) != 0)
    throw IoError("cannot save to '" + path_ + "': " + error_text(errno));  // the destructor removes tmp_
  ::close(fd_);  // after the rename: the lock marks the temporary live until then
  fd_ = -1;
  // Without this the rename itself may be lost by a crash right after save() returns.
  const int dfd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) throw IoError("cannot open directory '" + dir_ + "' to sync it: " + error_text(errno));
  const int rc = ::fsync(dfd);
  const int err = errno;
  ::close(dfd);
  if (rc != 0 && err != EINVAL)  // EINVAL: this filesystem cannot sync directories
    throw IoError("cannot sync directory '" + dir_ + "': " + error_text(err));
}

}  // namespace nash_index
