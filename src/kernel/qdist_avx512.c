/* AVX-512 VNNI quantized kernels (x86_64), built with -mavx512f -mavx512bw
 * -mavx512vl -mavx512vnni -mavx512vpopcntdq and only called when the CPU
 * reports all of them (Ice Lake and later, Zen 4).
 *
 * int8 dot: VPDPBUSD multiplies unsigned by signed bytes, so a is biased to
 * unsigned (a ^ 0x80 = a + 128) and the bias is taken back out as
 * 128 * sum(b), summed by a second VPDPBUSD in the same loop: 64 codes per
 * instruction pair, exact for every int8 value. L2: 32 codes widened to 16
 * bits per step, differences squared and accumulated by VPDPWSSD. Hamming:
 * VPOPCNTQ on eight words per step. Tails are one masked load, so any
 * dimension is handled without reading past the code. */
#include "qdist.h"

#if defined(__x86_64__)
#include <immintrin.h>

#include "qdist_int.h"

static inline __mmask64 byte_mask(size_t rest)
{
    return rest >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << rest) - 1);
}

static int32_t dot_i8_avx512vnni(const int8_t *a, const int8_t *b, size_t dim)
{
    const __m512i bias = _mm512_set1_epi8((char)0x80);
    __m512i s0 = _mm512_setzero_si512(), s1 = _mm512_setzero_si512();
    __m512i c0 = _mm512_setzero_si512(), c1 = _mm512_setzero_si512();
    size_t i = 0;
    for (; i + 128 <= dim; i += 128) {
        __m512i b0 = _mm512_loadu_si512(b + i), b1 = _mm512_loadu_si512(b + i + 64);
        s0 = _mm512_dpbusd_epi32(s0, _mm512_xor_si512(_mm512_loadu_si512(a + i), bias), b0);
        s1 = _mm512_dpbusd_epi32(s1, _mm512_xor_si512(_mm512_loadu_si512(a + i + 64), bias), b1);
        c0 = _mm512_dpbusd_epi32(c0, bias, b0);
        c1 = _mm512_dpbusd_epi32(c1, bias, b1);
    }
    for (; i < dim; i += 64) {
        /* Masked-off bytes load as 0: b = 0 adds nothing to either sum. */
        __mmask64 m = byte_mask(dim - i);
        __m512i bv = _mm512_maskz_loadu_epi8(m, b + i);
        s0 = _mm512_dpbusd_epi32(s0, _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, a + i), bias),
                                 bv);
        c0 = _mm512_dpbusd_epi32(c0, bias, bv);
    }
    return _mm512_reduce_add_epi32(_mm512_sub_epi32(_mm512_add_epi32(s0, s1),
                                                    _mm512_add_epi32(c0, c1)));
}

static int32_t l2sq_i8_avx512vnni(const int8_t *a, const int8_t *b, size_t dim)
{
    __m512i s0 = _mm512_setzero_si512(), s1 = _mm512_setzero_si512();
    size_t i = 0;
    for (; i + 64 <= dim; i += 64) {
        __m512i d0 = _mm512_sub_epi16(
            _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)(a + i))),
            _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)(b + i))));
        __m512i d1 = _mm512_sub_epi16(
            _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)(a + i + 32))),
            _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)(b + i + 32))));
        s0 = _mm512_dpwssd_epi32(s0, d0, d0);
        s1 = _mm512_dpwssd_epi32(s1, d1, d1);
    }
    for (; i < dim; i += 32) {
        size_t rest = dim - i;
        __mmask32 m = rest >= 32 ? ~(__mmask32)0 : (((__mmask32)1 << rest) - 1);
        __m512i d = _mm512_sub_epi16(_mm512_cvtepi8_epi16(_mm256_maskz_loadu_epi8(m, a + i)),
                                     _mm512_cvtepi8_epi16(_mm256_maskz_loadu_epi8(m, b + i)));
        s0 = _mm512_dpwssd_epi32(s0, d, d);
    }
    return _mm512_reduce_add_epi32(_mm512_add_epi32(s0, s1));
}

static uint32_t hamming_avx512vnni(const uint64_t *a, const uint64_t *b, size_t words)
{
    __m512i s0 = _mm512_setzero_si512();
    size_t i = 0;
    for (; i + 8 <= words; i += 8)
        s0 = _mm512_add_epi64(s0, _mm512_popcnt_epi64(_mm512_xor_si512(
                                      _mm512_loadu_si512(a + i), _mm512_loadu_si512(b + i))));
    if (i < words) {
        __mmask8 m = (__mmask8)((1u << (words - i)) - 1u);
        s0 = _mm512_add_epi64(s0, _mm512_popcnt_epi64(_mm512_xor_si512(
                                      _mm512_maskz_loadu_epi64(m, a + i),
                                      _mm512_maskz_loadu_epi64(m, b + i))));
    }
    return (uint32_t)_mm512_reduce_add_epi64(s0);
}

/* One query against many rows: here the query is the signed operand and
 * each row is biased to unsigned, so the bias term 128 * sum(query) is one
 * constant per call and each 64 codes cost one XOR and one VPDPBUSD (half
 * the pair kernel's multiply work). */
static void dot_i8_many_avx512vnni(const int8_t *q, const int8_t *codes, size_t n, size_t dim,
                                   int32_t *out)
{
    const __m512i bias = _mm512_set1_epi8((char)0x80);
    int32_t qsum = 0;
    for (size_t i = 0; i < dim; i++)
        qsum += q[i];
    for (size_t r = 0; r < n; r++) {
        const int8_t *row = codes + r * dim;
        if (r + VDB_QDIST_PREFETCH_ROWS < n)
            vdb_qdist__prefetch(row + VDB_QDIST_PREFETCH_ROWS * dim, dim);
        __m512i s0 = _mm512_setzero_si512(), s1 = _mm512_setzero_si512();
        size_t i = 0;
        for (; i + 128 <= dim; i += 128) {
            s0 = _mm512_dpbusd_epi32(s0, _mm512_xor_si512(_mm512_loadu_si512(row + i), bias),
                                     _mm512_loadu_si512(q + i));
            s1 = _mm512_dpbusd_epi32(s1, _mm512_xor_si512(_mm512_loadu_si512(row + i + 64), bias),
                                     _mm512_loadu_si512(q + i + 64));
        }
        for (; i < dim; i += 64) {
            /* Masked-off query bytes load as 0, so the biased row bytes
             * there add nothing. */
            __mmask64 m = byte_mask(dim - i);
            s0 = _mm512_dpbusd_epi32(
                s0, _mm512_xor_si512(_mm512_maskz_loadu_epi8(m, row + i), bias),
                _mm512_maskz_loadu_epi8(m, q + i));
        }
        out[r] = _mm512_reduce_add_epi32(_mm512_add_epi32(s0, s1)) - 128 * qsum;
    }
}
VDB_QDIST_I8_MANY(l2sq_i8_many_avx512vnni, l2sq_i8_avx512vnni)
VDB_QDIST_BITS_MANY(hamming_many_avx512vnni, hamming_avx512vnni)

const vdb_qdist_ops vdb_qdist_ops_avx512vnni = {
    VDB_QDIST_AVX512VNNI,    dot_i8_avx512vnni,  l2sq_i8_avx512vnni,      dot_i8_many_avx512vnni,
    l2sq_i8_many_avx512vnni, hamming_avx512vnni, hamming_many_avx512vnni,
};
#else
typedef int vdb_qdist_avx512_unused;
#endif
