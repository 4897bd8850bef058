/* Payload internals shared by payload.c (maintenance of the indexes) and
 * payload_plan.c (filter evaluation over the indexes and the planner).
 * Only src/filter/ includes CRoaring, and only through this header. */
#ifndef VDB_FILTER_PAYLOAD_INT_H
#define VDB_FILTER_PAYLOAD_INT_H

#include <stddef.h>
#include <stdint.h>

#include <roaring/roaring.h>

#include "../core/htab.h"
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
    vdb_pkey_kind kind;
    uint64_t num;
    char *str;          /* owned copy for STR */
    size_t len;
    roaring_bitmap_t *rows;
} vdb_pentry;

/* Key -> row bitmap: the entries in insertion order, found through a
 * core/htab index whose references are entry numbers. */
typedef struct vdb_pmap {
    vdb_htab index;
    vdb_pentry *entries;
    size_t used;
    size_t cap; /* entries allocated */
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
    /* Column of numeric values by row (NaN: not a number, or missing), so
     * the search-time hook checks a range with one load instead of a JSON
     * lookup. Sized like the payload's meta array. */
    double *col;
} vdb_pfield;

struct vdb_payload {
    vdb_json **meta; /* per row; NULL = none or not live */
    uint32_t cap;    /* entries in meta */
    roaring_bitmap_t *live;
    vdb_pfield **fields;
    size_t nfields;
    /* The live rows again as a plain bitset ((cap + 63) / 64 words): the
     * search hook tests one bit instead of walking roaring containers. */
    uint64_t *livebits;
};

static inline int vdb_payload__bit(const vdb_payload *payload, uint32_t row)
{
    return row < payload->cap && ((payload->livebits[row >> 6] >> (row & 63)) & 1u);
}

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

/* Bitmap evaluation result: rows NULL = unknown (any live row may match);
 * otherwise a set of live rows, exactly the matches when `exact`, else a
 * superset of them. */
typedef struct vdb_peval {
    roaring_bitmap_t *rows;
    int exact;
} vdb_peval;

/* Evaluates node `n` over the indexes into *out (the caller frees
 * out->rows with roaring_bitmap_free). VDB_OK or VDB_ENOMEM. */
int vdb_payload__eval(const vdb_payload *p, const vdb_fnode *n, vdb_peval *out);

/* A cheap match count: known = 0 when some clause is not indexed. */
typedef struct vdb_pest {
    double count;
    int known;
    int exact;
} vdb_pest;

vdb_pest vdb_payload__estimate(const vdb_payload *p, const vdb_fnode *n, double live);

/* Per-clause shortcut for the search hook, indexed by vdb_fnode.index. */
typedef enum {
    VDB_PFAST_GENERIC = 0, /* reference evaluator on the cached metadata */
    VDB_PFAST_COLUMN,      /* numeric range against the field's column */
    VDB_PFAST_BITMAP       /* membership in one index bitmap (negated for $ne) */
} vdb_pfast_mode;

typedef struct vdb_pfast {
    vdb_pfast_mode mode;
    const double *col;
    double x;
    const roaring_bitmap_t *rows; /* borrowed from the index; NULL = no row */
    int negate;
} vdb_pfast;

/* Fills fast[clause] for every comparison under `n`. */
int vdb_payload__fast_init(const vdb_payload *p, const vdb_fnode *n, vdb_pfast *fast);

/* One row (live) against node `n`, using the shortcuts. */
int vdb_payload__eval_row(const vdb_payload *p, const vdb_pfast *fast, const vdb_fnode *n,
                          uint32_t row);

/* The slice [*from, *to) of the sorted arrays satisfying `op` against x
 * (the unsorted tail is the caller's to scan). */
void vdb_payload__range_slice(const vdb_pfield *field, vdb_fop op, double x, size_t *from,
                              size_t *to);

/* Live-or-stale entries of the range index satisfying `op` against x (an
 * upper bound on the live count; exact when no entry is stale). */
size_t vdb_payload__range_count(const vdb_pfield *field, vdb_fop op, double x);

#endif
