/* SipHash (Aumasson & Bernstein, 2012) and the process key; see hash.h.
 * Written here because no dependency vdb already uses offers it (nettle 3.8,
 * Debian 12's, has no SipHash). The reference test vector for SipHash-2-4 is
 * checked in tests/unit/test_core.c. */
#include "hash.h"

#include <pthread.h>
#include <string.h>

#include "bytes.h"
#include "rng.h"

static unsigned char process_key[16];
static pthread_once_t key_once = PTHREAD_ONCE_INIT;

static void draw_key(void)
{
    if (vdb_rng_os_bytes(process_key, sizeof process_key) != 0) {
        /* No OS randomness: fall back to a fixed key (still a good hash,
         * just not flood-resistant). */
        for (int i = 0; i < 16; i++)
            process_key[i] = (unsigned char)(0xA5 ^ (i * 29));
    }
}

static inline uint64_t rotl(uint64_t x, int b)
{
    return (x << b) | (x >> (64 - b));
}

#define SIPROUND(v0, v1, v2, v3)                                                                   \
    do {                                                                                           \
        v0 += v1;                                                                                  \
        v1 = rotl(v1, 13);                                                                         \
        v1 ^= v0;                                                                                  \
        v0 = rotl(v0, 32);                                                                         \
        v2 += v3;                                                                                  \
        v3 = rotl(v3, 16);                                                                         \
        v3 ^= v2;                                                                                  \
        v0 += v3;                                                                                  \
        v3 = rotl(v3, 21);                                                                         \
        v3 ^= v0;                                                                                  \
        v2 += v1;                                                                                  \
        v1 = rotl(v1, 17);                                                                         \
        v1 ^= v2;                                                                                  \
        v2 = rotl(v2, 32);                                                                         \
    } while (0)

uint64_t vdb_siphash(const unsigned char key[16], int c_rounds, int d_rounds, const void *data,
                     size_t len)
{
    const unsigned char *p = data;
    uint64_t k0 = vdb_get64le(key), k1 = vdb_get64le(key + 8);
    uint64_t v0 = 0x736f6d6570736575ull ^ k0;
    uint64_t v1 = 0x646f72616e646f6dull ^ k1;
    uint64_t v2 = 0x6c7967656e657261ull ^ k0;
    uint64_t v3 = 0x7465646279746573ull ^ k1;
    uint64_t last = (uint64_t)len << 56;
    size_t whole = len & ~(size_t)7;
    for (size_t i = 0; i < whole; i += 8) {
        uint64_t m = vdb_get64le(p + i);
        v3 ^= m;
        for (int r = 0; r < c_rounds; r++)
            SIPROUND(v0, v1, v2, v3);
        v0 ^= m;
    }
    for (size_t i = 0; i < (len & 7); i++)
        last |= (uint64_t)p[whole + i] << (8 * i);
    v3 ^= last;
    for (int r = 0; r < c_rounds; r++)
        SIPROUND(v0, v1, v2, v3);
    v0 ^= last;
    v2 ^= 0xff;
    for (int r = 0; r < d_rounds; r++)
        SIPROUND(v0, v1, v2, v3);
    return v0 ^ v1 ^ v2 ^ v3;
}

uint64_t vdb_hash_keyed(const void *data, size_t len)
{
    pthread_once(&key_once, draw_key);
    return vdb_siphash(process_key, 1, 3, data, len);
}
