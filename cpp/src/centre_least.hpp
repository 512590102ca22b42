// Included inside a kernel TU's anonymous namespace (AVX2 or AVX-512): the ends of
// KernelTable::all_distances and all_distances_u8, shared by both levels.

// KernelTable::all_distances over 8 codes a step: each lane keeps its least int32 distance and the
// first code that had it; the first code at the overall least wins, the codes after the last whole
// step coming from the word loop.
class LeastLanes {
 public:
  // The distances of codes [i, i + 8), i the number taken so far.
  void take(__m256i d) {
    const __m256i closer = _mm256_cmpgt_epi32(least_, d);
    least_ = _mm256_min_epi32(least_, d);
    at_ = _mm256_blendv_epi8(at_, index_, closer);
    index_ = _mm256_add_epi32(index_, _mm256_set1_epi32(8));
  }
  // The least over the `done` codes taken and codes [done, count) of `codes`, and its first code.
  nash_index::dist_t finish(const uint8_t* query, const uint8_t* codes, size_t done, size_t count, size_t code_size,
                            nash_index::dist_t* out, size_t* nearest) const {
    alignas(32) nash_index::dist_t lanes[8];
    alignas(32) uint32_t where[8];
    _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), least_);
    _mm256_store_si256(reinterpret_cast<__m256i*>(where), at_);
    nash_index::dist_t result = lanes[0];
    size_t first = where[0];
    for (int l = 1; l < 8; ++l) {
      if (lanes[l] < result || (lanes[l] == result && where[l] < first)) {
        result = lanes[l];
        first = where[l];
      }
    }
    if (done < count) {
      size_t rest_at = 0;
      const nash_index::dist_t rest =
          all_distances<PopHw>(query, codes + done * code_size, count - done, code_size, out + done, &rest_at);
      if (rest < result) {
        result = rest;
        first = done + rest_at;
      }
    }
    if (nearest) *nearest = first;
    return result;
  }

 private:
  __m256i least_ = _mm256_set1_epi32(std::numeric_limits<nash_index::dist_t>::max());
  __m256i at_ = _mm256_setzero_si256();
  __m256i index_ = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
};

// From the lane-wise least of the first `whole` groups of 32 byte distances, the least over the
// `count` real codes and, with `nearest`, its first code.
inline uint8_t least_and_first_u8(__m256i least, size_t count, const uint8_t* out, size_t* nearest) {
  const size_t groups = (count + 31) / 32, whole = count / 32;
  alignas(32) uint8_t lanes[32];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), least);
  uint8_t result = 255;
  for (uint8_t l : lanes) result = std::min(result, l);
  for (size_t i = whole * 32; i < count; ++i) result = std::min(result, out[i]);
  if (!nearest) return result;
  const __m256i target = _mm256_set1_epi8(static_cast<char>(result));
  for (size_t g = 0; g < groups; ++g) {  // padding lies after every real code: the first match is real
    const __m256i d = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(out + 32 * g));
    const unsigned mask = static_cast<unsigned>(_mm256_movemask_epi8(_mm256_cmpeq_epi8(d, target)));
    if (mask) {
      *nearest = 32 * g + static_cast<size_t>(__builtin_ctz(mask));
      return result;
    }
  }
  *nearest = 0;  // not reached: the least is some real code's
  return result;
}

// KernelTable::all_distances_u8 around a level's loop over groups of 32 codes: `groups(cs)` runs it
// with the code size as a compile-time constant where it is a common one (a
// std::integral_constant; 0: read at run time) and returns its lane-wise least.
template <class Groups>
uint8_t sliced_distances(size_t count, size_t code_size, const uint8_t* out, size_t* nearest, Groups groups) {
  __m256i least;
  switch (code_size) {
    case 8: least = groups(std::integral_constant<size_t, 8>{}); break;
    case 16: least = groups(std::integral_constant<size_t, 16>{}); break;
    default: least = groups(std::integral_constant<size_t, 0>{});
  }
  return least_and_first_u8(least, count, out, nearest);
}
