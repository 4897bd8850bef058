/* Cache prefetch hints for a block of bytes. Header-only, stateless:
 * thread-safe, no errors, changes no data.
 *
 * Every helper here is always inlined, and that is why this header exists.
 * GCC (12, -O2) analyses a static function it did not inline early, finds
 * no effect of a prefetch that it must keep, marks the function const and
 * deletes every call to it as dead code. A helper that only prefetched
 * therefore vanished wherever it was too large to inline early: the HNSW
 * search's row and code prefetches were all gone (objdump showed only the
 * link-list prefetches) while the source looked right. Written here, the
 * prefetch is in its caller before that analysis runs. Keep prefetches in
 * these helpers or in the function that needs them, never in a plain
 * static helper. */
#ifndef VDB_CORE_PREFETCH_H
#define VDB_CORE_PREFETCH_H

#include <stddef.h>

#define VDB_ALWAYS_INLINE __attribute__((always_inline)) static inline

/* Every cache line of [p, p + bytes), bytes > 0, into L1 (and the levels
 * below): through the last byte, since a block not starting a line spans
 * one more. */
VDB_ALWAYS_INLINE void vdb_prefetch(const void *p, size_t bytes)
{
    const char *c = p;
    for (size_t off = 0; off < bytes; off += 64)
        __builtin_prefetch(c + off, 0, 3);
    __builtin_prefetch(c + bytes - 1, 0, 3);
}

/* The same into L2 but not L1 (locality 2: prefetcht1 on x86, PLDL2KEEP on
 * arm64). A core tracks far fewer outstanding misses into L1 than into L2:
 * prefetches into L1 of many rows queue behind each other, while
 * prefetches into L2 travel together and the loads that follow hit L2.
 * Random 512-byte rows, 16 or 32 a batch, on the Zen 5 VM: 77-91 ns a row
 * prefetched into L1, 34-46 ns into L2 (BENCHMARKS.md, "Prefetches that
 * the compiler deleted"). */
VDB_ALWAYS_INLINE void vdb_prefetch_l2(const void *p, size_t bytes)
{
    const char *c = p;
    for (size_t off = 0; off < bytes; off += 64)
        __builtin_prefetch(c + off, 0, 2);
    __builtin_prefetch(c + bytes - 1, 0, 2);
}

#endif
