/* The finiteness check every write path runs on float32 input (request
 * matrices, uploads, WAL replay): the index of the first NaN or infinity.
 *
 * The exponent-bit test is branch-free so the compiler can vectorize it
 * (uploads of 150 MB are checked at memory speed); the exact search with
 * isfinite runs only when something is bad. Header-only: tiny and hot.
 * Thread-safe (pure). */
#ifndef VDB_CORE_FINITE_H
#define VDB_CORE_FINITE_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Index of the first non-finite of v[0..count), or count when all are. */
static inline size_t vdb_first_nonfinite(const float *v, size_t count)
{
    uint32_t bad = 0;
    for (size_t i = 0; i < count; i++) {
        uint32_t bits;
        memcpy(&bits, &v[i], sizeof(bits));
        bad |= (uint32_t)((bits & 0x7F800000u) == 0x7F800000u);
    }
    for (size_t i = 0; bad && i < count; i++)
        if (!isfinite(v[i]))
            return i;
    return count;
}

#endif
