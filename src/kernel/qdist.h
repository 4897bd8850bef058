/* Distance kernels on quantized codes, with runtime CPU dispatch.
 *
 * Two code types serve the quantized scans and graph traversal of
 * index/quant.h:
 *   int8   one signed byte per dimension, values in [-VDB_QDIST_I8_MAX,
 *          VDB_QDIST_I8_MAX] (symmetric: -128 is never produced, which the
 *          AVX2 sign/maddubs path relies on); dot products and squared L2
 *          are exact integers.
 *   binary one bit per dimension packed into 64-bit words (bit i of word
 *          w is dimension 64*w + i, unused high bits zero); the distance is
 *          the Hamming distance.
 *
 * As with dist.h, each ISA lives in its own file with its own CFLAGS
 * (qdist_scalar.c is the reference; qdist_avx2.c; qdist_avx512.c needs
 * AVX-512 VNNI + BW + VPOPCNTDQ; qdist_neon.c needs the AArch64 dot-product
 * extension) and exports one table; vdb_qdist() picks the best table this
 * CPU runs once, capped like the float kernels by VDB_ISA. Kernels accept
 * any dim in [1, VDB_MAX_DIM] and unaligned pointers (integer sums cannot
 * overflow there: 8192 * 254^2 < 2^31); they are pure functions and
 * thread-safe. */
#ifndef VDB_KERNEL_QDIST_H
#define VDB_KERNEL_QDIST_H

#include <stddef.h>
#include <stdint.h>

#define VDB_QDIST_I8_MAX 127

typedef enum {
    VDB_QDIST_SCALAR = 0,
    VDB_QDIST_AVX2 = 1,       /* AVX2 (+POPCNT) */
    VDB_QDIST_AVX512VNNI = 2, /* AVX-512 F/BW/VNNI/VPOPCNTDQ */
    VDB_QDIST_NEON_DOT = 3,   /* AArch64 Advanced SIMD + dot product (sdot) */
    VDB_QDIST_COUNT = 4
} vdb_qdist_isa;

typedef int32_t (*vdb_qdist_i8_fn)(const int8_t *a, const int8_t *b, size_t dim);
/* out[i] = f(query, codes + i*dim) for i in [0, n). */
typedef void (*vdb_qdist_i8_many_fn)(const int8_t *query, const int8_t *codes, size_t n,
                                     size_t dim, int32_t *out);
typedef uint32_t (*vdb_qdist_bits_fn)(const uint64_t *a, const uint64_t *b, size_t words);
/* out[i] = hamming(query, codes + i*words) for i in [0, n). */
typedef void (*vdb_qdist_bits_many_fn)(const uint64_t *query, const uint64_t *codes, size_t n,
                                       size_t words, uint32_t *out);

typedef struct vdb_qdist_ops {
    vdb_qdist_isa isa;
    vdb_qdist_i8_fn dot_i8;   /* sum a[i]*b[i] */
    vdb_qdist_i8_fn l2sq_i8;  /* sum (a[i]-b[i])^2 */
    vdb_qdist_i8_many_fn dot_i8_many;
    vdb_qdist_i8_many_fn l2sq_i8_many;
    vdb_qdist_bits_fn hamming;
    vdb_qdist_bits_many_fn hamming_many;
} vdb_qdist_ops;

/* The table for the best ISA of this CPU; never NULL. */
const vdb_qdist_ops *vdb_qdist(void);

/* The table for one ISA, or NULL when it is not built in or this CPU cannot
 * run it. Tests use this to check every path against the reference. */
const vdb_qdist_ops *vdb_qdist_for(vdb_qdist_isa isa);

/* "scalar", "avx2", "avx512vnni", "neon-dot"; vdb_qdist_isa_parse returns
 * -1 for an unknown name (no error code). */
const char *vdb_qdist_isa_name(vdb_qdist_isa isa);
int vdb_qdist_isa_parse(const char *name);

/* Bytes of one binary code of `dim` dimensions (whole 64-bit words). */
static inline size_t vdb_qdist_bits_words(size_t dim)
{
    return (dim + 63) / 64;
}

extern const vdb_qdist_ops vdb_qdist_ops_scalar;
#if defined(__x86_64__)
extern const vdb_qdist_ops vdb_qdist_ops_avx2;
extern const vdb_qdist_ops vdb_qdist_ops_avx512vnni;
#endif
#if defined(__aarch64__)
extern const vdb_qdist_ops vdb_qdist_ops_neon_dot;
#endif

#endif
