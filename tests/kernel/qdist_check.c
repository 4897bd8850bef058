/* Quantized kernel check: every ISA path of kernel/qdist.h against the
 * scalar reference (which is itself checked against a naive sum here), for
 * dimensions that exercise every unroll and tail, at unaligned offsets, on
 * random codes and on the extremes (+-127 everywhere, the largest sums the
 * contract allows). A plain C program (no cmocka) so that the same source
 * runs natively and, cross-built for AArch64, under qemu-user.
 *
 * Usage: qdist_check [isa...]   (each named ISA must be available; with no
 * arguments every ISA this CPU runs is checked). Exit status 0 = pass. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/kernel/qdist.h"

static const size_t dims[] = {1,  3,  7,   15,  16,  17,  31,  32,  33,   63,  64,
                              65, 96, 127, 128, 129, 383, 384, 768, 1536, 4096, 8192};
static int failures;
static unsigned long long rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t next_u64(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static int8_t next_code(int mode)
{
    if (mode == 1)
        return VDB_QDIST_I8_MAX;
    if (mode == 2)
        return (next_u64() & 1) ? VDB_QDIST_I8_MAX : -VDB_QDIST_I8_MAX;
    return (int8_t)((int)(next_u64() % (2 * VDB_QDIST_I8_MAX + 1)) - VDB_QDIST_I8_MAX);
}

static void expect(const char *isa, const char *what, size_t dim, size_t off, long long got,
                   long long want)
{
    if (got != want) {
        fprintf(stderr, "FAIL %s %s dim=%zu off=%zu got=%lld want=%lld\n", isa, what, dim, off,
                got, want);
        failures++;
    }
}

static void check_i8(const vdb_qdist_ops *ops, size_t dim, size_t off, int mode)
{
    enum { ROWS = 5 };
    const char *isa = vdb_qdist_isa_name(ops->isa);
    int8_t *a = malloc(dim + 64), *rows = malloc(ROWS * dim + 64);
    int32_t out[ROWS];
    long long dot[ROWS], l2[ROWS];
    for (size_t i = 0; i < dim; i++)
        a[off + i] = next_code(mode);
    for (size_t i = 0; i < ROWS * dim; i++)
        rows[off + i] = mode == 1 ? (int8_t)-VDB_QDIST_I8_MAX : next_code(mode);
    for (int r = 0; r < ROWS; r++) {
        dot[r] = l2[r] = 0;
        for (size_t i = 0; i < dim; i++) {
            long long x = a[off + i], y = rows[off + r * dim + i];
            dot[r] += x * y;
            l2[r] += (x - y) * (x - y);
        }
        const int8_t *row = rows + off + (size_t)r * dim;
        expect(isa, "dot_i8", dim, off, ops->dot_i8(a + off, row, dim), dot[r]);
        expect(isa, "l2sq_i8", dim, off, ops->l2sq_i8(a + off, row, dim), l2[r]);
    }
    ops->dot_i8_many(a + off, rows + off, ROWS, dim, out);
    for (int r = 0; r < ROWS; r++)
        expect(isa, "dot_i8_many", dim, off, out[r], dot[r]);
    ops->l2sq_i8_many(a + off, rows + off, ROWS, dim, out);
    for (int r = 0; r < ROWS; r++)
        expect(isa, "l2sq_i8_many", dim, off, out[r], l2[r]);
    free(a);
    free(rows);
}

static void check_bits(const vdb_qdist_ops *ops, size_t dim, size_t off)
{
    enum { ROWS = 5 };
    const char *isa = vdb_qdist_isa_name(ops->isa);
    size_t words = vdb_qdist_bits_words(dim);
    uint64_t *a = calloc(words + 4, 8), *rows = calloc(ROWS * words + 4, 8);
    uint32_t out[ROWS];
    long long want[ROWS];
    uint64_t last = dim % 64 ? (1ull << (dim % 64)) - 1 : ~0ull;
    for (size_t w = 0; w < words; w++)
        a[off + w] = next_u64() & (w + 1 == words ? last : ~0ull);
    for (int r = 0; r < ROWS; r++)
        for (size_t w = 0; w < words; w++)
            rows[off + r * words + w] = next_u64() & (w + 1 == words ? last : ~0ull);
    for (int r = 0; r < ROWS; r++) {
        want[r] = 0;
        for (size_t i = 0; i < dim; i++) {
            uint64_t x = a[off + i / 64] >> (i % 64), y = rows[off + r * words + i / 64] >> (i % 64);
            want[r] += (long long)((x ^ y) & 1);
        }
        expect(isa, "hamming", dim, off, ops->hamming(a + off, rows + off + r * words, words),
               want[r]);
    }
    ops->hamming_many(a + off, rows + off, ROWS, words, out);
    for (int r = 0; r < ROWS; r++)
        expect(isa, "hamming_many", dim, off, out[r], want[r]);
    free(a);
    free(rows);
}

static int check_isa(vdb_qdist_isa isa)
{
    const vdb_qdist_ops *ops = vdb_qdist_for(isa);
    int before = failures;
    if (ops == NULL)
        return -1;
    for (size_t d = 0; d < sizeof(dims) / sizeof(dims[0]); d++)
        for (size_t off = 0; off < 4; off++) {
            for (int mode = 0; mode < 3; mode++)
                check_i8(ops, dims[d], off, mode);
            check_bits(ops, dims[d], off);
        }
    printf("%-10s %s (%zu dims x 4 offsets, int8 + binary)\n", vdb_qdist_isa_name(isa),
           failures == before ? "ok" : "FAILED", sizeof(dims) / sizeof(dims[0]));
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1) {
        for (int i = 1; i < argc; i++) {
            int isa = vdb_qdist_isa_parse(argv[i]);
            if (isa < 0 || check_isa((vdb_qdist_isa)isa) != 0) {
                fprintf(stderr, "FAIL isa %s not available here\n", argv[i]);
                failures++;
            }
        }
    } else {
        for (int isa = 0; isa < VDB_QDIST_COUNT; isa++)
            check_isa((vdb_qdist_isa)isa);
        printf("dispatch: %s\n", vdb_qdist_isa_name(vdb_qdist()->isa));
    }
    if (failures) {
        fprintf(stderr, "%d failures\n", failures);
        return 1;
    }
    return 0;
}
