/* AVX-512F kernels (x86_64), built with -mavx512f -mavx2 -mfma and only
 * called when the CPU reports AVX-512F. 64 floats per iteration in four FMA
 * chains; the tail is one masked load, so any dimension is handled without a
 * scalar loop and without reading past the vector. */
#include "dist.h"

#if defined(__x86_64__)
#include <immintrin.h>

#include "dist_int.h"

static inline __mmask16 tail_mask(size_t rest)
{
    return (__mmask16)((1u << rest) - 1u);
}

static float dot_avx512(const float *a, const float *b, size_t dim)
{
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    __m512 s2 = _mm512_setzero_ps(), s3 = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 64 <= dim; i += 64) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
        s2 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(b + i + 32), s2);
        s3 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(b + i + 48), s3);
    }
    for (; i + 16 <= dim; i += 16)
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
    if (i < dim) {
        __mmask16 m = tail_mask(dim - i);
        s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), s1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

static float l2sq_avx512(const float *a, const float *b, size_t dim)
{
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    __m512 s2 = _mm512_setzero_ps(), s3 = _mm512_setzero_ps();
    size_t i = 0;
    for (; i + 64 <= dim; i += 64) {
        __m512 d0 = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
        __m512 d1 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16));
        __m512 d2 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(b + i + 32));
        __m512 d3 = _mm512_sub_ps(_mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(b + i + 48));
        s0 = _mm512_fmadd_ps(d0, d0, s0);
        s1 = _mm512_fmadd_ps(d1, d1, s1);
        s2 = _mm512_fmadd_ps(d2, d2, s2);
        s3 = _mm512_fmadd_ps(d3, d3, s3);
    }
    for (; i + 16 <= dim; i += 16) {
        __m512 d = _mm512_sub_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i));
        s0 = _mm512_fmadd_ps(d, d, s0);
    }
    if (i < dim) {
        __mmask16 m = tail_mask(dim - i);
        __m512 d = _mm512_sub_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i));
        s1 = _mm512_fmadd_ps(d, d, s1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

/* The four kernels run the pair kernels' exact operation order per row
 * (4 chains per row over 64 floats, the 16-float steps into chain 0, the
 * masked tail into chain 1), so each result is bit-identical to theirs.
 * The 16 chains are named variables, not an array: GCC at -O2 keeps an
 * array of vectors in memory (a store-forward on every FMA), which made
 * the kernel slower than 4 pair calls. */
#define FOUR_ROWS(OP, q, off, c)                                                           \
    do {                                                                                   \
        r0##c = OP(q, b0 + (off), r0##c);                                                  \
        r1##c = OP(q, b1 + (off), r1##c);                                                  \
        r2##c = OP(q, b2 + (off), r2##c);                                                  \
        r3##c = OP(q, b3 + (off), r3##c);                                                  \
    } while (0)

#define FOUR_KERNEL(name, OP, OP_MASKED)                                                   \
    static void name(const float *a, const float *const rows[4], size_t dim, float out[4]) \
    {                                                                                      \
        const float *b0 = rows[0], *b1 = rows[1], *b2 = rows[2], *b3 = rows[3];            \
        __m512 r00, r01, r02, r03, r10, r11, r12, r13, r20, r21, r22, r23, r30, r31, r32,  \
            r33;                                                                           \
        r00 = r01 = r02 = r03 = r10 = r11 = r12 = r13 = _mm512_setzero_ps();               \
        r20 = r21 = r22 = r23 = r30 = r31 = r32 = r33 = _mm512_setzero_ps();               \
        size_t i = 0;                                                                      \
        for (; i + 64 <= dim; i += 64) {                                                   \
            __m512 q0 = _mm512_loadu_ps(a + i), q1 = _mm512_loadu_ps(a + i + 16);          \
            __m512 q2 = _mm512_loadu_ps(a + i + 32), q3 = _mm512_loadu_ps(a + i + 48);     \
            FOUR_ROWS(OP, q0, i, 0);                                                       \
            FOUR_ROWS(OP, q1, i + 16, 1);                                                  \
            FOUR_ROWS(OP, q2, i + 32, 2);                                                  \
            FOUR_ROWS(OP, q3, i + 48, 3);                                                  \
        }                                                                                  \
        for (; i + 16 <= dim; i += 16) {                                                   \
            __m512 q = _mm512_loadu_ps(a + i);                                             \
            FOUR_ROWS(OP, q, i, 0);                                                        \
        }                                                                                  \
        if (i < dim) {                                                                     \
            __mmask16 m = tail_mask(dim - i);                                              \
            __m512 q = _mm512_maskz_loadu_ps(m, a + i);                                    \
            r01 = OP_MASKED(m, q, b0 + i, r01);                                            \
            r11 = OP_MASKED(m, q, b1 + i, r11);                                            \
            r21 = OP_MASKED(m, q, b2 + i, r21);                                            \
            r31 = OP_MASKED(m, q, b3 + i, r31);                                            \
        }                                                                                  \
        out[0] = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(r00, r01),              \
                                                    _mm512_add_ps(r02, r03)));             \
        out[1] = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(r10, r11),              \
                                                    _mm512_add_ps(r12, r13)));             \
        out[2] = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(r20, r21),              \
                                                    _mm512_add_ps(r22, r23)));             \
        out[3] = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(r30, r31),              \
                                                    _mm512_add_ps(r32, r33)));             \
    }

/* One chain step of each pair kernel: acc + q*b, acc + (q-b)^2. */
static inline __m512 dot_step(__m512 q, const float *b, __m512 acc)
{
    return _mm512_fmadd_ps(q, _mm512_loadu_ps(b), acc);
}

static inline __m512 dot_step_masked(__mmask16 m, __m512 q, const float *b, __m512 acc)
{
    return _mm512_fmadd_ps(q, _mm512_maskz_loadu_ps(m, b), acc);
}

static inline __m512 l2_step(__m512 q, const float *b, __m512 acc)
{
    __m512 d = _mm512_sub_ps(q, _mm512_loadu_ps(b));
    return _mm512_fmadd_ps(d, d, acc);
}

static inline __m512 l2_step_masked(__mmask16 m, __m512 q, const float *b, __m512 acc)
{
    __m512 d = _mm512_sub_ps(q, _mm512_maskz_loadu_ps(m, b));
    return _mm512_fmadd_ps(d, d, acc);
}

FOUR_KERNEL(dot4_avx512, dot_step, dot_step_masked)
FOUR_KERNEL(l2sq4_avx512, l2_step, l2_step_masked)

VDB_DIST_MANY(dot_many_avx512, dot_avx512)
VDB_DIST_MANY(l2sq_many_avx512, l2sq_avx512)

const vdb_dist_ops vdb_dist_ops_avx512 = {
    VDB_ISA_AVX512, dot_avx512, l2sq_avx512, dot_many_avx512, l2sq_many_avx512,
    dot4_avx512, l2sq4_avx512,
};
#else
typedef int vdb_dist_avx512_unused;
#endif
