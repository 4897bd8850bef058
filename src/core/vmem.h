/* Growable memory that never moves: a large virtual reservation whose
 * prefix is used as it grows.
 *
 * Row arrays (vectors, HNSW links) grow by appending. With malloc+copy every
 * doubling re-touches all the data, and first-touch page faults are the
 * dominant cost of bulk inserts on virtual machines (measured ~1 GB/s here).
 * A reservation of address space (not memory: untouched pages cost nothing)
 * lets the array grow in place, so pointers into it stay valid and nothing
 * is copied. When the reservation cannot be made (strict overcommit,
 * address-space limits) it falls back to an aligned heap block that is
 * copied on growth. Base alignment is at least 64 bytes. Not thread-safe. */
#ifndef VDB_CORE_VMEM_H
#define VDB_CORE_VMEM_H

#include <stddef.h>

#include "err.h"

typedef struct vdb_vmem {
    unsigned char *base;
    size_t used;       /* bytes the owner may touch */
    size_t reserved;   /* bytes of address space held */
    int heap;          /* 1 = heap fallback (moves on growth) */
} vdb_vmem;

/* Starts empty; reserves lazily on the first vdb_vmem_grow. */
void vdb_vmem_init(vdb_vmem *mem);

/* Makes at least `bytes` usable; existing contents are kept. May move the
 * base only in heap-fallback mode. New bytes read as zero. Errors:
 * VDB_ENOMEM (nothing changes). */
int vdb_vmem_grow(vdb_vmem *mem, size_t bytes);

/* Maps `bytes` of file `fd` from `offset` (a multiple of the page size)
 * copy-on-write (MAP_PRIVATE) over the start of an empty vmem, so a snapshot
 * is addressable without reading it: pages load on first touch, and later
 * writes stay private to the process. Growth continues past it in anonymous
 * memory, contiguously; `room` (0 or more) is how many bytes in all the
 * reservation must hold before it moves (a move copies the mapped pages).
 * Errors: VDB_EINVAL (not empty, bad offset), VDB_ENOMEM / VDB_EIO (mmap
 * failed). Not available in heap-fallback mode. */
int vdb_vmem_map_file(vdb_vmem *mem, int fd, unsigned long long offset, size_t bytes,
                      size_t room);

/* Gives everything back; the struct is left empty and reusable. */
void vdb_vmem_release(vdb_vmem *mem);

#endif
