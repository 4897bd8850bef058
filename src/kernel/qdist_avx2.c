/* AVX2 quantized kernels (x86_64), built with -mavx2 -mpopcnt and only
 * called when the CPU reports both. int8 dot: 32 bytes per step through
 * the sign/maddubs idiom (|a| as unsigned times b carrying a's sign; with
 * codes in [-127, 127] the 16-bit pair sums cannot saturate), widened to
 * 32 bits by madd with ones. L2: 16 codes per step widened to 16 bits,
 * subtracted, squared and paired by madd. Hamming: hardware POPCNT on four
 * independent chains. Tails run the scalar loop. */
#include "qdist.h"

#if defined(__x86_64__)
#include <immintrin.h>

#include "qdist_int.h"

static inline int32_t hsum_epi32(__m256i v)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(1, 0, 3, 2)));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(s);
}

static inline __m256i dot32(__m256i a, __m256i b, __m256i acc)
{
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i p16 = _mm256_maddubs_epi16(_mm256_sign_epi8(a, a), _mm256_sign_epi8(b, a));
    return _mm256_add_epi32(acc, _mm256_madd_epi16(p16, ones));
}

static int32_t dot_i8_avx2(const int8_t *a, const int8_t *b, size_t dim)
{
    __m256i s0 = _mm256_setzero_si256(), s1 = _mm256_setzero_si256();
    size_t i = 0;
    for (; i + 64 <= dim; i += 64) {
        s0 = dot32(_mm256_loadu_si256((const __m256i *)(a + i)),
                   _mm256_loadu_si256((const __m256i *)(b + i)), s0);
        s1 = dot32(_mm256_loadu_si256((const __m256i *)(a + i + 32)),
                   _mm256_loadu_si256((const __m256i *)(b + i + 32)), s1);
    }
    for (; i + 32 <= dim; i += 32)
        s0 = dot32(_mm256_loadu_si256((const __m256i *)(a + i)),
                   _mm256_loadu_si256((const __m256i *)(b + i)), s0);
    int32_t sum = hsum_epi32(_mm256_add_epi32(s0, s1));
    for (; i < dim; i++)
        sum += (int32_t)a[i] * (int32_t)b[i];
    return sum;
}

static int32_t l2sq_i8_avx2(const int8_t *a, const int8_t *b, size_t dim)
{
    __m256i s0 = _mm256_setzero_si256(), s1 = _mm256_setzero_si256();
    size_t i = 0;
    for (; i + 32 <= dim; i += 32) {
        __m256i d0 = _mm256_sub_epi16(
            _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(a + i))),
            _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(b + i))));
        __m256i d1 = _mm256_sub_epi16(
            _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(a + i + 16))),
            _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(b + i + 16))));
        s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(d0, d0));
        s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(d1, d1));
    }
    for (; i + 16 <= dim; i += 16) {
        __m256i d = _mm256_sub_epi16(
            _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(a + i))),
            _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(b + i))));
        s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(d, d));
    }
    int32_t sum = hsum_epi32(_mm256_add_epi32(s0, s1));
    for (; i < dim; i++) {
        int32_t d = (int32_t)a[i] - (int32_t)b[i];
        sum += d * d;
    }
    return sum;
}

static uint32_t hamming_avx2(const uint64_t *a, const uint64_t *b, size_t words)
{
    uint64_t c0 = 0, c1 = 0, c2 = 0, c3 = 0;
    size_t i = 0;
    for (; i + 4 <= words; i += 4) {
        c0 += (uint64_t)_mm_popcnt_u64(a[i] ^ b[i]);
        c1 += (uint64_t)_mm_popcnt_u64(a[i + 1] ^ b[i + 1]);
        c2 += (uint64_t)_mm_popcnt_u64(a[i + 2] ^ b[i + 2]);
        c3 += (uint64_t)_mm_popcnt_u64(a[i + 3] ^ b[i + 3]);
    }
    for (; i < words; i++)
        c0 += (uint64_t)_mm_popcnt_u64(a[i] ^ b[i]);
    return (uint32_t)(c0 + c1 + c2 + c3);
}

VDB_QDIST_I8_MANY(dot_i8_many_avx2, dot_i8_avx2)
VDB_QDIST_I8_MANY(l2sq_i8_many_avx2, l2sq_i8_avx2)
VDB_QDIST_BITS_MANY(hamming_many_avx2, hamming_avx2)

const vdb_qdist_ops vdb_qdist_ops_avx2 = {
    VDB_QDIST_AVX2,    dot_i8_avx2,  l2sq_i8_avx2,      dot_i8_many_avx2,
    l2sq_i8_many_avx2, hamming_avx2, hamming_many_avx2,
};
#else
typedef int vdb_qdist_avx2_unused;
#endif
