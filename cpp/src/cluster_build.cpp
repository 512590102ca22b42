// Building a ClusterScan's clusters: leaders of an even sample, then seeded among
// the codes left far from all of them, codes assigned to a near centre by
// substring probes (CentreProbe), centres moved to their members' bitwise
// majority, codes assigned again, then members laid out cluster by cluster,
// sorted by distance to the centre. Clusters left empty are dropped.
#include <algorithm>
#include <limits>
#include <numeric>

#include "cluster_tables.hpp"
#include "kernels.hpp"
#include "thread_pool.hpp"

namespace nash_index {
namespace {

constexpr uint32_t kNone = 0xFFFFFFFFu;     // a code not placed yet
constexpr size_t kCentresPerBucket = 32;  // sizes the probe tables' substrings
constexpr int kRounds = 8;                 // re-seeding rounds for codes far from every centre
constexpr size_t kFarShare = 2000;         // stop re-seeding once under 1/kFarShare of the codes are far
// Leaders cost a sample times the leaders so far: past 2^15 of them the rest are seeded.
constexpr size_t kMaxLeaders = size_t{1} << 15;

uint64_t mix(uint64_t x) {  // splitmix64: a fixed, well-spread offset per stride
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// One code from each of K equal strides of [0, n): deterministic, so a loaded
// file rebuilds the clusters it was saved with.
std::vector<uint8_t> sample_centres(const uint8_t* codes, size_t n, size_t cs, size_t k) {
  std::vector<uint8_t> centres(k * cs);
  for (size_t i = 0; i < k; ++i) {
    const size_t lo = i * n / k, hi = (i + 1) * n / k;
    const size_t pos = lo + mix(i) % std::max<size_t>(hi - lo, 1);
    std::copy_n(codes + pos * cs, cs, centres.data() + i * cs);
  }
  return centres;
}

// Leaders among `sample` codes picked evenly from [0, n), at most `cap`: each picked code farther
// than `radius` from every leader so far becomes one. One per group of codes of that radius,
// where an even sample gives large groups several and small ones none.
std::vector<uint8_t> leader_centres(const uint8_t* codes, size_t n, size_t cs, size_t sample, dist_t radius,
                                    size_t cap, LeaderCount* count_out = nullptr, dist_t close = 0) {
  const size_t s = std::min(n, sample);
  if (s == 0 || cap == 0) return {};
  const std::vector<uint8_t> picked = sample_centres(codes, n, cs, s);
  std::vector<uint8_t> leaders(picked.begin(), picked.begin() + cs);
  std::vector<dist_t> to(std::min(s, cap));
  const KernelTable& kt = kernels();
  size_t count = 1;
  for (size_t i = 1; i < s && count < cap; ++i) {
    const uint8_t* code = picked.data() + i * cs;
    const dist_t nearest = kt.all_distances(code, leaders.data(), count, cs, to.data(), nullptr);
    if (nearest <= radius) {
      if (count_out) {
        ++count_out->joined;
        count_out->close += nearest <= close ? 1 : 0;
      }
      continue;
    }
    leaders.insert(leaders.end(), code, code + cs);
    ++count;
  }
  if (count_out) count_out->leaders = count;
  return leaders;
}

// Candidate centres of a code: those equal to it on one of m disjoint substrings of b bits
// (radius-0 multi-index probes, about kCentresPerBucket centres a bucket). Close codes share a
// substring with their centre (10% of 64 bits flipped: 8-bit substrings, ~80% per centre and
// most of them several), far ones may find none: the assignment is good, not exact, and only
// decides how much a query prunes (the stored distances are exact).
class CentreProbe {
 public:
  CentreProbe(const uint8_t* centres, size_t k, int nbits) : centres_(centres), k_(k), cs_(size_t(nbits) / 8) {
    bits_ = 4;
    while (bits_ < 16 && (k >> bits_) > kCentresPerBucket) ++bits_;
    m_ = std::max(1, nbits / bits_);
    start_.assign(size_t(m_) << bits_ | 1, 0);
    for (size_t c = 0; c < k; ++c)
      for (int j = 0; j < m_; ++j) ++start_[slot(centres + c * cs_, j) + 1];
    std::partial_sum(start_.begin(), start_.end(), start_.begin());
    list_.resize(k * size_t(m_));
    std::vector<uint32_t> fill(start_.begin(), start_.end() - 1);
    for (size_t c = 0; c < k; ++c)
      for (int j = 0; j < m_; ++j) list_[fill[slot(centres + c * cs_, j)]++] = uint32_t(c);
  }
  // Nearest candidate of `code` if closer than `best` and within `limit` (then updates best /
  // which); false otherwise.
  bool improve(const uint8_t* code, dist_t limit, dist_t* best, uint32_t* which, std::vector<dist_t>& scratch) const {
    bool found = false;
    for (int j = 0; j < m_; ++j) {
      const size_t s = slot(code, j), count = start_[s + 1] - start_[s];
      if (count == 0) continue;
      scratch.resize(std::max(scratch.size(), count));
      kernels().gather_distances(GatherBlock{code, centres_, list_.data() + start_[s], count, cs_, scratch.data()});
      for (size_t i = 0; i < count; ++i)
        if (scratch[i] < *best && scratch[i] <= limit) {
          *best = scratch[i];
          *which = list_[start_[s] + i];
          found = true;
        }
    }
    return found;
  }

 private:
  size_t slot(const uint8_t* code, int j) const {
    uint32_t v = 0;  // bits [j * bits_, (j + 1) * bits_) of the code (bit i: byte i / 8, bit i % 8)
    for (int b = 0; b < bits_; ++b) {
      const int bit = j * bits_ + b;
      v |= uint32_t((code[bit >> 3] >> (bit & 7)) & 1u) << b;
    }
    return size_t(j) << bits_ | v;
  }
  const uint8_t* centres_;
  size_t k_, cs_;
  int bits_ = 4, m_ = 1;
  std::vector<uint32_t> start_, list_;
};

// Assigns codes `todo` to the nearest candidate among centres [first, k) when it is nearer than
// their current centre (which / dist) and within `limit`, on up to num_threads threads.
void assign(const uint8_t* codes, size_t cs, const std::vector<uint8_t>& centres, size_t first, size_t k,
            int nbits, dist_t limit, const std::vector<uint32_t>& todo, int num_threads, std::vector<uint32_t>& which,
            std::vector<dist_t>& dist) {
  if (first >= k) return;
  const CentreProbe probe(centres.data() + first * cs, k - first, nbits);
  const size_t chunk = 1 << 14, tasks = (todo.size() + chunk - 1) / chunk;
  ThreadPool::global().parallel_for(tasks, resolve_threads(num_threads), [&](size_t t) {
    std::vector<dist_t> scratch;
    for (size_t i = t * chunk; i < std::min(todo.size(), (t + 1) * chunk); ++i) {
      const uint32_t p = todo[i];
      uint32_t c = 0;
      if (probe.improve(codes + size_t(p) * cs, limit, &dist[p], &c, scratch)) which[p] = uint32_t(first + c);
    }
  });
}

// Positions [0, n) grouped by key (< keys), stable: a counting sort.
std::vector<uint32_t> group_by(const std::vector<uint32_t>& key, size_t keys, const std::vector<uint32_t>& order) {
  std::vector<size_t> start(keys + 1, 0);
  for (const uint32_t p : order) ++start[key[p] + 1];
  std::partial_sum(start.begin(), start.end(), start.begin());
  std::vector<uint32_t> out(order.size());
  for (const uint32_t p : order) out[start[key[p]]++] = p;
  return out;
}

// Each centre becomes the bitwise majority of its members (unchanged when it has none).
void majority_centres(const uint8_t* codes, size_t cs, const std::vector<uint32_t>& which,
                      std::vector<uint8_t>& centres, size_t k) {
  std::vector<uint32_t> placed;
  for (uint32_t p = 0; p < which.size(); ++p)
    if (which[p] != kNone) placed.push_back(p);
  const std::vector<uint32_t> grouped = group_by(which, k, placed);
  std::vector<uint32_t> ones(cs * 8);
  for (size_t at = 0; at < grouped.size();) {
    const uint32_t c = which[grouped[at]];
    size_t end = at;
    std::fill(ones.begin(), ones.end(), 0u);
    for (; end < grouped.size() && which[grouped[end]] == c; ++end) {
      const uint8_t* code = codes + size_t(grouped[end]) * cs;
      for (size_t b = 0; b < cs * 8; ++b) ones[b] += (code[b >> 3] >> (b & 7)) & 1u;
    }
    const size_t members = end - at;
    uint8_t* centre = centres.data() + size_t(c) * cs;
    std::fill_n(centre, cs, uint8_t{0});
    for (size_t b = 0; b < cs * 8; ++b)
      if (2 * size_t(ones[b]) > members) centre[b >> 3] |= uint8_t(1u << (b & 7));
    at = end;
  }
}

// Seeds new centres among the codes beyond `beyond` of their centre (rounds, until few are or the
// budget k_max is spent) and moves those codes to a new centre within `limit`. Returns the new k.
size_t seed_far_codes(const uint8_t* codes, size_t n, int nbits, dist_t beyond, dist_t limit, size_t k, size_t k_max,
                      int num_threads, std::vector<uint8_t>& centres, std::vector<uint32_t>& which,
                      std::vector<dist_t>& dist) {
  const size_t cs = size_t(nbits) / 8;
  for (int round = 0; round < kRounds && k < k_max; ++round) {
    std::vector<uint32_t> far_codes;
    for (uint32_t p = 0; p < n; ++p)
      if (dist[p] > beyond) far_codes.push_back(p);
    if (far_codes.size() * kFarShare < n) break;
    const size_t more = std::min(k_max - k, std::max<size_t>(1, 2 * far_codes.size() * k_max / n));
    std::vector<uint8_t> gathered(far_codes.size() * cs);
    for (size_t i = 0; i < far_codes.size(); ++i)
      std::copy_n(codes + size_t(far_codes[i]) * cs, cs, gathered.data() + i * cs);
    const std::vector<uint8_t> seeds = sample_centres(gathered.data(), far_codes.size(), cs, more);
    centres.insert(centres.end(), seeds.begin(), seeds.end());
    assign(codes, cs, centres, k, k + more, nbits, limit, far_codes, num_threads, which, dist);
    k += more;
  }
  return k;
}

// The codes still farther than `beyond` from their centre move to their nearest centre by a scan
// of every centre. The substring probes miss a code's own centre now and then (10% of 64 bits
// flipped, 15,625 centres: 9-bit substrings, ~3% of the codes), and each such code left at a far
// centre widens that cluster's radius until the bound prunes nothing: at 10^6 codes a query
// visited ~1,900 clusters of 15,625 before this pass.
void place_far_codes(const uint8_t* codes, size_t n, size_t cs, const std::vector<uint8_t>& centres, size_t k,
                     dist_t beyond, int num_threads, std::vector<uint32_t>& which, std::vector<dist_t>& dist) {
  std::vector<uint32_t> far_codes;
  for (uint32_t p = 0; p < n; ++p)
    if (dist[p] > beyond) far_codes.push_back(p);
  const KernelTable& kt = kernels();
  const size_t chunk = 256, tasks = (far_codes.size() + chunk - 1) / chunk;
  ThreadPool::global().parallel_for(tasks, resolve_threads(num_threads), [&](size_t t) {
    std::vector<dist_t> to(k);
    for (size_t i = t * chunk; i < std::min(far_codes.size(), (t + 1) * chunk); ++i) {
      const uint32_t p = far_codes[i];
      size_t nearest = 0;
      const dist_t least = kt.all_distances(codes + size_t(p) * cs, centres.data(), k, cs, to.data(), &nearest);
      if (least < dist[p]) {
        dist[p] = least;
        which[p] = uint32_t(nearest);
      }
    }
  });
}

// Centres to their members' majority (codes not placed, kNone, take no part), then every code to
// its nearest candidate whatever the distance (centre 0 when no probe finds one), and the codes
// still far to their nearest centre of all; distances exact.
void settle(const uint8_t* codes, size_t n, int nbits, size_t k, int num_threads, std::vector<uint8_t>& centres,
            std::vector<uint32_t>& which, std::vector<dist_t>& dist) {
  const size_t cs = size_t(nbits) / 8;
  majority_centres(codes, cs, which, centres, k);
  const KernelTable& kt = kernels();
  for (size_t p = 0; p < n; ++p) {
    if (which[p] == kNone) which[p] = 0;
    dist[p] = kt.distance(codes + p * cs, centres.data() + size_t(which[p]) * cs, cs);
  }
  std::vector<uint32_t> all(n);
  std::iota(all.begin(), all.end(), 0u);
  assign(codes, cs, centres, 0, k, nbits, std::numeric_limits<dist_t>::max(), all, num_threads, which, dist);
  place_far_codes(codes, n, cs, centres, k, dist_t(nbits / 5), num_threads, which, dist);
}

}  // namespace

LeaderCount count_leaders(const uint8_t* codes, size_t n, int nbits, size_t sample, dist_t radius, dist_t close,
                          size_t cap) {
  LeaderCount out;
  leader_centres(codes, n, size_t(nbits) / 8, sample, radius, cap, &out, close);
  return out;
}

std::unique_ptr<ClusterScan::Clusters> build_clusters(const uint8_t* codes, size_t n, int nbits, size_t clusters,
                                                      int num_threads) {
  auto out = std::make_unique<ClusterScan::Clusters>();
  const size_t cs = size_t(nbits) / 8;
  out->code_size = cs;
  out->begin.assign(1, 0);
  if (n == 0) return out;
  const size_t k_max = std::clamp<size_t>(clusters, 1, n);
  // One centre per group of the codes at radius nbits / 4 (leaders), up to 2^15; the rest seeded
  // among the codes still far from every centre (groups the leaders missed), a few rounds; then
  // one majority vote and a reassignment. Leaders, not an even sample, so that no group takes two
  // first centres while another gets none: 10^7 codes around 10^4 centres (10% flips) visited 147
  // clusters a query instead of 184, 5% flips 1.2 instead of 1.7 (1.2-1.3x the q/s).
  const size_t leaders = std::min(k_max, kMaxLeaders);
  std::vector<uint8_t> centres =
      leader_centres(codes, n, cs, std::max<size_t>(2 * leaders, size_t{1} << 16), dist_t(nbits / 4), leaders);
  size_t k = centres.size() / cs;
  std::vector<uint32_t> which(n, kNone);
  std::vector<dist_t> dist(n, std::numeric_limits<dist_t>::max());
  std::vector<uint32_t> todo(n);
  std::iota(todo.begin(), todo.end(), 0u);
  const dist_t far = dist_t(nbits * 3 / 10);
  // Before the vote a code joins only a centre within `far`: far codes would drag the majority.
  assign(codes, cs, centres, 0, k, nbits, far, todo, num_threads, which, dist);
  k = seed_far_codes(codes, n, nbits, far, far, k, k_max, num_threads, centres, which, dist);
  settle(codes, n, nbits, k, num_threads, centres, which, dist);
  // Clusters close to one another (10^4 random centres in 64 bits lie ~17 bits apart) leave codes
  // of clusters the sample missed at a neighbour's centre: seed among codes beyond `near`, again.
  const dist_t near = dist_t(nbits / 5);
  for (int pass = 0; pass < 2 && k < k_max; ++pass) {
    const size_t before = k;
    k = seed_far_codes(codes, n, nbits, near, far, k, k_max, num_threads, centres, which, dist);
    if (k == before) break;
    settle(codes, n, nbits, k, num_threads, centres, which, dist);
  }

  // Members by (cluster, distance to centre): sort by distance, then stably by cluster.
  std::vector<uint32_t> order(n), by_distance(n);
  std::iota(order.begin(), order.end(), 0u);
  for (size_t i = 0; i < n; ++i) by_distance[i] = uint32_t(dist[i]);
  order = group_by(which, k, group_by(by_distance, size_t(nbits) + 1, order));
  out->codes.resize(n * cs);
  out->positions.resize(n);
  out->to_centre.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const uint32_t p = order[i];
    std::copy_n(codes + size_t(p) * cs, cs, out->codes.data() + i * cs);
    out->positions[i] = p;
    out->to_centre[i] = uint16_t(dist[p]);
    const bool last = i + 1 == n || which[order[i + 1]] != which[p];
    if (!last) continue;
    const uint32_t c = which[p];  // a non-empty cluster ends here
    out->centres.insert(out->centres.end(), centres.begin() + c * cs, centres.begin() + (c + 1) * cs);
    out->radius.push_back(dist[p]);
    out->begin.push_back(uint32_t(i + 1));
    out->largest = std::max<size_t>(out->largest, out->begin.back() - out->begin[out->begin.size() - 2]);
  }
  out->count = out->radius.size();
  out->index_centres();
  out->index_shells();
  return out;
}

void ClusterScan::Clusters::index_centres() {
  // Bytes while no code has more than 248 bits (every distance, radius included, < 256).
  const bool small = code_size <= kMaxByteDistanceCodeSize;
  radius_u8.assign(small ? radius.begin() : radius.end(), radius.end());
  centres_sliced.assign(small ? (count + 31) / 32 * 32 * code_size : 0, 0);
  if (small) slice_by_32(centres.data(), count, code_size, centres_sliced.data());
}

void ClusterScan::Clusters::index_shells() {
  shells.clear();
  shell_at.assign(1, 0);
  for (size_t c = 0; c < count; ++c) {
    const size_t first = begin[c], end = begin[c + 1];
    const int64_t lo = first < end ? to_centre[first] : 0, hi = first < end ? to_centre[end - 1] : lo - 1;
    shells.push_back(uint32_t(lo));
    size_t i = first;
    for (int64_t d = lo; d <= hi + 1; ++d) {
      while (i < end && to_centre[i] < d) ++i;
      shells.push_back(uint32_t(i));
    }
    shell_at.push_back(shells.size());
  }
}

void ClusterScan::Clusters::remove_positions(const std::vector<size_t>& doomed) {
  size_t kept = 0;
  std::vector<uint32_t> new_begin{0};
  largest = 0;
  for (size_t c = 0; c < count; ++c) {
    for (size_t i = begin[c]; i < begin[c + 1]; ++i) {
      const size_t p = positions[i];
      const auto at = std::lower_bound(doomed.begin(), doomed.end(), p);
      if (at != doomed.end() && *at == p) continue;
      std::copy_n(codes.data() + i * code_size, code_size, codes.data() + kept * code_size);
      positions[kept] = uint32_t(p - size_t(at - doomed.begin()));
      to_centre[kept] = to_centre[i];
      ++kept;
    }
    new_begin.push_back(uint32_t(kept));
    largest = std::max<size_t>(largest, new_begin[c + 1] - new_begin[c]);
  }
  begin = std::move(new_begin);
  codes.resize(kept * code_size);
  positions.resize(kept);
  to_centre.resize(kept);
  index_shells();
}

}  // namespace nash_index
