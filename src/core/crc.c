/* CRC32C and CRC32 (see crc.h). CRC32 is zlib's (already a dependency
 * through libzip; this file is zlib's only user). zlib has no CRC32C, so that
 * one is ours: a table built once, on first use, under pthread_once;
 * slice-by-8 processes 8 bytes per step (about 1-2 GB/s), and the SSE4.2
 * crc32 instruction does it at several GB/s, which keeps WAL checksumming far
 * below the cost of the fsync it precedes.
 *
 * CRC32 of long buffers folds with carry-less multiplication (PCLMULQDQ)
 * where the CPU has it: zlib's table-driven crc32 ran at ~1.7 GB/s here and
 * was 9% of the server's CPU during a 100,000 x 384 upload (the checkpoint's
 * snapshot, a ZIP, is checksummed as it is written; issue 12). Four 128-bit
 * lanes are multiplied forward by x^512 modulo the polynomial and xored into
 * the next 64 bytes, then folded into one lane, and zlib finishes the last
 * 16 bytes plus the tail, so the Barrett reduction is zlib's, not ours. The
 * constants are (x^n mod P) bit-reflected and shifted left by one (33-bit
 * values in reflected order), for n = 512 + 32, 512 - 32 (fold by 4 lanes)
 * and 128 + 32, 128 - 32 (fold by one lane); test_core checks the result
 * against a bitwise CRC32 at every length to 1,100 and at 1-16 MiB. */
#include "crc.h"

#include <limits.h>
#include <pthread.h>
#include <string.h>
#include <zlib.h>
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

#define POLY_C 0x82F63B78u  /* Castagnoli, reflected */

static uint32_t table_c[8][256];
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;
#if defined(__x86_64__) && defined(__GNUC__)
static int have_sse42;
static int have_pclmul;
#endif

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
    have_pclmul = __builtin_cpu_supports("pclmul");
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

#if defined(__x86_64__) && defined(__GNUC__)
#define FOLD_MIN 256 /* shorter buffers: zlib (the setup does not pay) */

/* One lane times x^(n_lo) (its low half) and x^(n_hi) (its high half),
 * modulo P: the lane moved forward by the distance the constants encode. */
__attribute__((target("pclmul,sse2"))) static inline __m128i fold(__m128i lane, __m128i k)
{
    return _mm_xor_si128(_mm_clmulepi64_si128(lane, k, 0x00),
                         _mm_clmulepi64_si128(lane, k, 0x11));
}

/* CRC32 (zlib's convention: `crc` is a previous result, 0 to start) of
 * len >= 64 bytes. */
__attribute__((target("pclmul,sse2"))) static uint32_t crc32_fold(uint32_t crc,
                                                                 const unsigned char *p,
                                                                 size_t len)
{
    const __m128i k512 = _mm_set_epi64x(0x1c6e41596ll, 0x154442bd4ll); /* n = 480, 544 */
    const __m128i k128 = _mm_set_epi64x(0x0ccaa009ell, 0x1751997d0ll); /* n = 96, 160 */
    __m128i x0 = _mm_loadu_si128((const __m128i *)p);
    __m128i x1 = _mm_loadu_si128((const __m128i *)(p + 16));
    __m128i x2 = _mm_loadu_si128((const __m128i *)(p + 32));
    __m128i x3 = _mm_loadu_si128((const __m128i *)(p + 48));
    unsigned char last[16];
    /* The running register (zlib inverts on entry and exit) enters the
     * first four bytes, as the bytewise algorithm would have it. */
    x0 = _mm_xor_si128(x0, _mm_cvtsi32_si128((int)~crc));
    p += 64;
    len -= 64;
    while (len >= 64) {
        x0 = _mm_xor_si128(fold(x0, k512), _mm_loadu_si128((const __m128i *)p));
        x1 = _mm_xor_si128(fold(x1, k512), _mm_loadu_si128((const __m128i *)(p + 16)));
        x2 = _mm_xor_si128(fold(x2, k512), _mm_loadu_si128((const __m128i *)(p + 32)));
        x3 = _mm_xor_si128(fold(x3, k512), _mm_loadu_si128((const __m128i *)(p + 48)));
        p += 64;
        len -= 64;
    }
    x1 = _mm_xor_si128(fold(x0, k128), x1);
    x2 = _mm_xor_si128(fold(x1, k128), x2);
    x0 = _mm_xor_si128(fold(x2, k128), x3);
    while (len >= 16) {
        x0 = _mm_xor_si128(fold(x0, k128), _mm_loadu_si128((const __m128i *)p));
        p += 16;
        len -= 16;
    }
    /* x0 now stands for everything so far as 16 message bytes whose
     * register starts at zero: zlib's crc32 with previous result ~0 (its
     * register, inverted on entry, is then 0) finishes them and the tail. */
    _mm_storeu_si128((__m128i *)last, x0);
    uLong c = crc32(0xFFFFFFFFul, last, sizeof(last));
    return (uint32_t)crc32(c, p, (uInt)len);
}
#endif

uint32_t vdb_crc32(uint32_t crc, const void *data, size_t len)
{
    const unsigned char *p = data;
    uLong c = crc;
#if defined(__x86_64__) && defined(__GNUC__)
    pthread_once(&tables_once, init_tables);
    if (have_pclmul && len >= FOLD_MIN)
        return crc32_fold(crc, p, len);
#endif
    /* zlib takes the length as uInt: feed huge buffers in pieces. */
    while (len > 0) {
        uInt take = len > UINT_MAX ? UINT_MAX : (uInt)len;
        c = crc32(c, p, take);
        p += take;
        len -= take;
    }
    return (uint32_t)c;
}
