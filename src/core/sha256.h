/* SHA-256 for API key hashes and ZIP manifests: an adapter over nettle
 * (Debian's GnuTLS is built on it), the only
 * file that includes nettle's headers. */
#ifndef VDB_CORE_SHA256_H
#define VDB_CORE_SHA256_H

#include <stddef.h>
#include <stdint.h>

/* Opaque storage for the library's context (checked at compile time). */
typedef struct vdb_sha256 {
    uint64_t opaque[16];
} vdb_sha256;

void vdb_sha256_init(vdb_sha256 *ctx);
void vdb_sha256_update(vdb_sha256 *ctx, const void *data, size_t len);
void vdb_sha256_final(vdb_sha256 *ctx, uint8_t digest[32]);

/* One-shot digest as 64 lower-case hex characters plus NUL. */
void vdb_sha256_hex(const void *data, size_t len, char out[65]);
void vdb_sha256_to_hex(const uint8_t digest[32], char out[65]);

#endif
