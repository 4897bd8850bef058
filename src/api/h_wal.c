/* GET /admin/wal_tail and POST /admin/wal_apply: the catch-up step of an
 * online tenant move (`vdb cluster move`, docs/scale-out.md). After the
 * bulk copy (export -> import), the mover asks the source for the store's
 * WAL records past the snapshot LSN of the archive it copied
 * (X-Vdb-Wal-Lsn of the export) and hands them to the target, so the
 * frozen window costs the writes made during the copy, not a second copy.
 *
 * Body of both (application/octet-stream), records in LSN order, each:
 *     u64 lsn (LE) | u32 type (LE; 1 upsert, 2 delete) | u32 len (LE) | payload
 * where payload is the WAL record payload (layout at the top of
 * store/wal.c). wal_apply validates every record (framing, then
 * vdb_walrec_decode against the target's dimension) before applying any,
 * so a bad body changes nothing; applying is an upsert or delete by id, so
 * applying the same records twice (a rerun after a crash) is harmless. */
#include "api_int.h"

#include <stdio.h>
#include <string.h>

#include "../core/alloc.h"
#include "../core/bytes.h"
#include "../store/wal.h"
#include "../store/walrec.h"

#define FRAME_HEAD 16
#define TAIL_MAX ((size_t)1 << 30)

typedef struct tail_buf {
    unsigned char *data;
    size_t len, cap;
} tail_buf;

static int collect(void *ctx, uint64_t lsn, int type, const void *payload, size_t len,
                   vdb_error *err)
{
    tail_buf *b = ctx;
    size_t need = b->len + FRAME_HEAD + len;
    if (len > UINT32_MAX || need > TAIL_MAX)
        return vdb_error_set(err, VDB_ETOOBIG, "WAL tail over %zu bytes: copy the store instead",
                             TAIL_MAX);
    if (need > b->cap) {
        size_t cap = b->cap ? b->cap : 64 * 1024;
        while (cap < need)
            cap *= 2;
        unsigned char *grown = vdb_realloc(b->data, cap);
        if (grown == NULL)
            return vdb_error_set(err, VDB_ENOMEM, "out of memory for the WAL tail");
        b->data = grown;
        b->cap = cap;
    }
    vdb_put64le(b->data + b->len, lsn);
    vdb_put32le(b->data + b->len + 8, (uint32_t)type);
    vdb_put32le(b->data + b->len + 12, (uint32_t)len);
    memcpy(b->data + b->len + FRAME_HEAD, payload, len);
    b->len = need;
    return VDB_OK;
}

int vdb_h_admin_wal_tail(vdb_req *req)
{
    vdb_store_handle *handle = NULL;
    long long after = 0;
    uint64_t last = 0;
    tail_buf b = {NULL, 0, 0};
    char value[32];
    int rc = vdb_req_store(req, &handle);
    if (rc == VDB_OK)
        rc = vdb_req_int(req, "after", -1, -1, INT64_MAX, &after);
    if (rc == VDB_OK && after < 0)
        rc = vdb_error_set(&req->err, VDB_EINVAL, "after (an LSN) is required");
    if (rc == VDB_OK)
        rc = vdb_store_wal_tail(vdb_registry_store(handle), (uint64_t)after, collect, &b, &last,
                                &req->err);
    vdb_registry_release(handle);
    if (rc == VDB_ERANGE)
        req->status_override = 409;
    if (rc != VDB_OK) {
        vdb_free(b.data);
        return rc;
    }
    if (b.data == NULL && (b.data = vdb_malloc(1)) == NULL)
        return vdb_error_set(&req->err, VDB_ENOMEM, "out of memory");
    snprintf(value, sizeof(value), "%llu", (unsigned long long)last);
    vdb_http_response_header(req->resp, "X-Vdb-Wal-Lsn", value);
    return vdb_reply_text(req, 200, "application/octet-stream", (char *)b.data, b.len);
}

/* Consecutive upserts are applied as one batch (one WAL record and one
 * fsync on the target instead of one per source record: a client that
 * adds one vector per request leaves one record per vector, and a tail of
 * a few hundred such records otherwise costs seconds of fsyncs while the
 * tenant is frozen). A batch is flushed before a delete, before an id it
 * already holds (so the order of two upserts of one id is kept), and at
 * APPLY_BATCH rows. ids and metas borrow the request body. */
#define APPLY_BATCH 4096

typedef struct pending {
    float *vectors;
    const char **ids, **metas;
    size_t n;
    uint32_t dim;
} pending;

