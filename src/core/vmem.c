/* Address-space reservations; see vmem.h. We ask for a generous
 * reservation (MAP_NORESERVE: no commit charge until pages are touched) and
 * double it, with one move, in the rare case a store outgrows it.
 *
 * Everything past the first 2 MiB is advised for transparent huge pages
 * (alloc.h vdb_advise_huge): on this kind of VM a 4 KiB first-touch fault
 * costs ~3 us, which capped appends near 350 MB/s (150 MB of 384-d rows in
 * 0.44 s), while 2 MiB pages fill at memory speed (0.03 s). The first
 * 2 MiB stays on small pages, so a small tenant's store is not rounded up
 * to a huge page. */
#include "vmem.h"

#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "alloc.h"

#ifndef MAP_NORESERVE
#define MAP_NORESERVE 0
#endif

#define MIN_RESERVE ((size_t)1 << 30)   /* 1 GiB of address space */
#define MAX_RESERVE ((size_t)1 << 40)   /* 1 TiB */

void vdb_vmem_init(vdb_vmem *mem)
{
    memset(mem, 0, sizeof(*mem));
}

static void *reserve(size_t bytes)
{
    void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                   -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    vdb_advise_huge((unsigned char *)p + VDB_HUGE_PAGE, bytes - VDB_HUGE_PAGE);
    return p;
}

static int grow_heap(vdb_vmem *mem, size_t bytes)
{
    size_t capacity = mem->reserved ? mem->reserved : 4096;
    unsigned char *fresh;
    while (capacity < bytes)
        capacity *= 2;
    fresh = vdb_aligned_alloc(64, capacity);
    if (fresh == NULL)
        return VDB_ENOMEM;
    memset(fresh, 0, capacity);
    if (mem->used > 0)
        memcpy(fresh, mem->base, mem->used);
    vdb_aligned_free(mem->base);
    mem->base = fresh;
    mem->reserved = capacity;
    mem->heap = 1;
    return VDB_OK;
}

int vdb_vmem_grow(vdb_vmem *mem, size_t bytes)
{
    size_t want;
    unsigned char *fresh;
    if (bytes <= mem->used)
        return VDB_OK;
    if (bytes <= mem->reserved) {
        mem->used = bytes;
        return VDB_OK;
    }
    if (mem->heap) {
        if (grow_heap(mem, bytes) != VDB_OK)
            return VDB_ENOMEM;
        mem->used = bytes;
        return VDB_OK;
    }
    want = mem->reserved ? mem->reserved * 2 : MIN_RESERVE;
    while (want < bytes && want < MAX_RESERVE)
        want *= 2;
    if (want < bytes)
        want = bytes;
    fresh = reserve(want);
    if (fresh == NULL) {
        if (grow_heap(mem, bytes) != VDB_OK)
            return VDB_ENOMEM;
        mem->used = bytes;
        return VDB_OK;
    }
    if (mem->base != NULL) {
        memcpy(fresh, mem->base, mem->used);
        munmap(mem->base, mem->reserved);
    }
    mem->base = fresh;
    mem->reserved = want;
    mem->used = bytes;
    return VDB_OK;
}

int vdb_vmem_map_file(vdb_vmem *mem, int fd, unsigned long long offset, size_t bytes,
                      size_t room)
{
    long page = sysconf(_SC_PAGESIZE);
    void *at;
    if (mem->used != 0 || page <= 0 || offset % (unsigned long long)page != 0)
        return VDB_EINVAL;
    /* Reserve for `room` first, then give back the use of what lies past
     * the mapping: it is anonymous memory, used as the owner grows. */
    if (vdb_vmem_grow(mem, room > bytes ? room : bytes) != VDB_OK || mem->heap)
        return VDB_ENOMEM;
    mem->used = bytes;
    if (bytes == 0)
        return VDB_OK;
    at = mmap(mem->base, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, fd, (off_t)offset);
    if (at == MAP_FAILED) {
        vdb_vmem_release(mem);
        return VDB_EIO;
    }
    return VDB_OK;
}

void vdb_vmem_release(vdb_vmem *mem)
{
    if (mem->base != NULL) {
        if (mem->heap)
            vdb_aligned_free(mem->base);
        else
            munmap(mem->base, mem->reserved);
    }
    vdb_vmem_init(mem);
}
