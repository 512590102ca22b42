#include "nash_index/index_file.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "atomic_file.hpp"
#include "file_sections.hpp"
#include "nash_index/common.hpp"

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

std::string open_error(const std::string& path, int err) {
  if (err == ENOENT) return "no index file at '" + path + "'";
  if (err == ELOOP) return "cannot open '" + path + "': symbolic link loop (" + std::strerror(err) + ")";
  return "cannot open '" + path + "': " + std::strerror(err);
}

std::string file_type_name(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO (named pipe)";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode) || S_ISBLK(mode)) return "a device";
  return "not a regular file";
}

inline uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
inline uint64_t mix(uint64_t acc, uint64_t word) {
  acc += word * 0xC2B2AE3D27D4EB4FULL;
  return rotl(acc, 31) * 0x9E3779B185EBCA87ULL;
}

RawHeader make_header(const IndexHeaderInfo& info, const std::vector<SectionPlan>& sections) {
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
  std::vector<uint64_t> sizes;
  for (const SectionPlan& s : sections) sizes.push_back(s.bytes);
  const std::vector<uint64_t> offsets = section_offsets(sizes);
  for (size_t i = 0; i < sections.size(); ++i)
    h.sections[i] = {sections[i].tag, 0, offsets[i], sections[i].bytes, sections[i].checksum};
  h.header_checksum = checksum64(&h, offsetof(RawHeader, header_checksum));
  return h;
}

RawHeader make_header(const IndexHeaderInfo& info, const std::vector<SectionData>& sections) {
  std::vector<SectionPlan> plans;
  for (const SectionData& s : sections) plans.push_back({s.tag, s.bytes, checksum64(s.data, s.bytes)});
  return make_header(info, plans);
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

std::vector<uint64_t> section_offsets(const std::vector<uint64_t>& sizes) {
  std::vector<uint64_t> offsets;
  uint64_t offset = align_up(sizeof(RawHeader));
  for (const uint64_t bytes : sizes) {
    offsets.push_back(offset);
    offset = align_up(offset + bytes);
  }
  return offsets;
}

std::vector<uint8_t> header_bytes(const IndexHeaderInfo& info, const std::vector<SectionPlan>& sections) {
  const RawHeader h = make_header(info, sections);
  const uint8_t* p = reinterpret_cast<const uint8_t*>(&h);
  return std::vector<uint8_t>(p, p + sizeof(h));
}

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
  AtomicFile out(path);  // never writes into the file at `path`: a mapping of it stays intact
  emit_file(info, sections, [&](const void* data, uint64_t bytes) { write_all(out.fd(), data, bytes, out.temp_path()); });
  out.commit();
}

std::shared_ptr<IndexFile> IndexFile::open(const std::string& path, bool use_mmap, bool verify, bool populate) {
  std::shared_ptr<IndexFile> file(new IndexFile());
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer
  // forever; it has no effect on the regular files that pass the check below.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) throw IoError(open_error(path, errno));
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st;
  if (::fstat(fd, &st) != 0) throw IoError("cannot stat '" + path + "': " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) throw IoError("'" + path + "' is " + file_type_name(st.st_mode) + ", not an index file");
  file->size_ = static_cast<size_t>(st.st_size);
  if (file->size_ < sizeof(RawHeader))
    throw FormatError("'" + path + "' is not a nash_index file: too short (" + std::to_string(file->size_) + " bytes)");
  if (use_mmap) {
    // MAP_SHARED: pages come from the OS cache. Truncating the file while it
    // is mapped makes reads fault (SIGBUS); save() never does (see README).
    void* m = ::mmap(nullptr, file->size_, PROT_READ, MAP_SHARED | (populate ? MAP_POPULATE : 0), fd, 0);
    if (m == MAP_FAILED) throw IoError("cannot mmap '" + path + "': " + std::strerror(errno));
    file->mapping_ = m;
    file->base_ = static_cast<const uint8_t*>(m);
  } else {
    file->owned_.resize(file->size_);
    size_t got = 0;
    while (got < file->size_) {
      const ssize_t r = ::read(fd, file->owned_.data() + got, file->size_ - got);
      if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (r < 0) throw IoError("cannot read '" + path + "': " + std::strerror(errno));
      if (r == 0) throw IoError("cannot read '" + path + "': it shrank while being read");
      got += static_cast<size_t>(r);
    }
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

// Every field is checked before any size derived from it is used: a file may
// be crafted (its header checksum is no protection against that).
void IndexFile::parse(bool verify, const std::string& origin) {
  RawHeader h;
  std::memcpy(&h, base_, sizeof(h));
  if (std::memcmp(h.magic, kMagic, 8) != 0) throw FormatError(origin + " is not a nash_index file (bad magic)");
  if (h.header_checksum != checksum64(&h, offsetof(RawHeader, header_checksum)))
    throw FormatError(origin + " is corrupted: header checksum mismatch");
  if (h.version != kFormatVersion)
    throw FormatError(origin + " has format version " + std::to_string(h.version) + "; this build reads version " +
                      std::to_string(kFormatVersion));
  const std::string bad = origin + " is corrupted: ";
  if (h.kind != static_cast<uint32_t>(IndexKind::Flat) && h.kind != static_cast<uint32_t>(IndexKind::MultiIndexHashing))
    throw FormatError(bad + "unknown index kind " + std::to_string(h.kind));
  // What the index constructors accept (code_size_for).
  if (h.nbits == 0 || h.nbits % 8 != 0 || h.nbits > static_cast<uint32_t>(kMaxBits))
    throw FormatError(bad + "unsupported code length nbits = " + std::to_string(h.nbits));
  if (h.flags != 0) throw FormatError(bad + "unknown flags " + std::to_string(h.flags));
  if (h.nsections > kMaxSections) throw FormatError(bad + "bad section count " + std::to_string(h.nsections));
  info_ = {static_cast<IndexKind>(h.kind), h.nbits, h.ntotal, h.flags};
  for (uint32_t i = 0; i < h.nsections; ++i) {
    const RawSection& s = h.sections[i];
    const std::string which = "section " + std::to_string(i) + " (tag " + std::to_string(s.tag) + ")";
    if (s.offset > size_ || s.bytes > size_ - s.offset)  // no sum: offset + bytes may wrap
      throw FormatError(origin + " is truncated: " + which + " spans bytes " + std::to_string(s.offset) + " + " +
                        std::to_string(s.bytes) + " of " + std::to_string(size_));
    // Aligned sections keep every typed block (ids) aligned, mapped or not.
    if (s.offset % kAlign != 0 || s.offset < align_up(sizeof(RawHeader)))
      throw FormatError(bad + which + " has a bad offset " + std::to_string(s.offset));
    if (has_section(s.tag)) throw FormatError(bad + "section tag " + std::to_string(s.tag) + " appears twice");
    entries_.push_back({s.tag, s.offset, s.bytes, s.checksum});
  }
  std::vector<Entry> by_offset = entries_;
  std::sort(by_offset.begin(), by_offset.end(), [](const Entry& a, const Entry& b) {
    return a.offset != b.offset ? a.offset < b.offset : a.bytes < b.bytes;
  });
  for (size_t i = 1; i < by_offset.size(); ++i)
    if (by_offset[i - 1].offset + by_offset[i - 1].bytes > by_offset[i].offset)  // both within size_: no wrap
      throw FormatError(bad + "sections overlap");
  if (verify)
    for (size_t i = 0; i < entries_.size(); ++i)
      if (checksum64(base_ + entries_[i].offset, entries_[i].bytes) != entries_[i].checksum)
        throw FormatError(bad + "checksum mismatch in section " + std::to_string(i));
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
