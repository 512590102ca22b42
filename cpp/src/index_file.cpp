#include "nash_index/index_file.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "file_sections.hpp"

namespace nash_index {
namespace {

constexpr char kMagic[8] = {'N', 'A', 'S', 'H', 'I', 'D', 'X', '\0'};
constexpr uint64_t kAlign = 4096;

#pragma pack(push, 1)
struct RawSection {
  uint32_t tag, reserved;
  uint64_t offset, bytes, checksum;
};
struct RawHeader {
  char magic[8];
  uint32_t version, kind, nbits, flags;
  uint64_t ntotal;
  uint32_t nsections, reserved;
  RawSection sections[kMaxSections];
  uint64_t header_checksum;  // of every byte above
};
#pragma pack(pop)

uint64_t align_up(uint64_t x) { return (x + kAlign - 1) / kAlign * kAlign; }

inline uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
inline uint64_t mix(uint64_t acc, uint64_t word) {
  acc += word * 0xC2B2AE3D27D4EB4FULL;
  return rotl(acc, 31) * 0x9E3779B185EBCA87ULL;
}

RawHeader make_header(const IndexHeaderInfo& info, const std::vector<SectionData>& sections) {
  if (sections.size() > kMaxSections) throw std::invalid_argument("too many sections");
  RawHeader h;
  std::memset(&h, 0, sizeof(h));
  std::memcpy(h.magic, kMagic, 8);
  h.version = kFormatVersion;
  h.kind = static_cast<uint32_t>(info.kind);
  h.nbits = info.nbits;
  h.flags = info.flags;
  h.ntotal = info.ntotal;
  h.nsections = static_cast<uint32_t>(sections.size());
  uint64_t offset = align_up(sizeof(RawHeader));
  for (size_t i = 0; i < sections.size(); ++i) {
    h.sections[i] = {sections[i].tag, 0, offset, sections[i].bytes, checksum64(sections[i].data, sections[i].bytes)};
    offset = align_up(offset + sections[i].bytes);
  }
  h.header_checksum = checksum64(&h, offsetof(RawHeader, header_checksum));
  return h;
}

// Writes `bytes` at the current position; retries short writes.
void write_all(int fd, const void* data, uint64_t bytes, const std::string& path) {
  const char* p = static_cast<const char*>(data);
  while (bytes > 0) {
    const ssize_t w = ::write(fd, p, bytes);
    if (w < 0) {
      if (errno == EINTR) continue;
      throw IoError("cannot write '" + path + "': " + std::strerror(errno));
    }
    p += w;
    bytes -= static_cast<uint64_t>(w);
  }
}

template <class Emit>
void emit_file(const IndexHeaderInfo& info, const std::vector<SectionData>& sections, Emit&& emit) {
  const RawHeader h = make_header(info, sections);
  static const std::vector<char> zeros(kAlign, 0);
  emit(&h, sizeof(h));
  uint64_t pos = sizeof(h);
  for (size_t i = 0; i < sections.size(); ++i) {
    emit(zeros.data(), h.sections[i].offset - pos);
    emit(sections[i].data, sections[i].bytes);
    pos = h.sections[i].offset + sections[i].bytes;
  }
}

}  // namespace

uint64_t checksum64(const void* data, size_t bytes, uint64_t seed) {
  // Four independent lanes keep the multiplier pipeline busy (several GB/s).
  const uint8_t* p = static_cast<const uint8_t*>(data);
  uint64_t lane[4] = {seed + 0x9E3779B185EBCA87ULL, seed + 0xC2B2AE3D27D4EB4FULL, seed, seed - 0x9E3779B185EBCA87ULL};
  size_t i = 0;
  for (; i + 32 <= bytes; i += 32)
    for (int l = 0; l < 4; ++l) {
      uint64_t w;
      std::memcpy(&w, p + i + 8 * l, 8);
      lane[l] = mix(lane[l], w);
    }
  uint64_t h = rotl(lane[0], 1) + rotl(lane[1], 7) + rotl(lane[2], 12) + rotl(lane[3], 18) + bytes;
  for (; i < bytes; ++i) h = mix(h, p[i]);
  h ^= h >> 33;
  h *= 0xFF51AFD7ED558CCDULL;
  h ^= h >> 33;
  return h;
}

std::vector<uint8_t> serialize_index(const IndexHeaderInfo& info, const std::vector<SectionData>& sections) {
  std::vector<uint8_t> out;
  emit_file(info, sections, [&out](const void* data, uint64_t bytes) {
    const uint8_t* p = static_cast<const uint8_t*>(data);
    out.insert(out.end(), p, p + bytes);
  });
  return out;
}

void write_index_file(const std::string& path, const IndexHeaderInfo& info, const std::vector<SectionData>& sections) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw IoError("cannot create '" + tmp + "': " + std::strerror(errno));
  try {
    emit_file(info, sections, [&](const void* data, uint64_t bytes) { write_all(fd, data, bytes, tmp); });
    if (::fsync(fd) != 0) throw IoError("cannot sync '" + tmp + "': " + std::strerror(errno));
  } catch (...) {
    ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    throw IoError("cannot rename '" + tmp + "' to '" + path + "': " + std::strerror(err));
  }
}

