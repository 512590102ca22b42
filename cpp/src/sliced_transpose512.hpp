// The AVX-512 transposition of codes into the bit-sliced layout (KernelTable::slice_group at
// AVX-512; the layout is in sliced_codes.hpp), for groups of 512 codes of whole 8-byte words.
//
// Include this ONLY inside the anonymous namespace of the AVX-512 kernel object, after
// sliced_transpose.hpp (its AVX2 transposition takes the other code sizes).
#pragma once

// Stores bits 7..0 of the 64 bytes of x (bit 7 first) as planes `first_plane` + 7..0's word
// `block` (the 64 codes of that block), planes below `limit` only.
inline void store_bit_planes_512(__m512i x, uint8_t* planes, size_t plane_bytes, int first_plane, int limit,
                                 size_t block) {
  for (int bit = 7; bit >= 0; --bit, x = _mm512_add_epi8(x, x)) {
    if (first_plane + bit >= limit) continue;
    const uint64_t m = _cvtmask64_u64(_mm512_movepi8_mask(x));
    std::memcpy(planes + size_t(first_plane + bit) * plane_bytes + 8 * block, &m, 8);
  }
}

// y[r] holds 8 qwords; afterwards y[j] holds qword j of the old y[0..7], in that order.
inline void transpose_qwords_8x8(__m512i y[8]) {
  __m512i t[8], u[8];
  for (int p = 0; p < 4; ++p) {
    t[2 * p] = _mm512_unpacklo_epi64(y[2 * p], y[2 * p + 1]);
    t[2 * p + 1] = _mm512_unpackhi_epi64(y[2 * p], y[2 * p + 1]);
  }
  for (int h = 0; h < 2; ++h)  // h: y[0..3] or y[4..7]
    for (int odd = 0; odd < 2; ++odd) {
      u[4 * h + 2 * odd] = _mm512_shuffle_i64x2(t[4 * h + odd], t[4 * h + 2 + odd], 0x88);
      u[4 * h + 2 * odd + 1] = _mm512_shuffle_i64x2(t[4 * h + odd], t[4 * h + 2 + odd], 0xDD);
    }
  // u[0]: qwords 0 and 4 of y[0..3]; u[1]: 2 and 6; u[2]: 1 and 5; u[3]: 3 and 7 (u[4..7]: y[4..7])
  constexpr int kFirst[4] = {0, 2, 1, 3};
  for (int i = 0; i < 4; ++i) {
    y[kFirst[i]] = _mm512_shuffle_i64x2(u[i], u[4 + i], 0x88);
    y[kFirst[i] + 4] = _mm512_shuffle_i64x2(u[i], u[4 + i], 0xDD);
  }
}

// 64 codes at a time, one 8-byte column at a time: eight gathers fetch the column of the 64 codes
// (8 to a register, in code order), a byte permutation groups each register's bytes by position,
// an 8 x 8 qword transpose leaves each byte position of the 64 codes in one register in code order,
// and vpmovb2m takes its eight planes' words (~4x faster than the AVX2 gathers of 4-byte columns).
bool slice_group_512(const uint8_t* codes, size_t count, size_t code_size, int nbits, int weight_bits, size_t lanes,
                     uint8_t* planes) {
  if (code_size % 8 != 0 || lanes != 512 || code_size * 64 > size_t{1} << 30)
    return slice_group(codes, count, code_size, nbits, weight_bits, lanes, planes);
  alignas(64) static constexpr uint8_t kByPosition[64] = {  // out byte 8 j + t = code t's byte j
      0, 8, 16, 24, 32, 40, 48, 56, 1, 9, 17, 25, 33, 41, 49, 57, 2, 10, 18, 26, 34, 42, 50, 58,
      3, 11, 19, 27, 35, 43, 51, 59, 4, 12, 20, 28, 36, 44, 52, 60, 5, 13, 21, 29, 37, 45, 53, 61,
      6, 14, 22, 30, 38, 46, 54, 62, 7, 15, 23, 31, 39, 47, 55, 63};
  const __m512i by_position = _mm512_load_si512(kByPosition);
  const __m512i zero = _mm512_setzero_si512();
  const size_t plane_bytes = lanes / 8;
  uint8_t* weight_planes = planes + (size_t(nbits) + 1) * plane_bytes;
  const __m512i step = _mm512_set1_epi64(static_cast<long long>(8 * code_size));
  const long long cs = static_cast<long long>(code_size);
  const __m512i first_eight = _mm512_setr_epi64(0, cs, 2 * cs, 3 * cs, 4 * cs, 5 * cs, 6 * cs, 7 * cs);
  for (size_t block = 0; block * 64 < count; ++block) {
    const size_t in_block = std::min<size_t>(64, count - block * 64);
    const uint8_t* base = codes + block * 64 * code_size;
    __mmask8 valid[8];
    __m512i weight[8];
    for (size_t r = 0; r < 8; ++r) {
      const size_t live = in_block > 8 * r ? std::min<size_t>(8, in_block - 8 * r) : 0;
      valid[r] = static_cast<__mmask8>((1u << live) - 1);
      weight[r] = zero;
    }
    for (size_t col = 0; col < code_size / 8; ++col) {
      __m512i y[8];
      __m512i index = first_eight;
      for (int r = 0; r < 8; ++r, index = _mm512_add_epi64(index, step)) {
        const __m512i words = _mm512_mask_i64gather_epi64(zero, valid[r], index, base + 8 * col, 1);
        weight[r] = _mm512_add_epi64(weight[r], _mm512_popcnt_epi64(words));
        y[r] = _mm512_permutexvar_epi8(by_position, words);
      }
      transpose_qwords_8x8(y);
      for (int j = 0; j < 8; ++j) store_bit_planes_512(y[j], planes, plane_bytes, int(8 * (8 * col + size_t(j))), nbits, block);
    }
    alignas(64) uint8_t low[64], high[64];
    for (int r = 0; r < 8; ++r) {
      _mm_storel_epi64(reinterpret_cast<__m128i*>(low + 8 * r), _mm512_cvtepi64_epi8(weight[r]));
      _mm_storel_epi64(reinterpret_cast<__m128i*>(high + 8 * r), _mm512_cvtepi64_epi8(_mm512_srli_epi64(weight[r], 8)));
    }
    store_bit_planes_512(_mm512_load_si512(low), weight_planes, plane_bytes, 0, weight_bits, block);
    store_bit_planes_512(_mm512_load_si512(high), weight_planes, plane_bytes, 8, weight_bits, block);
  }
  return true;
}