static int flush(vdb_req *req, vdb_store *store, pending *b)
{
    int rc = VDB_OK;
    if (b->n > 0)
        rc = vdb_store_add(store, b->n, b->vectors, b->ids, b->metas, NULL, &req->err);
    b->n = 0;
    return rc;
}

static int holds(const pending *b, const char *id)
{
    for (size_t i = 0; i < b->n; i++)
        if (strcmp(b->ids[i], id) == 0)
            return 1;
    return 0;
}

static int add_rows(vdb_req *req, vdb_store *store, pending *b, const vdb_walrec_batch *batch)
{
    int rc = VDB_OK;
    for (size_t r = 0; rc == VDB_OK && r < batch->n; r++) {
        if (b->n == APPLY_BATCH || holds(b, batch->ids[r]))
            rc = flush(req, store, b);
        if (rc != VDB_OK)
            break;
        memcpy(b->vectors + b->n * b->dim, batch->vectors + r * b->dim, b->dim * sizeof(float));
        b->ids[b->n] = batch->ids[r];
        b->metas[b->n] = batch->metas != NULL ? batch->metas[r] : NULL;
        b->n++;
    }
    return rc;
}

/* One pass over the frames: validate only (b == NULL), or apply. */
static int walk(vdb_req *req, vdb_store *store, pending *b, size_t *records)
{
    const unsigned char *p = (const unsigned char *)req->http->body;
    size_t len = req->http->body_len, at = 0;
    uint32_t dim = vdb_store_get_config(store)->dim;
    int rc = VDB_OK;
    *records = 0;
    while (rc == VDB_OK && at < len) {
        vdb_walrec_batch batch;
        if (len - at < FRAME_HEAD)
            return vdb_error_set(&req->err, VDB_EPARSE, "record %zu: truncated header", *records);
        uint32_t type = vdb_get32le(p + at + 8), plen = vdb_get32le(p + at + 12);
        if (plen > len - at - FRAME_HEAD)
            return vdb_error_set(&req->err, VDB_EPARSE, "record %zu: payload past the body",
                                 *records);
        rc = vdb_walrec_decode((int)type, p + at + FRAME_HEAD, plen, dim, &batch, &req->err);
        if (rc != VDB_OK)
            return vdb_error_set(&req->err, VDB_EPARSE, "record %zu: %s", *records, req->err.msg);
        if (b != NULL && type == VDB_WAL_REC_UPSERT) {
            rc = add_rows(req, store, b, &batch);
        } else if (b != NULL) {
            size_t deleted = 0;
            if ((rc = flush(req, store, b)) == VDB_OK)
                rc = vdb_store_delete(store, batch.n, batch.ids, &deleted, &req->err);
        }
        vdb_walrec_batch_free(&batch);
        at += FRAME_HEAD + plen;
        (*records)++;
    }
    return rc == VDB_OK && b != NULL ? flush(req, store, b) : rc;
}

int vdb_h_admin_wal_apply(vdb_req *req)
{
    vdb_store_handle *handle = NULL;
    size_t records = 0;
    pending b;
    memset(&b, 0, sizeof(b));
    int rc = vdb_req_store(req, &handle);
    if (rc == VDB_OK)
        rc = walk(req, vdb_registry_store(handle), NULL, &records);
    if (rc == VDB_OK) {
        b.dim = vdb_store_get_config(vdb_registry_store(handle))->dim;
        b.vectors = vdb_malloc((size_t)APPLY_BATCH * b.dim * sizeof(float) + 1);
        b.ids = vdb_malloc(APPLY_BATCH * sizeof(*b.ids));
        b.metas = vdb_malloc(APPLY_BATCH * sizeof(*b.metas));
        if (b.vectors == NULL || b.ids == NULL || b.metas == NULL)
            rc = vdb_error_set(&req->err, VDB_ENOMEM, "out of memory for the apply batch");
    }
    if (rc == VDB_OK)
        rc = walk(req, vdb_registry_store(handle), &b, &records);
    vdb_free(b.vectors);
    vdb_free(b.ids);
    vdb_free(b.metas);
    if (rc == VDB_OK) {
        vdb_json *out = vdb_json_object();
        vdb_set(out, "records_applied", vdb_json_int((long long)records));
        vdb_set(out, "count", vdb_json_int((long long)vdb_store_count(vdb_registry_store(handle))));
        rc = vdb_reply_json(req, 200, out);
    }
    vdb_registry_release(handle);
    return rc;
}
