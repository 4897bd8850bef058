/* JSON adapter: the only file that includes the JSON library (jansson).
 *
 * Everything else sees an opaque vdb_json node. Parsing enforces vdb's
 * limits before the library sees the text: nesting depth (VDB_MAX_JSON_DEPTH
 * by default), duplicate object keys (rejected), and only UTF-8 text.
 * Nodes are reference counted: a function returning a "new" node gives the
 * caller one reference to drop with vdb_json_decref; "borrowed" nodes live as
 * long as their container. Nodes are not thread-safe while being modified;
 * read-only sharing across threads is fine. */
#ifndef VDB_CORE_JSON_H
#define VDB_CORE_JSON_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

typedef struct vdb_json vdb_json;

typedef enum {
    VDB_JSON_NULL = 0,
    VDB_JSON_BOOL,
    VDB_JSON_INT,
    VDB_JSON_REAL,
    VDB_JSON_STRING,
    VDB_JSON_ARRAY,
    VDB_JSON_OBJECT
} vdb_json_type;

/* Parses `len` bytes into *out: a new node (the caller drops it with
 * vdb_json_decref), NULL on failure. max_depth 0 means VDB_MAX_JSON_DEPTH.
 * Errors: VDB_EPARSE ("line 3 column 7: ..."),
 * VDB_ETOOBIG (nesting deeper than the limit, or a parse tree that would
 * take more than VDB_MAX_JSON_PARSE_BYTES: see vdb_json_parse_cost; both
 * are decided by one scan of the text before the parser allocates) or
 * VDB_ENOMEM. */
int vdb_json_parse(const char *text, size_t len, unsigned max_depth, vdb_json **out,
                   vdb_error *err);

/* An upper estimate of the bytes jansson allocates to parse `text` (its
 * tree, with glibc's chunk overhead and array growth), from a scan that
 * counts objects, arrays, strings (and their bytes) and scalars outside
 * strings. Measured against the real allocation it is 1.0-1.5x for every
 * kind of value (4.6x for `null`). */
size_t vdb_json_parse_cost(const char *text, size_t len);

/* Adds a reference (returns `node`; NULL stays NULL) and drops one (the
 * last frees the node). Not atomic: share a node across threads only
 * read-only, with its references taken before. */
vdb_json *vdb_json_incref(vdb_json *node);
void vdb_json_decref(vdb_json *node); /* NULL is a no-op */

vdb_json_type vdb_json_typeof(const vdb_json *node);
const char *vdb_json_type_name(vdb_json_type type); /* "null", "boolean", ... */
/* 1 when INT or REAL, else 0 (NULL too); never fails. */
int vdb_json_is_number(const vdb_json *node);

/* Scalar accessors; a wrong type gives 0 / NULL; they never fail. */
int vdb_json_bool_value(const vdb_json *node);
long long vdb_json_int_value(const vdb_json *node);
double vdb_json_number_value(const vdb_json *node); /* INT or REAL as double */
const char *vdb_json_string_value(const vdb_json *node); /* borrowed */
size_t vdb_json_string_length(const vdb_json *node);

/* Arrays: size, borrowed element (NULL when out of range). */
size_t vdb_json_array_size(const vdb_json *node);
vdb_json *vdb_json_array_get(const vdb_json *node, size_t index);

/* Objects: borrowed member (NULL when absent or not an object). */
vdb_json *vdb_json_object_get(const vdb_json *node, const char *key);
size_t vdb_json_object_size(const vdb_json *node);

/* Object iteration: for (it = vdb_json_object_iter(o); it; it =
 * vdb_json_object_next(o, it)) { key = vdb_json_iter_key(it); ... } */
void *vdb_json_object_iter(vdb_json *node);
void *vdb_json_object_next(vdb_json *node, void *iter);
const char *vdb_json_iter_key(void *iter);
vdb_json *vdb_json_iter_value(void *iter);

/* Builders: each returns a new node or NULL on allocation failure. */
vdb_json *vdb_json_object(void);
vdb_json *vdb_json_array(void);
vdb_json *vdb_json_string(const char *value);
vdb_json *vdb_json_stringn(const char *value, size_t len);
vdb_json *vdb_json_int(long long value);
vdb_json *vdb_json_real(double value); /* non-finite values become null */
vdb_json *vdb_json_bool(int value);
vdb_json *vdb_json_null(void);

/* Takes ownership of `value` (also on failure). 0 or VDB_ENOMEM. */
int vdb_json_object_set_new(vdb_json *object, const char *key, vdb_json *value);
int vdb_json_array_append_new(vdb_json *array, vdb_json *value);
/* Borrows `value` (adds a reference). */
int vdb_json_object_set(vdb_json *object, const char *key, vdb_json *value);

/* A new node equal to `node` sharing nothing with it; NULL when out of
 * memory (or for NULL). */
vdb_json *vdb_json_deep_copy(const vdb_json *node);

/* Structural equality of the library (1 and 1.0 differ; see filter for
 * Python-style equality): 1 when equal, else 0; never fails. The JSON
 * fuzzer's parse/dump round trip checks with it (tests/fuzz/fuzz_json.c);
 * the server itself compares with the filter's equality. */
int vdb_json_equal(const vdb_json *a, const vdb_json *b);

enum {
    VDB_JSON_DUMP_COMPACT = 1,    /* no spaces */
    VDB_JSON_DUMP_SORT_KEYS = 2,
    VDB_JSON_DUMP_ASCII = 4,      /* \uXXXX for non-ASCII */
    VDB_JSON_DUMP_ANY = 8         /* allow a non-container top-level value */
};

/* Serializes; returns text the caller frees with vdb_json_free_text, or NULL
 * on allocation failure. */
char *vdb_json_dump(const vdb_json *node, int flags);
void vdb_json_free_text(char *text);

/* Converts a JSON array of numbers to floats. Errors (VDB_EINVAL) name the
 * offending index: not an array, wrong length (when expect_len != 0), a
 * non-number, or a value not finite as float32. *len_out gets the length. */
int vdb_json_to_floats(const vdb_json *array, float *out, size_t capacity, size_t *len_out,
                       vdb_error *err);

#endif