std::shared_ptr<IndexFile> IndexFile::open(const std::string& path, bool use_mmap, bool verify) {
  std::shared_ptr<IndexFile> file(new IndexFile());
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw IoError("cannot open '" + path + "': " + std::strerror(errno));
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    throw IoError("cannot stat '" + path + "': " + std::strerror(errno));
  }
  file->size_ = static_cast<size_t>(st.st_size);
  if (file->size_ < sizeof(RawHeader)) {
    ::close(fd);
    throw FormatError("'" + path + "' is not a nash_index file: too short (" + std::to_string(file->size_) + " bytes)");
  }
  if (use_mmap) {
    void* m = ::mmap(nullptr, file->size_, PROT_READ, MAP_SHARED, fd, 0);
    ::close(fd);
    if (m == MAP_FAILED) throw IoError("cannot mmap '" + path + "': " + std::strerror(errno));
    file->mapping_ = m;
    file->base_ = static_cast<const uint8_t*>(m);
  } else {
    file->owned_.resize(file->size_);
    size_t got = 0;
    while (got < file->size_) {
      const ssize_t r = ::read(fd, file->owned_.data() + got, file->size_ - got);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) {
        ::close(fd);
        throw IoError("cannot read '" + path + "'");
      }
      got += static_cast<size_t>(r);
    }
    ::close(fd);
    file->base_ = file->owned_.data();
  }
  file->parse(verify, "'" + path + "'");
  return file;
}

std::shared_ptr<IndexFile> IndexFile::from_bytes(std::vector<uint8_t> bytes) {
  std::shared_ptr<IndexFile> file(new IndexFile());
  file->owned_ = std::move(bytes);
  file->size_ = file->owned_.size();
  file->base_ = file->owned_.data();
  if (file->size_ < sizeof(RawHeader)) throw FormatError("serialized index is too short");
  file->parse(true, "serialized index");
  return file;
}

IndexFile::~IndexFile() {
  if (mapping_) ::munmap(mapping_, size_);
}

void IndexFile::parse(bool verify, const std::string& origin) {
  RawHeader h;
  std::memcpy(&h, base_, sizeof(h));
  if (std::memcmp(h.magic, kMagic, 8) != 0) throw FormatError(origin + " is not a nash_index file (bad magic)");
  if (h.header_checksum != checksum64(&h, offsetof(RawHeader, header_checksum)))
    throw FormatError(origin + " is corrupted: header checksum mismatch");
  if (h.version != kFormatVersion)
    throw FormatError(origin + " has format version " + std::to_string(h.version) + "; this build reads version " +
                      std::to_string(kFormatVersion));
  if (h.nsections > kMaxSections) throw FormatError(origin + " is corrupted: bad section count");
  info_ = {static_cast<IndexKind>(h.kind), h.nbits, h.ntotal, h.flags};
  for (uint32_t i = 0; i < h.nsections; ++i) {
    const RawSection& s = h.sections[i];
    if (s.offset > size_ || s.bytes > size_ - s.offset)
      throw FormatError(origin + " is truncated: section " + std::to_string(i) + " ends at byte " +
                        std::to_string(s.offset + s.bytes) + " of " + std::to_string(size_));
    if (verify && checksum64(base_ + s.offset, s.bytes) != s.checksum)
      throw FormatError(origin + " is corrupted: checksum mismatch in section " + std::to_string(i));
    entries_.push_back({s.tag, s.offset, s.bytes, s.checksum});
  }
}

bool IndexFile::has_section(uint32_t tag) const {
  for (const Entry& e : entries_)
    if (e.tag == tag) return true;
  return false;
}

const uint8_t* IndexFile::section(uint32_t tag, uint64_t* bytes) const {
  for (const Entry& e : entries_)
    if (e.tag == tag) {
      *bytes = e.bytes;
      return base_ + e.offset;
    }
  throw FormatError("index file lacks section " + std::to_string(tag));
}

}  // namespace nash_index
