/* The compiled form of a filter, shared by the filter module's files
 * (filter_parse.c builds it, filter_eval.c evaluates it against metadata,
 * payload.c evaluates it against the payload indexes). Not a public API. */
#ifndef VDB_FILTER_FILTER_INT_H
#define VDB_FILTER_FILTER_INT_H

#include <stddef.h>
#include <stdint.h>

#include "../core/json.h"
#include "filter.h"

typedef enum {
    VDB_FNODE_TRUE = 0, /* an empty sub-filter {}: matches everything */
    VDB_FNODE_AND,
    VDB_FNODE_OR,
    VDB_FNODE_NOT,
    VDB_FNODE_CMP
} vdb_fnode_kind;

typedef enum {
    VDB_FOP_EQ = 0,
    VDB_FOP_NE,
    VDB_FOP_IN,
    VDB_FOP_NIN,
    VDB_FOP_GT,
    VDB_FOP_GTE,
    VDB_FOP_LT,
    VDB_FOP_LTE,
    VDB_FOP_EXISTS,
    VDB_FOP_CONTAINS
} vdb_fop;

/* A field path: the key as written plus its dotted segments. */
typedef struct vdb_fpath {
    char *text;         /* "a.b.c", owned */
    char *segbuf;       /* "a\0b\0c\0", owned */
    const char **segs;  /* nsegs pointers into segbuf, owned array */
    size_t nsegs;
} vdb_fpath;

typedef struct vdb_fnode {
    vdb_fnode_kind kind;
    /* AND / OR / NOT (NOT has exactly one child). */
    struct vdb_fnode **children;
    size_t nchildren;
    /* CMP */
    vdb_fop op;
    vdb_fpath path;
    vdb_json *operand; /* owned deep copy; the array for $in/$nin; NULL for $exists */
    int exists;        /* $exists operand */
    size_t index;      /* CMP: 0..clauses-1 in compile order, for per-query side tables */
} vdb_fnode;

struct vdb_filter {
    vdb_fnode *root;
    size_t clauses;
};

/* Splits `key` into `path` (freed with vdb_filter__path_free, also after a
 * failure). Errors (VDB_EINVAL, VDB_ENOMEM) name `loc`. */
int vdb_filter__path_init(vdb_fpath *path, const char *key, const char *loc, vdb_error *err);
void vdb_filter__path_free(vdb_fpath *path);

/* The value at `path` in `meta` (borrowed), or NULL when missing. */
const vdb_json *vdb_filter__resolve(const vdb_json *meta, const vdb_fpath *path);

/* Evaluates one node against metadata (NULL = none). */
int vdb_filter__eval(const vdb_fnode *node, const vdb_json *meta);

#endif
