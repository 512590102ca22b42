// ClusterScan: cluster lifecycle (build, growth, removal) and files. Queries
// are in cluster_search.cpp, the build in cluster_build.cpp.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "cluster_tables.hpp"
#include "code_store.hpp"
#include "file_sections.hpp"

namespace nash_index {
namespace {

const RegisterKind<ClusterScan> registered("cluster", &ClusterScan::create);

// The tail is scanned by every query: rebuild once it passes 1/16 of the
// clusters' codes (or 256 codes). Removed codes leave clusters smaller but
// centres stale: rebuild past 1/4 of them.
constexpr size_t kTailFraction = 16;
constexpr size_t kMinTailRebuild = 256;
constexpr size_t kRemovedFraction = 4;
// The automatic count: twice the leaders of a sample at radius nbits / 4 (the build starts from
// the leaders and seeds the rest among the codes they leave far), at most one cluster per 64 codes
// and 2^17. Every query reads every centre: 2^17 centres cost ~100 us; 10^7 codes around 1,000
// centres (10% of bits flipped) ran 6.4k q/s with them and 56k with this count (~4,600), when it
// was chosen.
// That count follows the groups only where they are tighter than the radius. Where they are not
// (clusters as wide as nbits / 4 or wider, clusters that overlap, uniform codes), the sampled
// codes that join a leader sit near the radius and leaders pile up with the sample, not with the
// data: 10^7 codes around 10^4 centres with 20% of bits flipped got ~57,000 clusters, built in
// 152 s, and ran 490 single q/s against 1,317 with sqrt(n). So the count is twice the leaders only
// while at least 3 in 10 of the joining codes lie within radius - 0.4 sqrt(nbits) of their leader
// (12 bits of 64, 27 of 128: a distance's spread grows as sqrt(nbits)), else sqrt(n).
// bench/bench_cluster_count.py (2 cores): of 37 code sets (10^7 64-bit, 2 * 10^6 64- to 256-bit)
// this rule sends 18 to sqrt(n): 16 ran faster so, single and batch (1.1-6.2x, 1.6-3.8x), one
// even single and 1.8x batch, one 0.66x single and 1.14x batch.
// Tight groups still misled it where they outnumber the clusters allowed (2 * 10^6 codes around
// 3-5 * 10^4 centres: ~40-70 codes a group, at most n / 64 clusters): clusters then mix groups,
// their radii reach the gaps, and walks visited 15-92% of the 31,250 clusters (0.25-0.45x sqrt(n)'s
// single q/s), where groups that fit visited 0-10% (up to 77x sqrt(n)'s). So where the groups ask
// for more clusters than sqrt(n), their clusters are built and probed by 32 walks of stored codes
// (10-NN, one thread); visiting over 1/16 of them on average, sqrt(n)'s clusters are built and
// probed too and the one with the cheaper walks kept. A walk's cost, in 64-bit codes read: centres
// plus verified codes, scaled by nbits / 64, plus kVisitCost per cluster visited (a visit's scattered
// loads and ring look-up: ~70-95 ns against ~0.1-0.25 ns a code streamed, 2 * 10^6 codes, 64 and
// 128 bits; this weight ranked the 6 such code sets measured as their q/s did).
constexpr size_t kCodesPerCluster = 64;
constexpr size_t kMaxAutoClusters = size_t{1} << 17;
constexpr size_t kLeaderSample = size_t{1} << 16;
constexpr size_t kClustersPerLeader = 2;
constexpr size_t kTightTenths = 3;  // tight groups: at least 3 in 10 of the joining codes close
constexpr double kCloseMargin = 0.4;  // close: within radius - kCloseMargin * sqrt(nbits) of the leader
constexpr size_t kProbeWalks = 32;
constexpr size_t kProbeK = 10;
constexpr double kDoubtShare = 16;  // the groups' walks visit over 1/16 of their clusters: probe sqrt(n)
constexpr double kVisitCost = 300;  // a cluster visited, in 64-bit codes read
constexpr uint32_t kMetaVersion = 1;

double walk_cost(const ProbeWork& w, size_t centres, int nbits) {
  return (double(centres) + w.verified) * double(nbits) / 64.0 + kVisitCost * w.visits;
}

void check_clusters(int clusters) {
  require(clusters >= 0, "clusters must be >= 0 (0 = automatic), got " + std::to_string(clusters));
}

}  // namespace

struct ClusterScan::Rebuild : CodeIndex::Upkeep {
  std::unique_ptr<Clusters> clusters;
  size_t indexed = 0;
  uint64_t version = 0;
  std::unique_ptr<Clusters> replaced;  // moved out by install, freed with this
};

ClusterScan::ClusterScan(int nbits, int clusters) : CodeIndex(nbits), requested_(clusters) {
  check_clusters(clusters);
}

ClusterScan::ClusterScan(const std::shared_ptr<IndexFile>& file, int clusters)
    : CodeIndex(file, kMaxCodes), requested_(clusters) {}

ClusterScan::~ClusterScan() = default;

std::unique_ptr<CodeIndex> ClusterScan::create(int nbits, IndexOptions& options) {
  return std::make_unique<ClusterScan>(nbits, options.take_int("clusters", 0));
}

ClusterScan::AutoChoice ClusterScan::auto_choice(const uint8_t* codes, size_t n, int nbits,
                                                 std::unique_ptr<Clusters>* built) {
  const size_t cap = std::clamp<size_t>(n / kCodesPerCluster, 1, kMaxAutoClusters);
  const dist_t radius = dist_t(nbits / 4);
  const dist_t close = dist_t(std::floor(double(radius) - kCloseMargin * std::sqrt(double(nbits))));
  const LeaderCount groups = count_leaders(codes, n, nbits, kLeaderSample, radius, close, cap);
  AutoChoice out{};
  out.from_groups = std::clamp<size_t>(kClustersPerLeader * groups.leaders, 1, cap);
  out.from_size = std::clamp<size_t>(size_t(std::sqrt(double(n))), 1, cap);
  out.tight_share = groups.joined ? double(groups.close) / double(groups.joined) : 0.0;
  out.tight = groups.joined > 0 && groups.close * 10 >= groups.joined * kTightTenths;
  std::unique_ptr<Clusters> by_groups, by_size;
  if (out.tight && out.from_groups > out.from_size) {
    by_groups = build_clusters(codes, n, nbits, out.from_groups, 0);
    const ProbeWork g = probe_walks(*by_groups, codes, n, nbits, kProbeWalks, kProbeK);
    out.visited_share = g.visits / double(by_groups->count);
    if (out.visited_share * kDoubtShare > 1.0) {
      by_size = build_clusters(codes, n, nbits, out.from_size, 0);
      const ProbeWork s = probe_walks(*by_size, codes, n, nbits, kProbeWalks, kProbeK);
      out.groups_cost = walk_cost(g, by_groups->count, nbits);
      out.size_cost = walk_cost(s, by_size->count, nbits);
      out.fell_back = out.size_cost < out.groups_cost;
    }
  }
  if (!built) return out;
  std::unique_ptr<Clusters>& kept = out.count() == out.from_groups ? by_groups : by_size;
  *built = kept ? std::move(kept) : build_clusters(codes, n, nbits, out.count(), 0);
  return out;
}

size_t ClusterScan::clusters() const { return clusters_ ? clusters_->count : 0; }

void ClusterScan::add(const uint8_t* codes, size_t n, const idx_t* ids) {
  require(n <= kMaxCodes - store_->size(), "ClusterScan holds at most 2^32 - 1 codes (uint32 positions)");
  store_->add(codes, n, ids);
}

size_t ClusterScan::remove(const idx_t* ids, size_t n) {
  const std::vector<size_t> doomed = store_->positions_of(ids, n);
  if (doomed.empty()) return 0;
  const size_t in_clusters = size_t(std::lower_bound(doomed.begin(), doomed.end(), indexed_) - doomed.begin());
  if (clusters_ && in_clusters > 0) clusters_->remove_positions(doomed);
  indexed_ -= in_clusters;
  removed_since_build_ += in_clusters;
  store_->erase_positions(doomed);
  ++version_;
  return doomed.size();
}

void ClusterScan::reset() {
  store_->reset();
  clusters_.reset();
  indexed_ = removed_since_build_ = 0;
  ++version_;
}

bool ClusterScan::needs_rebuild() const {
  const size_t tail = store_->size() - indexed_;
  const bool tail_long = tail > std::max(kMinTailRebuild, indexed_ / kTailFraction);
  return tail_long || removed_since_build_ * kRemovedFraction > indexed_ + removed_since_build_;
}

std::unique_ptr<ClusterScan::Rebuild> ClusterScan::build_aside() const {
  auto built = std::make_unique<Rebuild>();
  built->version = version_;
  built->indexed = store_->size();
  if (requested_ > 0)
    built->clusters = build_clusters(store_->codes(), built->indexed, nbits(), size_t(requested_), 0);
  else
    auto_choice(store_->codes(), built->indexed, nbits(), &built->clusters);
  return built;
}

bool ClusterScan::install(Rebuild& built) {
  if (!built.clusters || built.version != version_ || built.indexed > store_->size()) return false;
  built.replaced = std::move(clusters_);
  clusters_ = std::move(built.clusters);
  indexed_ = built.indexed;
  removed_since_build_ = 0;
  ++version_;
  return true;
}

std::unique_ptr<CodeIndex::Upkeep> ClusterScan::prepare_upkeep(bool force) const {
  if (!force && !needs_rebuild()) return nullptr;
  return build_aside();
}

bool ClusterScan::install_upkeep(Upkeep& prepared) { return install(static_cast<Rebuild&>(prepared)); }

void ClusterScan::optimize() { install(*build_aside()); }  // same version: always taken

void ClusterScan::add_sections(FileSections& out) const {
  CodeIndex::add_sections(out);
  out.add_owned(kSectionClusterMeta, std::vector<uint32_t>{kMetaVersion, uint32_t(requested_)});
}

// The clusters are rebuilt from the codes (the build is deterministic).
std::unique_ptr<ClusterScan> ClusterScan::load(const std::shared_ptr<IndexFile>& file) {
  uint64_t bytes = 0;
  const uint8_t* raw = file->section(kSectionClusterMeta, &bytes);
  uint32_t meta[2];
  if (bytes != sizeof(meta)) throw FormatError("index file: bad cluster metadata size");
  std::memcpy(meta, raw, sizeof(meta));
  if (meta[0] != kMetaVersion) throw FormatError("index file: unknown cluster metadata version");
  if (meta[1] > uint32_t(INT32_MAX)) throw FormatError("index file: bad cluster count");
  std::unique_ptr<ClusterScan> index(new ClusterScan(file, int(meta[1])));
  index->optimize();
  return index;
}

}  // namespace nash_index
