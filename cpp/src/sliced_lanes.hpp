// The vectors of the bit-sliced scan (sliced_scan.hpp): one lane a code, a plane in one register.
// Lanes256 is AVX2 (with AVX-512VL's vpternlog, a full adder is two instructions instead of five);
// Lanes512 is AVX-512, twice the codes an instruction.
//
// Include this ONLY inside the anonymous namespace of a kernel object, as sliced_scan.hpp says.
#pragma once

struct Lanes256 {
  using V = __m256i;
  static constexpr size_t kLanes = 256;
  static constexpr size_t kWords = kLanes / 64;
  static V load(const uint8_t* p) { return _mm256_loadu_si256(reinterpret_cast<const V*>(p)); }
  static V zero() { return _mm256_setzero_si256(); }
  static V all() { return _mm256_set1_epi32(-1); }
  static V and_(V a, V b) { return _mm256_and_si256(a, b); }
  static V or_(V a, V b) { return _mm256_or_si256(a, b); }
  static V xor_(V a, V b) { return _mm256_xor_si256(a, b); }
  static V andnot(V a, V b) { return _mm256_andnot_si256(a, b); }  // ~a & b
  static bool none(V a) { return _mm256_testz_si256(a, a); }
  static void store(uint64_t* words, V a) { _mm256_storeu_si256(reinterpret_cast<V*>(words), a); }
  static V from(const uint64_t* words) { return _mm256_loadu_si256(reinterpret_cast<const V*>(words)); }

  // Full adder over every lane: a + b + c = 2 * carry + sum.
  static void csa(V& carry, V& sum, V a, V b, V c) {
#ifdef __AVX512VL__
    carry = _mm256_ternarylogic_epi64(a, b, c, 0xE8);  // majority
    sum = _mm256_ternarylogic_epi64(a, b, c, 0x96);    // a ^ b ^ c
#else
    const V u = _mm256_xor_si256(a, b);
    carry = _mm256_or_si256(_mm256_and_si256(a, b), _mm256_and_si256(u, c));
    sum = _mm256_xor_si256(u, c);
#endif
  }

  // One step of y + ~x + carry: returns y ^ ~x ^ carry; carry becomes majority(y, ~x, carry).
  static V add_not(V y, V x, V& carry) {
#ifdef __AVX512VL__
    const V z = _mm256_ternarylogic_epi64(y, x, carry, 0x69);
    carry = _mm256_ternarylogic_epi64(y, x, carry, 0xB2);
    return z;
#else
    const V nx = _mm256_xor_si256(x, all());
    const V u = _mm256_xor_si256(y, nx);
    const V z = _mm256_xor_si256(u, carry);
    carry = _mm256_or_si256(_mm256_and_si256(y, nx), _mm256_and_si256(u, carry));
    return z;
#endif
  }
};

#ifdef __AVX512F__
struct Lanes512 {
  using V = __m512i;
  static constexpr size_t kLanes = 512;
  static constexpr size_t kWords = kLanes / 64;
  static V load(const uint8_t* p) { return _mm512_loadu_si512(p); }
  static V zero() { return _mm512_setzero_si512(); }
  static V all() { return _mm512_set1_epi32(-1); }
  static V and_(V a, V b) { return _mm512_and_si512(a, b); }
  static V or_(V a, V b) { return _mm512_or_si512(a, b); }
  static V xor_(V a, V b) { return _mm512_xor_si512(a, b); }
  static V andnot(V a, V b) { return _mm512_andnot_si512(a, b); }
  static bool none(V a) { return _mm512_test_epi64_mask(a, a) == 0; }
  static void store(uint64_t* words, V a) { _mm512_storeu_si512(words, a); }
  static V from(const uint64_t* words) { return _mm512_loadu_si512(words); }
  static void csa(V& carry, V& sum, V a, V b, V c) {
    carry = _mm512_ternarylogic_epi64(a, b, c, 0xE8);
    sum = _mm512_ternarylogic_epi64(a, b, c, 0x96);
  }
  static V add_not(V y, V x, V& carry) {
    const V z = _mm512_ternarylogic_epi64(y, x, carry, 0x69);
    carry = _mm512_ternarylogic_epi64(y, x, carry, 0xB2);
    return z;
  }
};
#endif
