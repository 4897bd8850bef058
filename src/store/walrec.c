/* WAL payload codec; layouts in wal.c, contract in walrec.h. Vectors are
 * logged exactly as the caller passed them (before normalization), so
 * replaying a record recomputes bit-identical rows. */
#include "walrec.h"

#include <string.h>

#include "../core/alloc.h"
#include "../core/bytes.h"
#include "wal.h"

#define NO_META 0xFFFFFFFFu

static unsigned char *put32(unsigned char *p, uint32_t v)
{
    vdb_put32le(p, v);
    return p + 4;
}

static unsigned char *put_str(unsigned char *p, const char *s, size_t len)
{
    p = put32(p, (uint32_t)len);
    memcpy(p, s, len);
    p[len] = '\0';
    return p + len + 1;
}

int vdb_walrec_encode_upsert_parts(size_t n, uint32_t dim, const char *const *ids,
                                   const char *const *metas, unsigned char head[8],
                                   unsigned char **tail, size_t *tail_len, vdb_error *err)
{
    size_t total, vec_bytes, strings = 0;
    unsigned char *buf, *p;
    if (n > UINT32_MAX || vdb_mul_size(n, (size_t)dim * sizeof(float), &vec_bytes) != 0 ||
        vec_bytes > VDB_WAL_MAX_RECORD)
        return vdb_error_set(err, VDB_ETOOBIG, "batch of %zu x %u is too large to log", n, dim);
    total = 8 + vec_bytes;
    for (size_t i = 0; i < n; i++) {
        size_t one = 4 + strlen(ids[i]) + 1 + 4;
        if (metas != NULL && metas[i] != NULL)
            one += strlen(metas[i]) + 1;
        strings += one;
        total += one;
        if (total > VDB_WAL_MAX_RECORD)
            return vdb_error_set(err, VDB_ETOOBIG, "batch over the %u-byte WAL record limit",
                                 VDB_WAL_MAX_RECORD);
    }
    if ((buf = vdb_malloc(strings)) == NULL)
        return vdb_error_set(err, VDB_ENOMEM, "no memory for a %zu-byte WAL record", total);
    put32(put32(head, (uint32_t)n), dim);
    p = buf;
    for (size_t i = 0; i < n; i++) {
        const char *meta = metas != NULL ? metas[i] : NULL;
        p = put_str(p, ids[i], strlen(ids[i]));
        if (meta == NULL)
            p = put32(p, NO_META);
        else
            p = put_str(p, meta, strlen(meta));
    }
    *tail = buf;
    *tail_len = strings;
    return VDB_OK;
}

int vdb_walrec_encode_delete(size_t n, const char *const *ids, unsigned char **out, size_t *len,
                             vdb_error *err)
{
    size_t total = 4;
    unsigned char *buf, *p;
    for (size_t i = 0; i < n; i++) {
        total += 4 + strlen(ids[i]) + 1;
        if (total > VDB_WAL_MAX_RECORD)
            return vdb_error_set(err, VDB_ETOOBIG, "delete batch over the WAL record limit");
    }
    if ((buf = vdb_malloc(total)) == NULL)
        return vdb_error_set(err, VDB_ENOMEM, "no memory for a %zu-byte WAL record", total);
    p = put32(buf, (uint32_t)n);
    for (size_t i = 0; i < n; i++)
        p = put_str(p, ids[i], strlen(ids[i]));
    *out = buf;
    *len = total;
    return VDB_OK;
}

typedef struct reader {
    const unsigned char *p, *end;
} reader;

static int get32(reader *r, uint32_t *v)
{
    if (r->end - r->p < 4)
        return -1;
    *v = vdb_get32le(r->p);
    r->p += 4;
    return 0;
}

/* A length-prefixed, NUL-terminated string without interior NULs. */
static const char *get_str(reader *r, uint32_t len)
{
    const char *s = (const char *)r->p;
    if ((size_t)(r->end - r->p) < (size_t)len + 1 || r->p[len] != '\0' || memchr(s, 0, len) != NULL)
        return NULL;
    r->p += (size_t)len + 1;
    return s;
}

int vdb_walrec_decode(int type, const void *payload, size_t len, uint32_t dim,
                      vdb_walrec_batch *batch, vdb_error *err)
{
    reader r = {payload, (const unsigned char *)payload + len};
    uint32_t n, rec_dim = dim, slen;
    size_t vec_bytes = 0;
    memset(batch, 0, sizeof(*batch));
    if (get32(&r, &n) != 0 || n == 0 || n > len)
        goto corrupt;
    if (type == VDB_WAL_REC_UPSERT) {
        if (get32(&r, &rec_dim) != 0 || rec_dim != dim)
            goto corrupt;
        if (vdb_mul_size(n, (size_t)dim * sizeof(float), &vec_bytes) != 0 ||
            vec_bytes > (size_t)(r.end - r.p))
            goto corrupt;
    } else if (type != VDB_WAL_REC_DELETE) {
        return vdb_error_set(err, VDB_ECORRUPT, "unknown WAL record type %d", type);
    }
    batch->n = n;
    batch->dim = dim;
    batch->ids = vdb_calloc(n, sizeof(char *));
    if (type == VDB_WAL_REC_UPSERT) {
        batch->metas = vdb_calloc(n, sizeof(char *));
        batch->vectors = vdb_aligned_alloc(64, vec_bytes);
    }
    if (batch->ids == NULL ||
        (type == VDB_WAL_REC_UPSERT && (batch->metas == NULL || batch->vectors == NULL))) {
        vdb_walrec_batch_free(batch);
        return vdb_error_set(err, VDB_ENOMEM, "no memory to replay a %u-row record", n);
    }
    if (type == VDB_WAL_REC_UPSERT) {
        memcpy(batch->vectors, r.p, vec_bytes);
        r.p += vec_bytes;
    }
    for (uint32_t i = 0; i < n; i++) {
        if (get32(&r, &slen) != 0 || (batch->ids[i] = get_str(&r, slen)) == NULL)
            goto corrupt_free;
        if (type != VDB_WAL_REC_UPSERT)
            continue;
        if (get32(&r, &slen) != 0)
            goto corrupt_free;
        if (slen != NO_META && (batch->metas[i] = get_str(&r, slen)) == NULL)
            goto corrupt_free;
    }
    if (r.p != r.end)
        goto corrupt_free;
    return VDB_OK;
corrupt_free:
    vdb_walrec_batch_free(batch);
corrupt:
    return vdb_error_set(err, VDB_ECORRUPT, "malformed WAL %s payload of %zu bytes",
                         type == VDB_WAL_REC_UPSERT ? "upsert" : "delete", len);
}

void vdb_walrec_batch_free(vdb_walrec_batch *batch)
{
    vdb_aligned_free(batch->vectors);
    vdb_free(batch->ids);
    vdb_free(batch->metas);
    memset(batch, 0, sizeof(*batch));
}
