/* Shared inner loop of the "many" kernels, included by each ISA file so
 * that it is compiled with that file's flags and the pair kernel inlines. */
#ifndef VDB_KERNEL_DIST_INT_H
#define VDB_KERNEL_DIST_INT_H

#include <stddef.h>

#include "../core/prefetch.h"

/* Rows ahead to prefetch: exact search streams rows from DRAM and is
 * bandwidth-bound, so keeping more loads in flight is what matters. */
#define VDB_DIST_PREFETCH_ROWS 4

VDB_ALWAYS_INLINE void vdb_dist__prefetch_row(const float *row, size_t dim)
{
    const char *p = (const char *)row;
    for (size_t off = 0; off < dim * sizeof(float); off += 64)
        __builtin_prefetch(p + off, 0, 3);
}

/* out[r] = pair(q, row r) for n consecutive rows. */
#define VDB_DIST_MANY(name, pair)                                                          \
    static void name(const float *q, const float *rows, size_t n, size_t dim, float *out)  \
    {                                                                                      \
        for (size_t r = 0; r < n; r++) {                                                   \
            if (r + VDB_DIST_PREFETCH_ROWS < n)                                            \
                vdb_dist__prefetch_row(rows + (r + VDB_DIST_PREFETCH_ROWS) * dim, dim);    \
            out[r] = pair(q, rows + r * dim, dim);                                         \
        }                                                                                  \
    }

/* out[r] = pair(q, rows[r]) for 4 rows, one pair call each: the four
 * kernel of ISAs without an interleaved one. */
#define VDB_DIST_FOUR(name, pair)                                                          \
    static void name(const float *q, const float *const rows[4], size_t dim, float out[4]) \
    {                                                                                      \
        for (size_t r = 0; r < 4; r++)                                                     \
            out[r] = pair(q, rows[r], dim);                                                \
    }

#endif
