/* SHA-256 through nettle; see sha256.h. */
#include "sha256.h"

#include <nettle/sha2.h>

_Static_assert(sizeof(struct sha256_ctx) <= sizeof(vdb_sha256),
               "vdb_sha256 too small for nettle's sha256_ctx");

static struct sha256_ctx *ctx_of(vdb_sha256 *ctx)
{
    return (struct sha256_ctx *)(void *)ctx->opaque;
}

void vdb_sha256_init(vdb_sha256 *ctx)
{
    sha256_init(ctx_of(ctx));
}

void vdb_sha256_update(vdb_sha256 *ctx, const void *data, size_t len)
{
    sha256_update(ctx_of(ctx), len, data);
}

void vdb_sha256_final(vdb_sha256 *ctx, uint8_t digest[32])
{
    sha256_digest(ctx_of(ctx), SHA256_DIGEST_SIZE, digest);
}

void vdb_sha256_to_hex(const uint8_t digest[32], char out[65])
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        out[2 * i] = hex[digest[i] >> 4];
        out[2 * i + 1] = hex[digest[i] & 15];
    }
    out[64] = '\0';
}

void vdb_sha256_hex(const void *data, size_t len, char out[65])
{
    vdb_sha256 ctx;
    uint8_t digest[32];
    vdb_sha256_init(&ctx);
    vdb_sha256_update(&ctx, data, len);
    vdb_sha256_final(&ctx, digest);
    vdb_sha256_to_hex(digest, out);
}
