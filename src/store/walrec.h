/* Encoding and decoding of WAL record payloads (the byte layout is at the
 * top of wal.c). Decoding treats the bytes as hostile even though their
 * checksum passed: every length is bounds-checked and every string must be
 * NUL-terminated where the format says, or VDB_ECORRUPT. */
#ifndef VDB_STORE_WALREC_H
#define VDB_STORE_WALREC_H

#include <stddef.h>
#include <stdint.h>

#include "../core/err.h"

/* Encodes an upsert batch as the three pieces of its payload, so the
 * vectors are logged from the caller's buffer without a copy: head (8
 * bytes: n, dim; written into `head`), the n x dim float32 vectors as
 * given, then the id/metadata tail in a new buffer (caller frees *tail
 * with vdb_free). VDB_ETOOBIG when the payload would pass
 * VDB_WAL_MAX_RECORD, VDB_ENOMEM. */
int vdb_walrec_encode_upsert_parts(size_t n, uint32_t dim, const char *const *ids,
                                   const char *const *metas, unsigned char head[8],
                                   unsigned char **tail, size_t *tail_len, vdb_error *err);

/* Encodes a delete batch of n ids into a new buffer (caller frees).
 * Errors: VDB_ETOOBIG (past VDB_WAL_MAX_RECORD), VDB_ENOMEM. */
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

/* Decodes one record's payload into `batch` (release with
 * vdb_walrec_batch_free). Errors: VDB_ECORRUPT (unknown type, malformed
 * payload), VDB_ENOMEM. */
int vdb_walrec_decode(int type, const void *payload, size_t len, uint32_t dim,
                      vdb_walrec_batch *batch, vdb_error *err);
void vdb_walrec_batch_free(vdb_walrec_batch *batch);

#endif
