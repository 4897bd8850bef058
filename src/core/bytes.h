/* Little-endian byte codecs for every on-disk format (WAL records, npz/zip
 * headers, hnsw.idx, WAL payloads). The formats are little-endian by
 * definition, so these are written byte by byte and are correct on any host;
 * compilers turn them into plain loads and stores on little-endian CPUs.
 * Pure functions; `p` need not be aligned. */
#ifndef VDB_CORE_BYTES_H
#define VDB_CORE_BYTES_H

#include <stdint.h>

static inline void vdb_put16le(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
}

static inline void vdb_put32le(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static inline void vdb_put64le(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static inline uint32_t vdb_get16le(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static inline uint32_t vdb_get32le(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t vdb_get64le(const unsigned char *p)
{
    return (uint64_t)vdb_get32le(p) | (uint64_t)vdb_get32le(p + 4) << 32;
}

#endif
