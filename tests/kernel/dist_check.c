/* Distance kernel check: every ISA path against a double-precision reference,
 * for the dimensions that exercise each unroll and tail (1, 3, 7, 15, 16,
 * 17, ...), at unaligned offsets. A plain C program (no cmocka) so that the
 * same source runs natively and, cross-built for AArch64, under qemu-user.
 *
 * Usage: dist_check [isa...]   (each named ISA must be available; with no
 * arguments every ISA this CPU runs is checked). Exit status 0 = pass. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/core/alloc.h"
#include "../../src/kernel/dist.h"

static const size_t dims[] = {1, 3, 7, 15, 16, 17, 31, 64, 127, 128, 383, 384, 768, 1536, 4096};
static int failures;

static unsigned long long rng_state = 0x9E3779B97F4A7C15ull;

static float next_float(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (float)((double)(rng_state >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static void check_close(const char *isa, const char *what, size_t dim, size_t off, double got,
                        double want, double scale)
{
    /* float32 accumulation of `dim` products: error grows ~sqrt(dim) * eps. */
    double tol = 1e-5 * scale * (1.0 + sqrt((double)dim));
    if (!(fabs(got - want) <= tol)) {
        fprintf(stderr, "FAIL %s %s dim=%zu off=%zu got=%.9g want=%.9g tol=%.3g\n", isa, what,
                dim, off, got, want, tol);
        failures++;
    }
}

static void check_same(const char *isa, const char *what, size_t dim, size_t off, float got,
                       float want)
{
    if (memcmp(&got, &want, sizeof(got)) != 0) {
        fprintf(stderr, "FAIL %s %s dim=%zu off=%zu got=%.9g pair kernel=%.9g\n", isa, what,
                dim, off, got, want);
        failures++;
    }
}

static void check_dim(const vdb_dist_ops *ops, size_t dim, size_t off)
{
    const char *isa = vdb_isa_name(ops->isa);
    enum { ROWS = 5 };
    /* +16 floats of slack; vectors start `off` floats into the buffers so
     * unaligned loads and tails at every phase are exercised. */
    float *a = calloc(dim + 16, sizeof(float));
    float *rows = calloc(ROWS * dim + 16, sizeof(float));
    float out[ROWS];
    double ref_dot[ROWS], ref_l2[ROWS], scale = 0;
    for (size_t i = 0; i < dim; i++)
        a[off + i] = next_float();
    for (size_t i = 0; i < ROWS * dim; i++)
        rows[off + i] = next_float();
    for (int r = 0; r < ROWS; r++) {
        ref_dot[r] = ref_l2[r] = 0;
        for (size_t i = 0; i < dim; i++) {
            double x = a[off + i], y = rows[off + r * dim + i];
            ref_dot[r] += x * y;
            ref_l2[r] += (x - y) * (x - y);
        }
    }
    scale = 1.0 + sqrt((double)dim);
    for (int r = 0; r < ROWS; r++) {
        const float *row = rows + off + (size_t)r * dim;
        check_close(isa, "dot", dim, off, ops->dot(a + off, row, dim), ref_dot[r], scale);
        check_close(isa, "l2sq", dim, off, ops->l2sq(a + off, row, dim), ref_l2[r], scale);
    }
    ops->dot_many(a + off, rows + off, ROWS, dim, out);
    for (int r = 0; r < ROWS; r++)
        check_close(isa, "dot_many", dim, off, out[r], ref_dot[r], scale);
    ops->l2sq_many(a + off, rows + off, ROWS, dim, out);
    for (int r = 0; r < ROWS; r++)
        check_close(isa, "l2sq_many", dim, off, out[r], ref_l2[r], scale);
    /* The four kernels (any 4 row addresses, here out of order) must give
     * exactly the pair kernel's bits: HNSW mixes both on one search. */
    const float *four[4];
    for (int r = 0; r < 4; r++)
        four[r] = rows + off + (size_t)(3 - r + (r == 0)) * dim;
    ops->dot4(a + off, four, dim, out);
    for (int r = 0; r < 4; r++)
        check_same(isa, "dot4", dim, off, out[r], ops->dot(a + off, four[r], dim));
    ops->l2sq4(a + off, four, dim, out);
    for (int r = 0; r < 4; r++)
        check_same(isa, "l2sq4", dim, off, out[r], ops->l2sq(a + off, four[r], dim));
    free(a);
    free(rows);
}

static int check_isa(vdb_isa isa)
{
    const vdb_dist_ops *ops = vdb_dist_for(isa);
    int before = failures;
    if (ops == NULL)
        return -1;
    for (size_t d = 0; d < sizeof(dims) / sizeof(dims[0]); d++)
        for (size_t off = 0; off < 4; off++)
            check_dim(ops, dims[d], off);
    printf("%-7s %s (%zu dims x 4 offsets)\n", vdb_isa_name(isa),
           failures == before ? "ok" : "FAILED", sizeof(dims) / sizeof(dims[0]));
    return 0;
}

static void check_normalize(void)
{
    float v[5] = {3, 4, 0, 0, 0}, zero[3] = {0, 0, 0};
    float norm = vdb_dist_normalize(v, 5);
    if (fabsf(norm - 5.0f) > 1e-6f || fabsf(v[0] - 0.6f) > 1e-6f || fabsf(v[1] - 0.8f) > 1e-6f) {
        fprintf(stderr, "FAIL normalize\n");
        failures++;
    }
    if (vdb_dist_normalize(zero, 3) != 0.0f || zero[0] != 0.0f) {
        fprintf(stderr, "FAIL normalize zero\n");
        failures++;
    }
}

int main(int argc, char **argv)
{
    check_normalize();
    if (argc > 1) {
        for (int i = 1; i < argc; i++) {
            int isa = vdb_isa_parse(argv[i]);
            if (isa < 0 || check_isa((vdb_isa)isa) != 0) {
                fprintf(stderr, "FAIL isa %s not available here\n", argv[i]);
                failures++;
            }
        }
    } else {
        for (int isa = 0; isa < VDB_ISA_COUNT; isa++)
            check_isa((vdb_isa)isa);
    }
    printf("dispatch picks %s\n", vdb_isa_name(vdb_dist()->isa));
    return failures == 0 ? 0 : 1;
}
