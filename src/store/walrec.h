/* Encoding and decoding of WAL record payloads (the byte layout is at the
 * top of wal.c). Decoding treats the bytes as hostile even though their
 * checksum passed: every length is bounds-checked and every string must be
 * NUL-terminated where the format says, or VDB_ECORRUPT. */
#ifndef VDB_STORE_WALREC_H
#define VDB_STORE_WALREC_H

#include <stddef.h>
#include <stdint.h>

#include "../core/err.h"

/* Encodes an upsert batch into a new buffer (caller frees with vdb_free). */
int vdb_walrec_encode_upsert(size_t n, uint32_t dim, const float *vectors,
                             const char *const *ids, const char *const *metas,
                             unsigned char **out, size_t *len, vdb_error *err);

/* Encodes a delete batch of n ids into a new buffer (caller frees). */
int vdb_walrec_encode_delete(size_t n, const char *const *ids, unsigned char **out, size_t *len,
                             vdb_error *err);

/* A decoded batch. Pointers borrow the payload; the arrays are heap
 * (release with vdb_walrec_batch_free). `vectors` may be unaligned-copied
 * into an owned aligned buffer. */
typedef struct vdb_walrec_batch {
    size_t n;
    uint32_t dim;
    float *vectors;     /* owned copy, n * dim (upsert only) */
    const char **ids;   /* n, borrowed from the payload */
    const char **metas; /* n, NULL entries = none (upsert only) */
} vdb_walrec_batch;

int vdb_walrec_decode(int type, const void *payload, size_t len, uint32_t dim,
                      vdb_walrec_batch *batch, vdb_error *err);
void vdb_walrec_batch_free(vdb_walrec_batch *batch);

#endif
