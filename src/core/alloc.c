/* Allocation wrappers with a counter and failure injection; see alloc.h.
 * The injection state is two atomics so tests can arm it from any thread
 * without locks; the fast path costs one relaxed increment and one load. */
#include "alloc.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

static _Atomic uint64_t alloc_count;
static _Atomic uint64_t fail_at;      /* alloc_count value that fails; 0 = off */
static _Atomic int fail_forever;

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

void *vdb_malloc(size_t size)
{
    if (should_fail())
        return NULL;
    return malloc(size == 0 ? 1 : size);
}

void *vdb_calloc(size_t count, size_t size)
{
    if (should_fail())
        return NULL;
    if (count == 0 || size == 0)
        count = size = 1;
    return calloc(count, size);
}

void *vdb_realloc(void *ptr, size_t size)
{
    if (should_fail())
        return NULL;
    return realloc(ptr, size == 0 ? 1 : size);
}

void vdb_free(void *ptr)
{
    free(ptr);
}

void *vdb_aligned_alloc(size_t align, size_t size)
{
    void *p = NULL;
    if (size == 0 || should_fail())
        return NULL;
    if (posix_memalign(&p, align, size) != 0)
        return NULL;
    return p;
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
