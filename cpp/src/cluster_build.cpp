// Building a ClusterScan's clusters: K codes sampled evenly as centres, every
// code assigned to its nearest centre (exactly, by a multi-index hashing
// search over the centres), centres moved to their members' bitwise majority,
// codes assigned again, then members laid out cluster by cluster, sorted by
// distance to the centre. Clusters left empty are dropped.
#include <algorithm>
#include <numeric>

#include "cluster_tables.hpp"
#include "kernels.hpp"
#include "nash_index/mih.hpp"

namespace nash_index {
namespace {

// Below this many centres (or code-centre pairs) a brute-force assignment is cheaper than MIH's tables.
constexpr size_t kBruteCentres = 256;
constexpr size_t kBrutePairs = size_t{1} << 24;
constexpr size_t kAssignChunk = size_t{1} << 20;  // codes per MIH batch: bounds the result buffers

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

void assign_brute(const uint8_t* codes, size_t n, size_t cs, const std::vector<uint8_t>& centres, size_t k,
                  std::vector<uint32_t>& which, std::vector<dist_t>& dist) {
  std::vector<uint32_t> iota(k);
  std::iota(iota.begin(), iota.end(), 0u);
  std::vector<dist_t> d(k);
  for (size_t i = 0; i < n; ++i) {
    kernels().gather_distances(GatherBlock{codes + i * cs, centres.data(), iota.data(), k, cs, d.data()});
    const size_t best = size_t(std::min_element(d.begin(), d.end()) - d.begin());
    which[i] = uint32_t(best);
    dist[i] = d[best];
  }
}

// which[i] = a nearest centre of code i, dist[i] its distance.
void assign(const uint8_t* codes, size_t n, int nbits, const std::vector<uint8_t>& centres, size_t k,
            int num_threads, std::vector<uint32_t>& which, std::vector<dist_t>& dist) {
  const size_t cs = size_t(nbits) / 8;
  which.assign(n, 0);
  dist.assign(n, 0);
  if (k <= kBruteCentres || k * n <= kBrutePairs) return assign_brute(codes, n, cs, centres, k, which, dist);
  MultiIndexHashing mih(nbits);
  mih.add(centres.data(), k, nullptr);
  mih.optimize();
  std::vector<idx_t> ids;
  for (size_t from = 0; from < n; from += kAssignChunk) {
    const size_t count = std::min(kAssignChunk, n - from);
    ids.resize(count);
    mih.search(codes + from * cs, count, 1, dist.data() + from, ids.data(), num_threads);
    for (size_t i = 0; i < count; ++i) which[from + i] = uint32_t(ids[i]);
  }
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
  std::vector<uint32_t> all(which.size());
  std::iota(all.begin(), all.end(), 0u);
  const std::vector<uint32_t> grouped = group_by(which, k, all);
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

}  // namespace

std::unique_ptr<ClusterScan::Clusters> build_clusters(const uint8_t* codes, size_t n, int nbits, size_t clusters,
                                                      int num_threads) {
  auto out = std::make_unique<ClusterScan::Clusters>();
  const size_t cs = size_t(nbits) / 8;
  out->code_size = cs;
  out->begin.assign(1, 0);
  if (n == 0) return out;
  const size_t k = std::clamp<size_t>(clusters, 1, n);
  std::vector<uint8_t> centres = sample_centres(codes, n, cs, k);
  std::vector<uint32_t> which;
  std::vector<dist_t> dist;
  assign(codes, n, nbits, centres, k, num_threads, which, dist);
  majority_centres(codes, cs, which, centres, k);
  assign(codes, n, nbits, centres, k, num_threads, which, dist);

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
  return out;
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
}

}  // namespace nash_index
