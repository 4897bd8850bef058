/* AArch64 quantized kernels: SDOT/UDOT (the Armv8.2 dot-product extension,
 * enabled for this file alone by the target pragma below and only called
 * when the kernel reports HWCAP_ASIMDDP) and CNT for Hamming.
 *
 * int8 dot: SDOT on 16 codes per step, two chains. L2: |a - b| from SABD
 * fits an unsigned byte (at most 254), and UDOT squares and sums it, so no
 * widening is needed. Hamming: CNT per byte, summed across the vector. */
#include "qdist.h"

#if defined(__aarch64__)
#pragma GCC target("arch=armv8.2-a+dotprod")
#include <arm_neon.h>

#include "qdist_int.h"

static int32_t dot_i8_neon(const int8_t *a, const int8_t *b, size_t dim)
{
    int32x4_t s0 = vdupq_n_s32(0), s1 = vdupq_n_s32(0);
    size_t i = 0;
    for (; i + 32 <= dim; i += 32) {
        s0 = vdotq_s32(s0, vld1q_s8(a + i), vld1q_s8(b + i));
        s1 = vdotq_s32(s1, vld1q_s8(a + i + 16), vld1q_s8(b + i + 16));
    }
    for (; i + 16 <= dim; i += 16)
        s0 = vdotq_s32(s0, vld1q_s8(a + i), vld1q_s8(b + i));
    int32_t sum = vaddvq_s32(vaddq_s32(s0, s1));
    for (; i < dim; i++)
        sum += (int32_t)a[i] * (int32_t)b[i];
    return sum;
}

static int32_t l2sq_i8_neon(const int8_t *a, const int8_t *b, size_t dim)
{
    uint32x4_t s0 = vdupq_n_u32(0), s1 = vdupq_n_u32(0);
    size_t i = 0;
    for (; i + 32 <= dim; i += 32) {
        uint8x16_t d0 = vreinterpretq_u8_s8(vabdq_s8(vld1q_s8(a + i), vld1q_s8(b + i)));
        uint8x16_t d1 = vreinterpretq_u8_s8(vabdq_s8(vld1q_s8(a + i + 16), vld1q_s8(b + i + 16)));
        s0 = vdotq_u32(s0, d0, d0);
        s1 = vdotq_u32(s1, d1, d1);
    }
    for (; i + 16 <= dim; i += 16) {
        uint8x16_t d = vreinterpretq_u8_s8(vabdq_s8(vld1q_s8(a + i), vld1q_s8(b + i)));
        s0 = vdotq_u32(s0, d, d);
    }
    int32_t sum = (int32_t)vaddvq_u32(vaddq_u32(s0, s1));
    for (; i < dim; i++) {
        int32_t d = (int32_t)a[i] - (int32_t)b[i];
        sum += d * d;
    }
    return sum;
}

static uint32_t hamming_neon(const uint64_t *a, const uint64_t *b, size_t words)
{
    uint32_t sum = 0;
    size_t i = 0;
    for (; i + 2 <= words; i += 2) {
        uint8x16_t x = vreinterpretq_u8_u64(veorq_u64(vld1q_u64(a + i), vld1q_u64(b + i)));
        sum += vaddlvq_u8(vcntq_u8(x));
    }
    for (; i < words; i++)
        sum += (uint32_t)__builtin_popcountll(a[i] ^ b[i]);
    return sum;
}

VDB_QDIST_I8_MANY(dot_i8_many_neon, dot_i8_neon)
VDB_QDIST_I8_MANY(l2sq_i8_many_neon, l2sq_i8_neon)
VDB_QDIST_BITS_MANY(hamming_many_neon, hamming_neon)

const vdb_qdist_ops vdb_qdist_ops_neon_dot = {
    VDB_QDIST_NEON_DOT, dot_i8_neon,  l2sq_i8_neon,      dot_i8_many_neon,
    l2sq_i8_many_neon,  hamming_neon, hamming_many_neon,
};
#else
typedef int vdb_qdist_neon_unused;
#endif
