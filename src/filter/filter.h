/* Metadata filters: a JSON filter language compiled once, then evaluated
 * against vectors' metadata.
 *
 * The language is a superset of the seed's `filter_metadata`: a plain object
 * {"source": "test"} means every key equals its value with Python's equality
 * (1 == 1.0, true == 1, a missing key equals null, lists in order, objects
 * as unordered maps). Operators ($eq $ne $in $nin $gt $gte $lt $lte $exists
 * $contains $and $or $not) and dotted paths extend it (filter issue).
 *
 * A compiled filter is immutable and thread-safe to share. */
#ifndef VDB_FILTER_FILTER_H
#define VDB_FILTER_FILTER_H

#include <stddef.h>
#include <stdint.h>

#include "../core/err.h"
#include "../core/json.h"

typedef struct vdb_filter vdb_filter;

/* Compiles a filter from its JSON form (borrowed). NULL, JSON null and {}
 * give NULL with VDB_OK in err->code: "no filter". Invalid filters return
 * NULL with VDB_EINVAL and a message naming the path and operator. Caller
 * frees with vdb_filter_free. */
vdb_filter *vdb_filter_compile(const vdb_json *spec, vdb_error *err);

void vdb_filter_free(vdb_filter *filter); /* NULL is a no-op */

/* 1 when the metadata (an object, or NULL = no metadata) matches. */
int vdb_filter_match(const vdb_filter *filter, const vdb_json *meta);

/* Same, from metadata JSON text (NULL = no metadata); unparsable text
 * never matches. */
int vdb_filter_match_text(const vdb_filter *filter, const char *meta_json);

#endif
