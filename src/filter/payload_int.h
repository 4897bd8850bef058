/* Payload internals shared by payload.c (maintenance of the indexes) and
 * payload_plan.c (filter evaluation over the indexes and the planner).
 * Only src/filter/ includes CRoaring, and only through this header. */
#ifndef VDB_FILTER_PAYLOAD_INT_H
#define VDB_FILTER_PAYLOAD_INT_H

#include <stddef.h>
#include <stdint.h>

#include <roaring/roaring.h>

#include "filter_int.h"
#include "payload.h"

/* A scalar value as an index key, canonical under the filter's equality:
 * booleans and integral floats become integers (1, 1.0 and true share a
 * key), other floats keep their bits, strings their bytes. */
typedef enum {
    VDB_PKEY_NULL = 1,
    VDB_PKEY_STR,
    VDB_PKEY_INT,
    VDB_PKEY_REAL
} vdb_pkey_kind;

typedef struct vdb_pkey {
    vdb_pkey_kind kind;
    uint64_t num;    /* INT: the value as two's complement; REAL: the bits */
    const char *str; /* STR: borrowed bytes */
    size_t len;
} vdb_pkey;

typedef struct vdb_pentry {
    uint64_t hash;
    vdb_pkey_kind kind; /* 0 = empty slot */
    uint64_t num;
    char *str;          /* owned copy for STR */
    size_t len;
    roaring_bitmap_t *rows;
} vdb_pentry;

/* Open-addressing hash map from key to row bitmap. */
typedef struct vdb_pmap {
    vdb_pentry *slots;
    size_t cap; /* power of two or 0 */
    size_t used;
} vdb_pmap;

typedef struct vdb_pnum {
    double value;
    uint32_t row;
} vdb_pnum;

typedef struct vdb_pfield {
    vdb_fpath path;
    roaring_bitmap_t *present; /* rows where the path resolves (null included) */
    vdb_pmap values;           /* scalar value -> rows */
    vdb_pmap elems;            /* scalar array element -> rows */
    /* Numeric range index: sorted (value, row) pairs as two parallel arrays
     * plus an unsorted tail; entries of removed rows linger until the next
     * merge and are masked by the live set (`stale` lists their rows). */
    double *svals;
    uint32_t *srows;
    size_t nsorted;
    vdb_pnum *pending;
    size_t npending, pending_cap;
    roaring_bitmap_t *stale;
    int range_inexact; /* an integer beyond 2^53 was seen: ranges fall back */
} vdb_pfield;

struct vdb_payload {
    vdb_json **meta; /* per row; NULL = none or not live */
    uint32_t cap;    /* entries in meta */
    roaring_bitmap_t *live;
    vdb_pfield **fields;
    size_t nfields;
};

/* Canonical key of a scalar (NULL value = JSON null); 0 for arrays/objects. */
int vdb_payload__key(const vdb_json *value, vdb_pkey *key);

/* 1 when the integer converts to double without rounding (|v| <= 2^53). */
int vdb_payload__exact_double(long long value);

/* The bitmap for `key` (borrowed) or NULL when the value never occurred. */
const roaring_bitmap_t *vdb_payload__map_get(const vdb_pmap *map, const vdb_pkey *key);

/* The field index on exactly this path text, or NULL. */
vdb_pfield *vdb_payload__field(const vdb_payload *payload, const char *path);

/* Rows whose numeric value satisfies `op` (GT/GTE/LT/LTE) against x, live
 * ones only. New bitmap or NULL on allocation failure. */
roaring_bitmap_t *vdb_payload__range(const vdb_payload *payload, const vdb_pfield *field,
                                     vdb_fop op, double x);

#endif
