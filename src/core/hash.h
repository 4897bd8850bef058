/* Hashing for in-memory tables. Two kinds, on purpose:
 *  - vdb_hash_mix64: the splitmix64 finalizer, a fast full-avalanche
 *    bijection of a 64-bit word. For numbers the server chose itself (row
 *    numbers, seeds, level draws), where nobody can pick inputs to collide.
 *  - vdb_hash_keyed: SipHash-1-3 under a random per-process key. For keys a
 *    client chooses (vector ids, metadata values, cache keys): without a
 *    secret key a client could send ids that all land in one bucket and make
 *    every lookup linear (hash flooding). Values differ between runs, so they
 *    must never be persisted.
 * vdb_siphash is the keyed primitive with explicit key and round counts, for
 * the known-answer tests. All functions are pure apart from the lazily drawn
 * process key (pthread_once) and are thread-safe. */
#ifndef VDB_CORE_HASH_H
#define VDB_CORE_HASH_H

#include <stddef.h>
#include <stdint.h>

static inline uint64_t vdb_hash_mix64(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

/* SipHash-c-d of data[0..len) under the 16-byte key. */
uint64_t vdb_siphash(const unsigned char key[16], int c_rounds, int d_rounds, const void *data,
                     size_t len);

/* SipHash-1-3 under this process's random key (drawn from the OS on first
 * use; a fixed fallback key is used only if the OS has no random source). */
uint64_t vdb_hash_keyed(const void *data, size_t len);

#endif
