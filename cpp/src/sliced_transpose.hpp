// The AVX2 transposition of codes into the bit-sliced layout (KernelTable::slice_group; the
// layout is in sliced_codes.hpp), for groups of 256 or 512 codes.
//
// Include this ONLY inside the anonymous namespace of a kernel object, after sliced_scan.hpp (its
// popcount_code), as that header says.
#pragma once

// Stores bits 7..0 of the 32 bytes of x (bit 7 first) as planes `first_plane` - 0..7's word `word`
// (the 32 codes of sub-block `word`), planes below `limit` only.
inline void store_bit_planes(__m256i x, uint8_t* planes, size_t plane_bytes, int first_plane, int limit, size_t word) {
  for (int bit = 7; bit >= 0; --bit, x = _mm256_slli_epi16(x, 1)) {
    if (first_plane + bit >= limit) continue;
    const uint32_t m = static_cast<uint32_t>(_mm256_movemask_epi8(x));
    std::memcpy(planes + size_t(first_plane + bit) * plane_bytes + 4 * word, &m, 4);
  }
}

// 32 codes at a time: four gathers fetch one 4-byte column of all 32, a byte shuffle and a 4 x 4
// dword transpose leave each byte column in one vector in code order (the gathers' lanes are
// chosen for that), and eight movemasks give its eight planes' words.
bool slice_group(const uint8_t* codes, size_t count, size_t code_size, int nbits, int weight_bits, size_t lanes,
                 uint8_t* planes) {
  if (code_size % 4 != 0 || code_size * 32 > size_t{1} << 30) return false;
  const __m256i by_column = _mm256_setr_epi8(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15,
                                             0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
  const __m256i zero = _mm256_setzero_si256();
  const size_t plane_bytes = lanes / 8;
  uint8_t* weight_planes = planes + (size_t(nbits) + 1) * plane_bytes;
  for (size_t word = 0; word * 32 < count; ++word) {
    const size_t in_block = std::min<size_t>(32, count - word * 32);
    const uint8_t* block = codes + word * 32 * code_size;
    alignas(32) int32_t index[4][8], valid[4][8];
    for (int g = 0; g < 4; ++g)
      for (int i = 0; i < 8; ++i) {  // byte 16 (i / 4) + 4 g + i % 4 of each column: code order
        const size_t code = 16 * size_t(i / 4) + 4 * size_t(g) + size_t(i % 4);
        index[g][i] = int32_t(code * code_size);
        valid[g][i] = code < in_block ? -1 : 0;
      }
    for (size_t col = 0; col < code_size / 4; ++col) {
      __m256i v[4];
      for (int g = 0; g < 4; ++g)
        v[g] = _mm256_shuffle_epi8(
            _mm256_mask_i32gather_epi32(zero, reinterpret_cast<const int*>(block + 4 * col),
                                        _mm256_load_si256(reinterpret_cast<const __m256i*>(index[g])),
                                        _mm256_load_si256(reinterpret_cast<const __m256i*>(valid[g])), 1),
            by_column);
      const __m256i t0 = _mm256_unpacklo_epi32(v[0], v[1]), t1 = _mm256_unpackhi_epi32(v[0], v[1]);
      const __m256i t2 = _mm256_unpacklo_epi32(v[2], v[3]), t3 = _mm256_unpackhi_epi32(v[2], v[3]);
      const __m256i bytes[4] = {_mm256_unpacklo_epi64(t0, t2), _mm256_unpackhi_epi64(t0, t2),
                                _mm256_unpacklo_epi64(t1, t3), _mm256_unpackhi_epi64(t1, t3)};
      for (int c = 0; c < 4; ++c) store_bit_planes(bytes[c], planes, plane_bytes, int(8 * (4 * col + size_t(c))), nbits, word);
    }
    alignas(32) uint8_t low[32] = {}, high[32] = {};
    for (size_t j = 0; j < in_block; ++j) {
      const int w = popcount_code(block + j * code_size, code_size);
      low[j] = uint8_t(w & 0xFF);
      high[j] = uint8_t(w >> 8);
    }
    store_bit_planes(_mm256_load_si256(reinterpret_cast<const __m256i*>(low)), weight_planes, plane_bytes, 0, weight_bits, word);
    store_bit_planes(_mm256_load_si256(reinterpret_cast<const __m256i*>(high)), weight_planes, plane_bytes, 8, weight_bits, word);
  }
  return true;
}

