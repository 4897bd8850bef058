/* Filter evaluation against one row's parsed metadata: path resolution,
 * Python-style equality and typed ordering (see filter.h for the rules).
 *
 * This is the reference evaluator: the payload indexes (payload.c) must
 * give exactly the rows this code accepts, and the oracle test checks it.
 * It allocates nothing, so it is safe to call from search threads. */
#include "filter.h"

#include <math.h>
#include <string.h>

#include "filter_int.h"

const vdb_json *vdb_filter__resolve(const vdb_json *meta, const vdb_fpath *path)
{
    if (meta == NULL || vdb_json_typeof(meta) != VDB_JSON_OBJECT)
        return NULL;
    /* A literal key wins over the dotted walk, so seed filters on keys that
     * contain dots mean what they meant there. */
    const vdb_json *value = vdb_json_object_get(meta, path->text);
    if (value != NULL || path->nsegs == 1)
        return value;
    value = meta;
    for (size_t i = 0; i < path->nsegs; i++) {
        if (vdb_json_typeof(value) != VDB_JSON_OBJECT)
            return NULL;
        value = vdb_json_object_get(value, path->segs[i]);
        if (value == NULL)
            return NULL;
    }
    return value;
}

/* Exact comparison of an integer with a double, as Python does it (no
 * rounding of the integer through double). */
static int int_real_cmp(long long a, double b)
{
    if (b >= 9223372036854775808.0)
        return -1;
    if (b < -9223372036854775808.0)
        return 1;
    double whole = trunc(b);
    long long bi = (long long)whole;
    if (a != bi)
        return a < bi ? -1 : 1;
    double frac = b - whole;
    return frac > 0 ? -1 : (frac < 0 ? 1 : 0);
}

/* Numbers and booleans as Python sees them for equality. */
static int is_numeric(vdb_json_type type)
{
    return type == VDB_JSON_INT || type == VDB_JSON_REAL || type == VDB_JSON_BOOL;
}

static int numeric_cmp(const vdb_json *a, vdb_json_type ta, const vdb_json *b, vdb_json_type tb)
{
    if (ta == VDB_JSON_REAL && tb == VDB_JSON_REAL) {
        double x = vdb_json_number_value(a), y = vdb_json_number_value(b);
        return x < y ? -1 : (x > y ? 1 : 0);
    }
    if (ta == VDB_JSON_REAL)
        return -numeric_cmp(b, tb, a, ta);
    long long x = ta == VDB_JSON_BOOL ? vdb_json_bool_value(a) : vdb_json_int_value(a);
    if (tb == VDB_JSON_REAL)
        return int_real_cmp(x, vdb_json_number_value(b));
    long long y = tb == VDB_JSON_BOOL ? vdb_json_bool_value(b) : vdb_json_int_value(b);
    return x < y ? -1 : (x > y ? 1 : 0);
}

static int string_cmp(const vdb_json *a, const vdb_json *b)
{
    size_t la = vdb_json_string_length(a), lb = vdb_json_string_length(b);
    int c = memcmp(vdb_json_string_value(a), vdb_json_string_value(b), la < lb ? la : lb);
    if (c != 0)
        return c < 0 ? -1 : 1;
    return la < lb ? -1 : (la > lb ? 1 : 0);
}

int vdb_filter_values_equal(const vdb_json *a, const vdb_json *b)
{
    vdb_json_type ta = a == NULL ? VDB_JSON_NULL : vdb_json_typeof(a);
    vdb_json_type tb = b == NULL ? VDB_JSON_NULL : vdb_json_typeof(b);
    if (is_numeric(ta) && is_numeric(tb))
        return numeric_cmp(a, ta, b, tb) == 0;
    if (ta != tb)
        return 0;
    switch (ta) {
    case VDB_JSON_NULL:
        return 1;
    case VDB_JSON_STRING:
        return string_cmp(a, b) == 0;
    case VDB_JSON_ARRAY: {
        size_t n = vdb_json_array_size(a);
        if (n != vdb_json_array_size(b))
            return 0;
        for (size_t i = 0; i < n; i++)
            if (!vdb_filter_values_equal(vdb_json_array_get(a, i), vdb_json_array_get(b, i)))
                return 0;
        return 1;
    }
    case VDB_JSON_OBJECT: {
        if (vdb_json_object_size(a) != vdb_json_object_size(b))
            return 0;
        vdb_json *obj = (vdb_json *)a; /* iteration does not modify */
        for (void *it = vdb_json_object_iter(obj); it; it = vdb_json_object_next(obj, it)) {
            const vdb_json *other = vdb_json_object_get(b, vdb_json_iter_key(it));
            /* A key absent on one side differs even from null, as dicts do. */
            if (other == NULL || !vdb_filter_values_equal(vdb_json_iter_value(it), other))
                return 0;
        }
        return 1;
    }
    default:
        return 0;
    }
}

