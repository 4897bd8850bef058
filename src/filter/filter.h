/* Metadata filters: a JSON filter language compiled once, then evaluated
 * against vectors' metadata.
 *
 * The language is a superset of the seed's `filter_metadata`.
 *
 * Plain form (the seed's): {"source": "test", "lang": "de"} matches when
 * every key equals its value with Python's equality:
 *   - numbers compare by value across integer and float (1 == 1.0), and
 *     booleans are numbers (true == 1, false == 0), compared exactly (no
 *     rounding of large integers through double);
 *   - strings compare byte for byte (case-sensitive);
 *   - a missing key equals null ({"k": null} matches vectors lacking k);
 *   - arrays compare element-wise in order, objects as unordered maps (a key
 *     missing on one side makes them differ, even against null).
 *
 * Operators (vdb's extension), on a field: {"price": {"$gt": 5, "$lte": 9}}
 *   $eq v     equality as above (v is always a literal, even an object with
 *             $-keys: {"$eq": {"$gt": 5}} compares with that object);
 *   $ne v     exactly "not $eq": matches missing fields and other types;
 *   $in [..]  equal to any element; $nin [..] is exactly "not $in";
 *   $gt $gte $lt $lte v   ordering; v must be a number or a string. Numbers
 *             order against numbers (integer or float, not booleans),
 *             strings against strings (byte-wise, i.e. by UTF-8 code
 *             point). Any other pairing (string vs number, boolean, null,
 *             array, object, missing) never matches: {"n": {"$gt": 5}} does
 *             not match n = "7", and {"$not": {"$gt": 5}} does match it;
 *   $exists b the field is present (with any value, null included) when b is
 *             true; absent when false;
 *   $contains v  the field is an array with an element equal to v;
 *   $not {ops}   negation of an operator object on the same field.
 * Several operators on one field are ANDed.
 *
 * Logical operators at filter level: {"$and": [f, ...]}, {"$or": [f, ...]}
 * (non-empty arrays of filters), {"$not": f}; they mix with field keys, which
 * are ANDed with them.
 *
 * Paths: a key "a.b.c" first names a literal top-level key "a.b.c" when the
 * metadata has one (so seed filters on keys containing dots keep working),
 * otherwise it walks nested objects a -> b -> c; a step through a non-object
 * (arrays included: there is no index syntax) is "missing". The one
 * difference from the seed: a dotted key absent at the top level used to be
 * "missing" and may now reach a nested value.
 *
 * Compatibility with the seed: there, {"n": {"$gt": 5}} compared n literally
 * with the object {"$gt": 5}. In vdb a non-empty object whose keys all start
 * with '$' is an operator object; use {"n": {"$eq": {"$gt": 5}}} for the
 * literal comparison. An object mixing '$' keys and plain keys is rejected
 * (ambiguous); a filter-level key starting with '$' other than $and/$or/$not
 * is rejected. Objects without '$' keys compare literally, as in the seed.
 *
 * Limits (each exceeded limit is VDB_EINVAL naming where):
 *   VDB_FILTER_MAX_DEPTH   nesting of filter objects, logical operators and
 *                          operator objects (the top-level object is 1);
 *   VDB_FILTER_MAX_IN      elements of one $in / $nin list;
 *   VDB_FILTER_MAX_CLAUSES field comparisons in one filter;
 *   VDB_FILTER_MAX_PATH    bytes of one field path, VDB_FILTER_MAX_SEGMENTS
 *                          dotted segments.
 *
 * A compiled filter is immutable and thread-safe to share. */
#ifndef VDB_FILTER_FILTER_H
#define VDB_FILTER_FILTER_H

#include <stddef.h>
#include <stdint.h>

#include "../core/err.h"
#include "../core/json.h"

#define VDB_FILTER_MAX_DEPTH 10u
#define VDB_FILTER_MAX_IN 1024u
#define VDB_FILTER_MAX_CLAUSES 256u
#define VDB_FILTER_MAX_PATH 256u
#define VDB_FILTER_MAX_SEGMENTS 16u

typedef struct vdb_filter vdb_filter;

/* Compiles a filter from its JSON form (borrowed; operands are copied) into
 * *out, which the caller frees with vdb_filter_free. NULL, JSON null and {}
 * return VDB_OK with *out NULL: "no filter". Errors (*out NULL): VDB_EINVAL
 * for an invalid filter, with a message naming the location and operator,
 * e.g. "filter at 'price': unknown operator '$gtt'"; VDB_ENOMEM. */
int vdb_filter_compile(const vdb_json *spec, vdb_filter **out, vdb_error *err);

/* Parses JSON text, then compiles it. A parse error is VDB_EINVAL (the
 * parser's message), running out of memory while parsing VDB_ENOMEM;
 * otherwise as vdb_filter_compile. */
int vdb_filter_compile_text(const char *text, size_t len, vdb_filter **out, vdb_error *err);

void vdb_filter_free(vdb_filter *filter); /* NULL is a no-op */

/* 1 when the metadata (an object, or NULL = no metadata) matches, else 0;
 * never fails. A NULL filter matches everything. Thread-safe. */
int vdb_filter_match(const vdb_filter *filter, const vdb_json *meta);

/* Same, from metadata JSON text (NULL = no metadata); unparsable text
 * never matches. Slow path: parses the text on every call. 1 or 0; never
 * fails (out of memory while parsing reads as no match). */
int vdb_filter_match_text(const vdb_filter *filter, const char *meta_json);

/* Number of field comparisons in the compiled filter. */
size_t vdb_filter_clause_count(const vdb_filter *filter);

/* Python-style equality of two JSON values as the filter uses it (see
 * above); NULL stands for a missing value and equals JSON null. 1 when
 * equal, else 0; never fails. */
int vdb_filter_values_equal(const vdb_json *a, const vdb_json *b);

#endif
