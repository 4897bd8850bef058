/* Deterministic pseudo-random numbers (xoshiro256**) for data generators,
 * HNSW level draws and tests, plus random ids from the OS. Not for secrets:
 * key generation uses vdb_rng_os_bytes. A vdb_rng is not thread-safe; give
 * each thread its own. */
#ifndef VDB_CORE_RNG_H
#define VDB_CORE_RNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct vdb_rng {
    uint64_t s[4];
} vdb_rng;

/* Seeds the generator; equal seeds give equal sequences on every platform. */
void vdb_rng_seed(vdb_rng *rng, uint64_t seed);

uint64_t vdb_rng_next(vdb_rng *rng);

/* Uniform double in [0, 1). */
double vdb_rng_uniform(vdb_rng *rng);

/* Uniform integer in [0, bound); bound > 0. */
uint64_t vdb_rng_below(vdb_rng *rng, uint64_t bound);

/* Standard normal deviate (Box-Muller). */
double vdb_rng_gauss(vdb_rng *rng);

/* Fills `buf` with `len` bytes from the OS CSPRNG; 0 or VDB_EIO. */
int vdb_rng_os_bytes(void *buf, size_t len);

/* Writes a random RFC 4122 version-4 UUID ("8-4-4-4-12" lower-case hex, 36
 * chars + NUL) into out; used for vector ids the client did not give. */
#define VDB_UUID_LEN 37
void vdb_rng_uuid(char out[VDB_UUID_LEN]);

#endif
