#include "nash_index/index_file.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <new>

#include "atomic_file.hpp"
#include "file_sections.hpp"
#include "nash_index/common.hpp"
#include "nash_index/index_kinds.hpp"
#include "thread_pool.hpp"

namespace nash_index {
namespace {

constexpr char kMagic[8] = {'N', 'A', 'S', 'H', 'I', 'D', 'X', '\0'};
constexpr uint64_t kAlign = 4096;

#pragma pack(push, 1)
struct RawSection {
  uint32_t tag, reserved;
  uint64_t offset, bytes, checksum;
};
// The fixed start of every header; the section table and a checksum of
// every header byte before it follow.
struct RawHead {
  char magic[8];
  uint32_t version, kind, nbits, flags;
  uint64_t ntotal;
  uint32_t nsections, reserved;
};
#pragma pack(pop)

constexpr size_t kVersion1Slots = 8;  // version 1's table: always 8 entries, unused ones zero

constexpr uint64_t align_up(uint64_t x) { return (x + kAlign - 1) / kAlign * kAlign; }
constexpr size_t header_size(size_t slots) { return sizeof(RawHead) + slots * sizeof(RawSection) + sizeof(uint64_t); }
constexpr uint64_t kFirstOffset = align_up(header_size(kMaxSections));
// Version 1 files put their first section here too: both versions share the offsets.
static_assert(kFirstOffset == align_up(header_size(kVersion1Slots)), "the first section moved");

// No file is shorter than a version 1 header (callers check this before parse()).
constexpr size_t kMinFileBytes = header_size(kVersion1Slots);

// Entries in a header's section table (a version other than 2 is read as 1,
// so that a corrupted version 1 header is reported as such).
size_t table_slots(uint32_t version, uint32_t nsections) { return version == 2 ? nsections : kVersion1Slots; }

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

std::vector<uint64_t> section_offsets(const std::vector<SectionData>& sections) {
  std::vector<uint64_t> offsets;
  uint64_t offset = kFirstOffset;
  for (const SectionData& s : sections) {
    offsets.push_back(offset);
    offset = align_up(offset + s.bytes);
  }
  return offsets;
}

// The header of a file of these sections (with these checksums) at `offsets`:
// version 1 whenever the sections fit its table.
std::vector<uint8_t> make_header(const IndexHeaderInfo& info, const std::vector<SectionData>& sections,
                                 const std::vector<uint64_t>& offsets, const std::vector<uint64_t>& checksums) {
  if (sections.size() > kMaxSections) throw std::invalid_argument("too many sections");
  RawHead h;
  std::memset(&h, 0, sizeof(h));
  std::memcpy(h.magic, kMagic, 8);
  h.version = sections.size() <= kVersion1Slots ? 1 : 2;
  h.kind = info.kind;
  h.nbits = info.nbits;
  h.flags = info.flags;
  h.ntotal = info.ntotal;
  h.nsections = static_cast<uint32_t>(sections.size());
  std::vector<uint8_t> out(header_size(table_slots(h.version, h.nsections)), 0);
  std::memcpy(out.data(), &h, sizeof(h));
  for (size_t i = 0; i < sections.size(); ++i) {
    const RawSection entry{sections[i].tag, 0, offsets[i], sections[i].bytes, checksums[i]};
    std::memcpy(out.data() + sizeof(RawHead) + i * sizeof(RawSection), &entry, sizeof(entry));
  }
  const uint64_t sum = checksum64(out.data(), out.size() - sizeof(uint64_t));
  std::memcpy(out.data() + out.size() - sizeof(uint64_t), &sum, sizeof(sum));
  return out;
}

std::vector<uint64_t> checksums_of(const std::vector<SectionData>& sections) {
  std::vector<uint64_t> sums;
  for (const SectionData& s : sections) sums.push_back(checksum64(s.data, s.bytes));
  return sums;
}

// Hands the whole file to emit(position, data, bytes) in order, padding included.
template <class Emit>
void emit_file(const IndexHeaderInfo& info, const FileSections& sections, Emit&& emit) {
  const std::vector<SectionData>& list = sections.list();
  const std::vector<uint64_t> offsets = section_offsets(list);
  const std::vector<uint8_t> header = make_header(info, list, offsets, checksums_of(list));
  static const std::vector<char> zeros(kAlign, 0);
  emit(0, header.data(), header.size());
  uint64_t pos = header.size();
  for (size_t i = 0; i < list.size(); ++i) {
    emit(pos, zeros.data(), offsets[i] - pos);
    emit(offsets[i], list[i].data, list[i].bytes);
    pos = offsets[i] + list[i].bytes;
  }
}

// An index is read at random (MIH tables: a few cache lines per lookup over
// gigabytes), so large files go in 2 MiB pages: with 4 KiB pages each lookup
// also misses the TLB (10^9 codes, the same 1,000 queries: p99 3.6-4.0 ms with
// the file cached in 4 KiB pages, 2.8 ms in 2 MiB pages). Advisory: where the
// OS declines, pages stay small; a file already cached in small pages stays so.
// NASH_INDEX_HUGE_PAGES=0 leaves the OS default.
constexpr size_t kHugePage = size_t(2) << 20;
bool huge_pages_wanted() {
  const char* env = std::getenv("NASH_INDEX_HUGE_PAGES");
  return !(env && std::strcmp(env, "0") == 0);
}
void advise_huge(void* p, size_t bytes) {
#ifdef MADV_HUGEPAGE
  if (bytes >= kHugePage && huge_pages_wanted()) ::madvise(p, bytes, MADV_HUGEPAGE);
#else
  (void)p, (void)bytes;
#endif
}

// Maps every page of a mapping now. MAP_POPULATE would map them before the
// huge-page advice could apply, so the advice comes first and the pages are
// populated after it (Linux >= 5.14); false where the OS cannot.
bool populate_mapping(void* p, size_t bytes) {
#ifdef MADV_POPULATE_READ
  return ::madvise(p, bytes, MADV_POPULATE_READ) == 0 || errno != EINVAL;  // read errors: as MAP_POPULATE, ignored
#else
  (void)p, (void)bytes;
  return false;
#endif
}

// MAP_SHARED: pages come from the OS cache. Truncating the file while it is
// mapped makes reads fault (SIGBUS); save() never does (see README).
void* map_file(int fd, size_t bytes, bool populate, const std::string& path) {
  void* m = ::mmap(nullptr, bytes, PROT_READ, MAP_SHARED, fd, 0);
  if (m == MAP_FAILED) throw IoError("cannot mmap '" + path + "': " + std::strerror(errno));
  advise_huge(m, bytes);
  if (!populate || populate_mapping(m, bytes)) return m;
  ::munmap(m, bytes);  // an older kernel: populated the old way, in small pages
  m = ::mmap(nullptr, bytes, PROT_READ, MAP_SHARED | MAP_POPULATE, fd, 0);
  if (m == MAP_FAILED) throw IoError("cannot mmap '" + path + "': " + std::strerror(errno));
  return m;
}

// The whole file in anonymous memory (zero pages until read: no fill pass).
void* read_file(int fd, size_t bytes, const std::string& path) {
  void* buf = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (buf == MAP_FAILED) throw IoError("cannot allocate " + std::to_string(bytes) + " bytes to read '" + path + "'");
  advise_huge(buf, bytes);
  uint8_t* out = static_cast<uint8_t*>(buf);
  size_t got = 0;
  while (got < bytes) {
    const ssize_t r = ::read(fd, out + got, bytes - got);
    if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    const std::string why = r < 0 ? std::string(std::strerror(errno)) : "it shrank while being read";
    if (r <= 0) {
      ::munmap(buf, bytes);
      throw IoError("cannot read '" + path + "': " + why);
    }
    got += static_cast<size_t>(r);
  }
  return buf;
}

}  // namespace

uint64_t first_section_offset() { return kFirstOffset; }

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

std::vector<uint8_t> serialize_index(const IndexHeaderInfo& info, const FileSections& sections) {
  std::vector<uint8_t> out;
  emit_file(info, sections, [&out](uint64_t, const void* data, uint64_t bytes) {
    const uint8_t* p = static_cast<const uint8_t*>(data);
    out.insert(out.end(), p, p + bytes);
  });
  return out;
}

void write_index_file(const std::string& path, const IndexHeaderInfo& info, const FileSections& sections) {
  AtomicFile out(path);  // never writes into the file at `path`: a mapping of it stays intact
  emit_file(info, sections, [&](uint64_t at, const void* data, uint64_t bytes) { out.write_at(at, data, bytes); });
  out.commit();
}

void write_sections_file(const std::string& path, const IndexHeaderInfo& info,
                         const std::vector<std::pair<uint32_t, std::string>>& sections) {
  FileSections out;
  for (const auto& [tag, bytes] : sections) out.add(tag, bytes.data(), bytes.size());
  write_index_file(path, info, out);
}

void finish_index_file(AtomicFile& out, const IndexHeaderInfo& info, const FileSections& sections) {
  const std::vector<SectionData>& list = sections.list();
  const std::vector<uint64_t> offsets = section_offsets(list);
  std::vector<uint64_t> sums(list.size());
  ThreadPool::global().parallel_for(list.size(), 0, [&](size_t i) { sums[i] = checksum64(list[i].data, list[i].bytes); });
  for (size_t i = 1; i < list.size(); ++i) out.write_at(offsets[i], list[i].data, list[i].bytes);
  const std::vector<uint8_t> header = make_header(info, list, offsets, sums);
  out.write_at(0, header.data(), header.size());
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
  if (file->size_ < kMinFileBytes)
    throw FormatError("'" + path + "' is not a nash_index file: too short (" + std::to_string(file->size_) + " bytes)");
  if (use_mmap) {
    file->mapping_ = map_file(fd, file->size_, populate, path);
    file->base_ = static_cast<const uint8_t*>(file->mapping_);
  } else {
    file->read_ = read_file(fd, file->size_, path);
    file->base_ = static_cast<const uint8_t*>(file->read_);
  }
  file->parse(verify, "'" + path + "'");
  return file;
}

std::shared_ptr<IndexFile> IndexFile::from_bytes(const uint8_t* data, size_t size) {
  if (size < kMinFileBytes) throw FormatError("serialized index is too short");
  // Copied as open() reads a file: page-aligned, so codes keep whole cache lines, and from 2 MiB in
  // huge pages (in a malloc'd buffer, 4 KiB pages 16 bytes off a line, an unpickled index ran
  // batches of 100 queries over 64 MB ~7% slower than the index it came from; now as fast).
  void* buf = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (buf == MAP_FAILED) throw std::bad_alloc();
  std::shared_ptr<IndexFile> file(new IndexFile());
  file->read_ = buf;  // unmapped with the file, also when parsing refuses it
  file->size_ = size;
  advise_huge(buf, size);
  std::memcpy(buf, data, size);
  file->base_ = static_cast<const uint8_t*>(buf);
  file->parse(true, "serialized index");
  return file;
}

std::shared_ptr<IndexFile> IndexFile::view(const std::shared_ptr<IndexFile>& parent, const IndexHeaderInfo& info) {
  std::shared_ptr<IndexFile> file(new IndexFile());
  file->info_ = info;
  file->entries_ = parent->entries_;
  file->base_ = parent->base_;
  file->size_ = parent->size_;
  file->parent_ = parent;
  return file;
}

IndexFile::~IndexFile() {
  if (mapping_) ::munmap(mapping_, size_);
  if (read_) ::munmap(read_, size_);
}

// Every field is checked before any size derived from it is used: a file may
// be crafted (its header checksum is no protection against that).
void IndexFile::parse(bool verify, const std::string& origin) {
  RawHead h;
  std::memcpy(&h, base_, sizeof(h));
  if (std::memcmp(h.magic, kMagic, 8) != 0) throw FormatError(origin + " is not a nash_index file (bad magic)");
  const std::string bad = origin + " is corrupted: ";
  const size_t slots = table_slots(h.version, h.nsections);
  if (slots > kMaxSections) throw FormatError(bad + "bad section count " + std::to_string(h.nsections));
  const size_t checked = header_size(slots) - sizeof(uint64_t);
  if (size_ < checked + sizeof(uint64_t))
    throw FormatError(origin + " is truncated: its header lists " + std::to_string(slots) + " sections");
  uint64_t header_checksum;
  std::memcpy(&header_checksum, base_ + checked, sizeof(header_checksum));
  if (header_checksum != checksum64(base_, checked)) throw FormatError(bad + "header checksum mismatch");
  if (h.version != 1 && h.version != 2)
    throw FormatError(origin + " has format version " + std::to_string(h.version) +
                      "; this build reads versions 1 to " + std::to_string(kFormatVersion));
  if (!find_kind(h.kind)) throw FormatError(bad + "unknown index kind " + std::to_string(h.kind));
  // What the index constructors accept (code_size_for).
  if (h.nbits == 0 || h.nbits % 8 != 0 || h.nbits > static_cast<uint32_t>(kMaxBits))
    throw FormatError(bad + "unsupported code length nbits = " + std::to_string(h.nbits));
  if (h.flags != 0) throw FormatError(bad + "unknown flags " + std::to_string(h.flags));
  if (h.nsections > slots) throw FormatError(bad + "bad section count " + std::to_string(h.nsections));
  info_ = {h.kind, h.nbits, h.ntotal, h.flags};
  read_sections(h.nsections, verify, origin);
}

// The section table: bounds, alignment, overlaps and (with `verify`) checksums.
void IndexFile::read_sections(uint32_t count, bool verify, const std::string& origin) {
  const std::string bad = origin + " is corrupted: ";
  for (uint32_t i = 0; i < count; ++i) {
    RawSection s;
    std::memcpy(&s, base_ + sizeof(RawHead) + i * sizeof(RawSection), sizeof(s));
    const std::string which = "section " + std::to_string(i) + " (tag " + std::to_string(s.tag) + ")";
    if (s.offset > size_ || s.bytes > size_ - s.offset)  // no sum: offset + bytes may wrap
      throw FormatError(origin + " is truncated: " + which + " spans bytes " + std::to_string(s.offset) + " + " +
                        std::to_string(s.bytes) + " of " + std::to_string(size_));
    // Aligned sections keep every typed block (ids) aligned, mapped or not.
    if (s.offset % kAlign != 0 || s.offset < kFirstOffset)
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

std::vector<uint32_t> IndexFile::damaged_sections() const {
  std::vector<uint32_t> damaged;
  for (size_t i = 0; i < entries_.size(); ++i)
    if (checksum64(base_ + entries_[i].offset, entries_[i].bytes) != entries_[i].checksum)
      damaged.push_back(static_cast<uint32_t>(i));
  return damaged;
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
