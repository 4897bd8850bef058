/* CRC32C and CRC32 (see crc.h). CRC32 is zlib's (already a dependency
 * through libzip; this file is zlib's only user). zlib has no CRC32C, so that
 * one is ours: a table built once, on first use, under pthread_once;
 * slice-by-8 processes 8 bytes per step (about 1-2 GB/s), and the SSE4.2
 * crc32 instruction does it at several GB/s, which keeps WAL checksumming far
 * below the cost of the fsync it precedes. */
#include "crc.h"

#include <limits.h>
#include <pthread.h>
#include <string.h>
#include <zlib.h>

#define POLY_C 0x82F63B78u  /* Castagnoli, reflected */

static uint32_t table_c[8][256];
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;
static int have_sse42;

static void build(uint32_t table[8][256], uint32_t poly)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? (c >> 1) ^ poly : c >> 1;
        table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            table[t][i] = (table[t - 1][i] >> 8) ^ table[0][table[t - 1][i] & 0xFF];
}

static void init_tables(void)
{
    build(table_c, POLY_C);
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    have_sse42 = __builtin_cpu_supports("sse4.2");
#endif
}

static uint32_t slice8(uint32_t table[8][256], uint32_t crc, const unsigned char *p, size_t len)
{
    crc = ~crc;
    while (len >= 8) {
        uint32_t lo, hi;
        memcpy(&lo, p, 4);
        memcpy(&hi, p + 4, 4);
        lo ^= crc; /* little-endian hosts only (x86_64, arm64) */
        crc = table[7][lo & 0xFF] ^ table[6][(lo >> 8) & 0xFF] ^ table[5][(lo >> 16) & 0xFF] ^
              table[4][lo >> 24] ^ table[3][hi & 0xFF] ^ table[2][(hi >> 8) & 0xFF] ^
              table[1][(hi >> 16) & 0xFF] ^ table[0][hi >> 24];
        p += 8;
        len -= 8;
    }
    while (len-- > 0)
        crc = (crc >> 8) ^ table[0][(crc ^ *p++) & 0xFF];
    return ~crc;
}

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("sse4.2"))) static uint32_t crc32c_hw(uint32_t crc, const unsigned char *p,
                                                            size_t len)
{
    uint64_t c = ~crc;
    while (len >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c = __builtin_ia32_crc32di(c, v);
        p += 8;
        len -= 8;
    }
    while (len-- > 0)
        c = __builtin_ia32_crc32qi((uint32_t)c, *p++);
    return ~(uint32_t)c;
}
#endif

uint32_t vdb_crc32c(uint32_t crc, const void *data, size_t len)
{
    pthread_once(&tables_once, init_tables);
#if defined(__x86_64__) && defined(__GNUC__)
    if (have_sse42)
        return crc32c_hw(crc, data, len);
#endif
    return slice8(table_c, crc, data, len);
}

uint32_t vdb_crc32(uint32_t crc, const void *data, size_t len)
{
    const unsigned char *p = data;
    uLong c = crc;
    /* zlib takes the length as uInt: feed huge buffers in pieces. */
    while (len > 0) {
        uInt take = len > UINT_MAX ? UINT_MAX : (uInt)len;
        c = crc32(c, p, take);
        p += take;
        len -= take;
    }
    return (uint32_t)c;
}
