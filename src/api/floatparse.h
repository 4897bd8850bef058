/* A dedicated parser for the big float arrays of request bodies.
 *
 * Parsing a 1,000 x 384 add batch (~8 MB of JSON) through jansson builds
 * 385,000 heap nodes and costs ~0.15 s, which caps JSON ingest near 6,000
 * vectors/s. This scanner walks the top-level object, parses the one member
 * named `key` (an array of number arrays, or one number array) straight
 * into a float matrix with strict JSON number syntax, and hands back the
 * rest of the body with that member's value replaced by `null`, for the
 * general JSON adapter to parse (and to check for duplicate keys, depth and
 * everything else).
 *
 * Thread-safe (no shared state). A matrix with over 1 MiB after its first
 * row is parsed in slices on the calling thread's pool (core/pool.h
 * vdb_pool_global); the call still returns only when it is done, and its
 * results and errors are the serial parser's. */
#ifndef VDB_API_FLOATPARSE_H
#define VDB_API_FLOATPARSE_H

#include <stddef.h>
#include <stdint.h>

#include "../core/err.h"

typedef struct vdb_floatmatrix {
    float *data;   /* rows x dim, row-major; caller frees with vdb_free */
    size_t rows;
    uint32_t dim;
    char *rest;    /* the body with the member's value replaced by null; vdb_free */
    size_t rest_len;
} vdb_floatmatrix;

/* Extracts member `key` of the top-level object in body[0..len).
 * `nested` = 1 for an array of arrays ("vectors", "queries"), 0 for one
 * flat array ("query", returned as one row). Rows must all have the same
 * length, 1..max_dim, and there may be at most max_rows.
 * Returns VDB_OK; VDB_ENOTFOUND when the body is not an object with that
 * member (the caller falls back to the general parser); VDB_EPARSE for
 * JSON syntax errors; VDB_EINVAL / VDB_EDIM naming key[i][j] for a value
 * that is not a finite float32, a ragged row, an empty or oversized array. */
int vdb_floatparse_member(const char *body, size_t len, const char *key, int nested,
                          size_t max_rows, uint32_t max_dim, vdb_floatmatrix *out,
                          vdb_error *err);

/* Frees what vdb_floatparse_member put into *matrix (not the struct
 * itself) and clears it; a cleared or zeroed matrix is a no-op. */
void vdb_floatmatrix_free(vdb_floatmatrix *matrix);

#endif
