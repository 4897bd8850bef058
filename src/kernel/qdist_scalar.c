/* Reference quantized kernels in plain C: the definition every SIMD path is
 * checked against (tests/kernel/qdist_check.c), and the fallback on CPUs
 * without one. */
#include "qdist.h"

#include "qdist_int.h"

static int32_t dot_i8_scalar(const int8_t *a, const int8_t *b, size_t dim)
{
    int32_t sum = 0;
    for (size_t i = 0; i < dim; i++)
        sum += (int32_t)a[i] * (int32_t)b[i];
    return sum;
}

static int32_t l2sq_i8_scalar(const int8_t *a, const int8_t *b, size_t dim)
{
    int32_t sum = 0;
    for (size_t i = 0; i < dim; i++) {
        int32_t d = (int32_t)a[i] - (int32_t)b[i];
        sum += d * d;
    }
    return sum;
}

static unsigned popcount64(uint64_t x)
{
    /* SWAR popcount: the reference must not depend on a POPCNT instruction
     * the baseline ISA lacks. */
    x = x - ((x >> 1) & 0x5555555555555555ull);
    x = (x & 0x3333333333333333ull) + ((x >> 2) & 0x3333333333333333ull);
    x = (x + (x >> 4)) & 0x0F0F0F0F0F0F0F0Full;
    return (unsigned)((x * 0x0101010101010101ull) >> 56);
}

static uint32_t hamming_scalar(const uint64_t *a, const uint64_t *b, size_t words)
{
    uint32_t sum = 0;
    for (size_t i = 0; i < words; i++)
        sum += popcount64(a[i] ^ b[i]);
    return sum;
}

VDB_QDIST_I8_MANY(dot_i8_many_scalar, dot_i8_scalar)
VDB_QDIST_I8_MANY(l2sq_i8_many_scalar, l2sq_i8_scalar)
VDB_QDIST_BITS_MANY(hamming_many_scalar, hamming_scalar)

const vdb_qdist_ops vdb_qdist_ops_scalar = {
    VDB_QDIST_SCALAR,   dot_i8_scalar,      l2sq_i8_scalar,      dot_i8_many_scalar,
    l2sq_i8_many_scalar, hamming_scalar, hamming_many_scalar,
};
