// Included inside an AVX-512 kernel TU's anonymous namespace (kernels_avx512.cpp, the scan;
// kernels_avx512_centres.cpp, the centre pass): codes of W 64-bit words as word planes.
// Codes of W words (W in {1, 2, 4}) are handled 8 at a time as W "word planes":
// plane j holds word j of each of the 8 codes, so lane i is code i. The
// transposition costs a few shuffles per 8 codes and is shared by a tile of T
// queries; per query a group then costs W xor + W popcnt + (W-1) add + 1 compare,
// with the query words and thresholds held in registers across the block.
template <int W>
inline void load_planes(const uint8_t* p, __m512i* planes) {
  if (W == 1) {
    planes[0] = _mm512_loadu_si512(p);
  } else if (W == 2) {
    const __m512i a = _mm512_loadu_si512(p), b = _mm512_loadu_si512(p + 64);
    planes[0] = _mm512_permutex2var_epi64(a, _mm512_setr_epi64(0, 2, 4, 6, 8, 10, 12, 14), b);
    planes[1] = _mm512_permutex2var_epi64(a, _mm512_setr_epi64(1, 3, 5, 7, 9, 11, 13, 15), b);
  } else {
    const __m512i v0 = _mm512_loadu_si512(p), v1 = _mm512_loadu_si512(p + 64);
    const __m512i v2 = _mm512_loadu_si512(p + 128), v3 = _mm512_loadu_si512(p + 192);
    const __m512i i01 = _mm512_setr_epi64(0, 4, 8, 12, 1, 5, 9, 13), i23 = _mm512_setr_epi64(2, 6, 10, 14, 3, 7, 11, 15);
    // a01: words 0 and 1 of codes 0..3, a23: words 2 and 3; b*: codes 4..7.
    const __m512i a01 = _mm512_permutex2var_epi64(v0, i01, v1), a23 = _mm512_permutex2var_epi64(v0, i23, v1);
    const __m512i b01 = _mm512_permutex2var_epi64(v2, i01, v3), b23 = _mm512_permutex2var_epi64(v2, i23, v3);
    planes[0] = _mm512_shuffle_i64x2(a01, b01, _MM_SHUFFLE(1, 0, 1, 0));
    planes[1] = _mm512_shuffle_i64x2(a01, b01, _MM_SHUFFLE(3, 2, 3, 2));
    planes[2] = _mm512_shuffle_i64x2(a23, b23, _MM_SHUFFLE(1, 0, 1, 0));
    planes[3] = _mm512_shuffle_i64x2(a23, b23, _MM_SHUFFLE(3, 2, 3, 2));
  }
}

template <int W>
inline __m512i group_distances(const __m512i* planes, const __m512i* q) {
  __m512i s = _mm512_popcnt_epi64(_mm512_xor_si512(planes[0], q[0]));
  for (int w = 1; w < W; ++w) s = _mm512_add_epi64(s, _mm512_popcnt_epi64(_mm512_xor_si512(planes[w], q[w])));
  return s;
}
