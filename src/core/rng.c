/* xoshiro256** (Blackman & Vigna), seeded through splitmix64 so that any
 * 64-bit seed, 0 included, gives a well-mixed state. */
#include "rng.h"

#include <math.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>
#if defined(__APPLE__)
#include <sys/random.h> /* getentropy */
#endif

#include "err.h"
#include "hash.h"

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

void vdb_rng_seed(vdb_rng *rng, uint64_t seed)
{
    /* splitmix64: step the seed by the golden gamma, mix each step. */
    for (int i = 0; i < 4; i++, seed += 0x9E3779B97F4A7C15ull)
        rng->s[i] = vdb_hash_mix64(seed);
}

uint64_t vdb_rng_next(vdb_rng *rng)
{
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double vdb_rng_uniform(vdb_rng *rng)
{
    return (double)(vdb_rng_next(rng) >> 11) * (1.0 / 9007199254740992.0);
}

uint64_t vdb_rng_below(vdb_rng *rng, uint64_t bound)
{
    /* Rejection sampling removes the modulo bias. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % bound;
    uint64_t x;
    do {
        x = vdb_rng_next(rng);
    } while (x >= limit);
    return x % bound;
}

double vdb_rng_gauss(vdb_rng *rng)
{
    double u1 = vdb_rng_uniform(rng), u2 = vdb_rng_uniform(rng);
    if (u1 < 1e-300)
        u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

int vdb_rng_os_bytes(void *buf, size_t len)
{
    /* getentropy(3) (Linux and macOS), not /dev/urandom: no file
     * descriptor, so no file I/O outside core/fsx.c and nothing a fault
     * plan counts; it takes at most 256 bytes a call. */
    unsigned char *p = buf;
    while (len > 0) {
        size_t n = len < 256 ? len : 256;
        if (getentropy(p, n) != 0)
            return VDB_EIO;
        p += n;
        len -= n;
    }
    return VDB_OK;
}

/* Ids only need to be unique, not secret: a per-process generator seeded
 * from the OS avoids one syscall per generated id. */
static pthread_mutex_t uuid_lock = PTHREAD_MUTEX_INITIALIZER;
static vdb_rng uuid_rng;
static int uuid_seeded;

void vdb_rng_uuid(char out[VDB_UUID_LEN])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char b[16];
    uint64_t hi, lo;
    pthread_mutex_lock(&uuid_lock);
    if (!uuid_seeded) {
        uint64_t seed;
        if (vdb_rng_os_bytes(&seed, sizeof(seed)) != VDB_OK)
            seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
        vdb_rng_seed(&uuid_rng, seed);
        uuid_seeded = 1;
    }
    hi = vdb_rng_next(&uuid_rng);
    lo = vdb_rng_next(&uuid_rng);
    pthread_mutex_unlock(&uuid_lock);
    for (int i = 0; i < 8; i++) {
        b[i] = (unsigned char)(hi >> (8 * i));
        b[8 + i] = (unsigned char)(lo >> (8 * i));
    }
    b[6] = (unsigned char)((b[6] & 0x0F) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3F) | 0x80);
    for (int i = 0, o = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hex[b[i] >> 4];
        out[o++] = hex[b[i] & 15];
    }
    out[36] = '\0';
}