/* Ordering for $gt & co.: 1 and *out set when the pair is comparable
 * (number vs number, string vs string), 0 otherwise. */
static int order_cmp(const vdb_json *value, const vdb_json *operand, int *out)
{
    if (value == NULL)
        return 0;
    vdb_json_type tv = vdb_json_typeof(value), to = vdb_json_typeof(operand);
    if ((tv == VDB_JSON_INT || tv == VDB_JSON_REAL) && (to == VDB_JSON_INT || to == VDB_JSON_REAL)) {
        *out = numeric_cmp(value, tv, operand, to);
        return 1;
    }
    if (tv == VDB_JSON_STRING && to == VDB_JSON_STRING) {
        *out = string_cmp(value, operand);
        return 1;
    }
    return 0;
}

static int in_list(const vdb_json *value, const vdb_json *list)
{
    size_t n = vdb_json_array_size(list);
    for (size_t i = 0; i < n; i++)
        if (vdb_filter_values_equal(value, vdb_json_array_get(list, i)))
            return 1;
    return 0;
}

static int eval_cmp(const vdb_fnode *node, const vdb_json *meta)
{
    const vdb_json *value = vdb_filter__resolve(meta, &node->path);
    int c;
    switch (node->op) {
    case VDB_FOP_EQ:
        return vdb_filter_values_equal(value, node->operand);
    case VDB_FOP_NE:
        return !vdb_filter_values_equal(value, node->operand);
    case VDB_FOP_IN:
        return in_list(value, node->operand);
    case VDB_FOP_NIN:
        return !in_list(value, node->operand);
    case VDB_FOP_GT:
        return order_cmp(value, node->operand, &c) && c > 0;
    case VDB_FOP_GTE:
        return order_cmp(value, node->operand, &c) && c >= 0;
    case VDB_FOP_LT:
        return order_cmp(value, node->operand, &c) && c < 0;
    case VDB_FOP_LTE:
        return order_cmp(value, node->operand, &c) && c <= 0;
    case VDB_FOP_EXISTS:
        return (value != NULL) == (node->exists != 0);
    case VDB_FOP_CONTAINS:
        return value != NULL && vdb_json_typeof(value) == VDB_JSON_ARRAY &&
               in_list(node->operand, value);
    }
    return 0;
}

int vdb_filter__eval(const vdb_fnode *node, const vdb_json *meta)
{
    switch (node->kind) {
    case VDB_FNODE_TRUE:
        return 1;
    case VDB_FNODE_AND:
        for (size_t i = 0; i < node->nchildren; i++)
            if (!vdb_filter__eval(node->children[i], meta))
                return 0;
        return 1;
    case VDB_FNODE_OR:
        for (size_t i = 0; i < node->nchildren; i++)
            if (vdb_filter__eval(node->children[i], meta))
                return 1;
        return 0;
    case VDB_FNODE_NOT:
        return !vdb_filter__eval(node->children[0], meta);
    case VDB_FNODE_CMP:
        return eval_cmp(node, meta);
    }
    return 0;
}

int vdb_filter_match(const vdb_filter *filter, const vdb_json *meta)
{
    if (filter == NULL)
        return 1;
    return vdb_filter__eval(filter->root, meta);
}

int vdb_filter_match_text(const vdb_filter *filter, const char *meta_json)
{
    if (filter == NULL)
        return 1;
    if (meta_json == NULL)
        return vdb_filter__eval(filter->root, NULL);
    vdb_json *meta = NULL;
    if (vdb_json_parse(meta_json, strlen(meta_json), 0, &meta, NULL) != VDB_OK)
        return 0;
    int match = vdb_filter__eval(filter->root, meta);
    vdb_json_decref(meta);
    return match;
}
