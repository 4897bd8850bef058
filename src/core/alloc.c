/* Allocation wrappers with a counter and failure injection; see alloc.h.
 * The injection state is two atomics so tests can arm it from any thread
 * without locks; the fast path costs one relaxed increment and one load.
 *
 * Large blocks (request bodies, parsed matrices, WAL payloads, staging
 * buffers: megabytes each, freshly mmapped by malloc and so faulted in page
 * by page) are advised for huge pages: on the VMs we run on a 4 KiB
 * first-touch fault costs ~3 us, so filling a fresh 8 MB JSON body or a
 * 150 MB upload ran at ~350 MB/s, slower than the disk. With 2 MiB pages
 * the same fill runs at memory speed. The advice is a hint about backing,
 * never about contents, so it cannot change a neighbouring block. */
#include "alloc.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static _Atomic uint64_t alloc_count;
static _Atomic uint64_t fail_at;      /* alloc_count value that fails; 0 = off */
static _Atomic int fail_forever;
/* Failed allocations on this thread, injected or real (see alloc.h). */
static _Thread_local uint64_t thread_failures;

uint64_t vdb_alloc_thread_failures(void)
{
    return thread_failures;
}

static void *counted(void *p)
{
    if (p == NULL)
        thread_failures++;
    return p;
}

static int should_fail(void)
{
    uint64_t n = atomic_fetch_add_explicit(&alloc_count, 1, memory_order_relaxed) + 1;
    uint64_t target = atomic_load_explicit(&fail_at, memory_order_relaxed);
    if (target == 0)
        return 0;
    if (n == target)
        return 1;
    return n > target && atomic_load_explicit(&fail_forever, memory_order_relaxed);
}

void vdb_alloc_fail_at(uint64_t nth, int forever)
{
    uint64_t now = atomic_load(&alloc_count);
    atomic_store(&fail_forever, forever);
    atomic_store(&fail_at, nth == 0 ? 0 : now + nth);
}

uint64_t vdb_alloc_count(void)
{
    return atomic_load_explicit(&alloc_count, memory_order_relaxed);
}

void vdb_advise_huge(void *p, size_t len)
{
#ifdef MADV_HUGEPAGE
    /* Whole small pages, rounded outwards: for a block malloc mmapped on
     * its own that is exactly its mapping, so the mapping stays one VMA and
     * a later realloc can still mremap it instead of copying. */
    uintptr_t start = (uintptr_t)p & ~(uintptr_t)4095;
    uintptr_t end = ((uintptr_t)p + len + 4095) & ~(uintptr_t)4095;
    if (p != NULL && len > 0)
        (void)madvise((void *)start, end - start, MADV_HUGEPAGE);
#else
    (void)p, (void)len;
#endif
}

static void *advised(void *p, size_t size)
{
    if (p != NULL && size >= VDB_HUGE_ALLOC_MIN)
        vdb_advise_huge(p, size);
    return p;
}

void *vdb_malloc(size_t size)
{
    if (should_fail())
        return counted(NULL);
    return counted(advised(malloc(size == 0 ? 1 : size), size));
}

void *vdb_malloc_uninjected(size_t size)
{
    /* Not in alloc_count either: "fail the Nth allocation" counts only
     * allocations that can be failed. */
    return counted(advised(malloc(size == 0 ? 1 : size), size));
}

void *vdb_calloc(size_t count, size_t size)
{
    if (should_fail())
        return counted(NULL);
    if (count == 0 || size == 0)
        count = size = 1;
    void *p = counted(calloc(count, size));
    return count <= SIZE_MAX / size ? advised(p, count * size) : p;
}

void *vdb_realloc(void *ptr, size_t size)
{
    if (should_fail())
        return counted(NULL);
    return counted(advised(realloc(ptr, size == 0 ? 1 : size), size));
}

void vdb_free(void *ptr)
{
    free(ptr);
}

void *vdb_aligned_alloc(size_t align, size_t size)
{
    void *p = NULL;
    if (size == 0)
        return NULL;
    if (should_fail() || posix_memalign(&p, align, size) != 0)
        return counted(NULL);
    return advised(p, size);
}

void vdb_aligned_free(void *ptr)
{
    free(ptr);
}

char *vdb_strndup(const char *s, size_t n)
{
    char *copy = vdb_malloc(n + 1);
    if (copy == NULL)
        return NULL;
    memcpy(copy, s, n);
    copy[n] = '\0';
    return copy;
}

char *vdb_strdup(const char *s)
{
    return vdb_strndup(s, strlen(s));
}
