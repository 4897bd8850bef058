/* Heap allocation wrappers: every vdb heap allocation goes through here
 * (jansson's too, via json_set_alloc_funcs in core/json.c; CRoaring's do not:
 * Debian 12's 0.2.66 has no allocator hook, see docs/architecture.md).
 *
 * One choke point gives an allocation counter for metrics and deterministic
 * failure injection for tests (fail the Nth allocation, once or forever), the
 * way SQLite's sqlite3_malloc and Redis' zmalloc do. All functions are
 * thread-safe. Memory from vdb_malloc/calloc/realloc is released with
 * vdb_free; memory from vdb_aligned_alloc with vdb_aligned_free. */
#ifndef VDB_CORE_ALLOC_H
#define VDB_CORE_ALLOC_H

#include <stddef.h>
#include <stdint.h>

/* As the C library's, counted, and failed on purpose when a test arms
 * vdb_alloc_fail_at: NULL means out of memory (callers return VDB_ENOMEM).
 * calloc fails when count * size overflows; vdb_free(NULL) is a no-op. */
void *vdb_malloc(size_t size);
void *vdb_calloc(size_t count, size_t size);
void *vdb_realloc(void *ptr, size_t size);
void vdb_free(void *ptr);

/* Allocates `size` bytes aligned to `align` (a power of two >= sizeof(void*)).
 * Returns NULL on failure or when size is 0. */
void *vdb_aligned_alloc(size_t align, size_t size);
void vdb_aligned_free(void *ptr);

/* vdb_malloc that failure injection never fails (nor counts in
 * vdb_alloc_count): for a library whose code is not safe under a failed
 * allocation (jansson 2.14's parser, see core/json.c), so the OOM tests
 * exercise vdb, not that library's bugs. A real failure still returns NULL
 * and counts in vdb_alloc_thread_failures. Freed with vdb_free. */
void *vdb_malloc_uninjected(size_t size);

/* How many allocations failed on the calling thread so far (injected or
 * real). Lets an adapter whose library reports a failed allocation as
 * something else (jansson's lexer calls it a syntax error) tell the two
 * apart: compare before and after the call. */
uint64_t vdb_alloc_thread_failures(void);

/* Copies a NUL-terminated string; NULL on allocation failure. */
char *vdb_strdup(const char *s);
char *vdb_strndup(const char *s, size_t n);

/* Transparent huge pages: VDB_HUGE_PAGE is their size on x86-64 and
 * arm64 (4 KiB base pages). vdb_advise_huge(p, len) asks the kernel to
 * back the 2 MiB pages that [p, p + len) (rounded out to small pages)
 * covers whole with huge pages when they are first touched (madvise
 * MADV_HUGEPAGE; a hint: it changes no data and its failure is ignored).
 * vdb_malloc & co. do it themselves for blocks of VDB_HUGE_ALLOC_MIN bytes
 * or more. */
#define VDB_HUGE_PAGE ((size_t)2 << 20)
#define VDB_HUGE_ALLOC_MIN ((size_t)4 << 20)
void vdb_advise_huge(void *p, size_t len);

/* Overflow-checked a*b; returns 0 and writes *out on success, -1 on overflow
 * (no error code: callers name their own, usually VDB_EINVAL or VDB_ENOMEM). */
static inline int vdb_mul_size(size_t a, size_t b, size_t *out)
{
    if (b != 0 && a > SIZE_MAX / b)
        return -1;
    *out = a * b;
    return 0;
}

/* Test hook: the `nth` allocation from now (1 = the next one) fails; when
 * `forever` is set, every allocation after it fails too. nth = 0 disarms. */
void vdb_alloc_fail_at(uint64_t nth, int forever);

/* Number of allocations made through vdb_malloc & co. since start. */
uint64_t vdb_alloc_count(void);

#endif
