/* Shared "many" loops of the quantized kernels, included by each ISA file
 * so that they are compiled with that file's flags and the pair kernel
 * inlines. */
#ifndef VDB_KERNEL_QDIST_INT_H
#define VDB_KERNEL_QDIST_INT_H

#include <stddef.h>
#include <stdint.h>

#include "../core/prefetch.h"

/* Rows ahead to prefetch: a code scan streams rows from DRAM. */
#define VDB_QDIST_PREFETCH_ROWS 8

VDB_ALWAYS_INLINE void vdb_qdist__prefetch(const void *row, size_t bytes)
{
    const char *p = (const char *)row;
    for (size_t off = 0; off < bytes; off += 64)
        __builtin_prefetch(p + off, 0, 0);
}

#define VDB_QDIST_I8_MANY(name, pair)                                                        \
    static void name(const int8_t *q, const int8_t *codes, size_t n, size_t dim,             \
                     int32_t *out)                                                           \
    {                                                                                        \
        for (size_t r = 0; r < n; r++) {                                                     \
            if (r + VDB_QDIST_PREFETCH_ROWS < n)                                             \
                vdb_qdist__prefetch(codes + (r + VDB_QDIST_PREFETCH_ROWS) * dim, dim);       \
            out[r] = pair(q, codes + r * dim, dim);                                          \
        }                                                                                    \
    }

#define VDB_QDIST_BITS_MANY(name, pair)                                                      \
    static void name(const uint64_t *q, const uint64_t *codes, size_t n, size_t words,       \
                     uint32_t *out)                                                          \
    {                                                                                        \
        for (size_t r = 0; r < n; r++) {                                                     \
            if (r + VDB_QDIST_PREFETCH_ROWS < n)                                             \
                vdb_qdist__prefetch(codes + (r + VDB_QDIST_PREFETCH_ROWS) * words,           \
                                    words * 8);                                              \
            out[r] = pair(q, codes + r * words, words);                                      \
        }                                                                                    \
    }

#endif
