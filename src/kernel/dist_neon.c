/* NEON kernels (AArch64: Apple Silicon, Graviton, ...). Advanced SIMD is
 * mandatory on AArch64, so no runtime check is needed. 16 floats per
 * iteration in four FMA chains; the tail below 4 floats is scalar. */
#include "dist.h"

#if defined(__aarch64__)
#include <arm_neon.h>

#include "dist_int.h"

static float dot_neon(const float *a, const float *b, size_t dim)
{
    float32x4_t s0 = vdupq_n_f32(0), s1 = vdupq_n_f32(0);
    float32x4_t s2 = vdupq_n_f32(0), s3 = vdupq_n_f32(0);
    size_t i = 0;
    for (; i + 16 <= dim; i += 16) {
        s0 = vfmaq_f32(s0, vld1q_f32(a + i), vld1q_f32(b + i));
        s1 = vfmaq_f32(s1, vld1q_f32(a + i + 4), vld1q_f32(b + i + 4));
        s2 = vfmaq_f32(s2, vld1q_f32(a + i + 8), vld1q_f32(b + i + 8));
        s3 = vfmaq_f32(s3, vld1q_f32(a + i + 12), vld1q_f32(b + i + 12));
    }
    for (; i + 4 <= dim; i += 4)
        s0 = vfmaq_f32(s0, vld1q_f32(a + i), vld1q_f32(b + i));
    float sum = vaddvq_f32(vaddq_f32(vaddq_f32(s0, s1), vaddq_f32(s2, s3)));
    for (; i < dim; i++)
        sum += a[i] * b[i];
    return sum;
}

static float l2sq_neon(const float *a, const float *b, size_t dim)
{
    float32x4_t s0 = vdupq_n_f32(0), s1 = vdupq_n_f32(0);
    float32x4_t s2 = vdupq_n_f32(0), s3 = vdupq_n_f32(0);
    size_t i = 0;
    for (; i + 16 <= dim; i += 16) {
        float32x4_t d0 = vsubq_f32(vld1q_f32(a + i), vld1q_f32(b + i));
        float32x4_t d1 = vsubq_f32(vld1q_f32(a + i + 4), vld1q_f32(b + i + 4));
        float32x4_t d2 = vsubq_f32(vld1q_f32(a + i + 8), vld1q_f32(b + i + 8));
        float32x4_t d3 = vsubq_f32(vld1q_f32(a + i + 12), vld1q_f32(b + i + 12));
        s0 = vfmaq_f32(s0, d0, d0);
        s1 = vfmaq_f32(s1, d1, d1);
        s2 = vfmaq_f32(s2, d2, d2);
        s3 = vfmaq_f32(s3, d3, d3);
    }
    for (; i + 4 <= dim; i += 4) {
        float32x4_t d = vsubq_f32(vld1q_f32(a + i), vld1q_f32(b + i));
        s0 = vfmaq_f32(s0, d, d);
    }
    float sum = vaddvq_f32(vaddq_f32(vaddq_f32(s0, s1), vaddq_f32(s2, s3)));
    for (; i < dim; i++) {
        float d = a[i] - b[i];
        sum += d * d;
    }
    return sum;
}

VDB_DIST_MANY(dot_many_neon, dot_neon)
VDB_DIST_MANY(l2sq_many_neon, l2sq_neon)
VDB_DIST_FOUR(dot4_neon, dot_neon)
VDB_DIST_FOUR(l2sq4_neon, l2sq_neon)

const vdb_dist_ops vdb_dist_ops_neon = {
    VDB_ISA_NEON, dot_neon, l2sq_neon, dot_many_neon, l2sq_many_neon,
    dot4_neon, l2sq4_neon,
};
#else
typedef int vdb_dist_neon_unused;
#endif
