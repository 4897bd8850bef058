/* jansson adapter; see json.h. Depth is checked by a pre-scan of the raw
 * text (counting brackets outside strings) so hostile nesting never reaches
 * the recursive parser. jansson allocates through core/alloc's funnel
 * (json_init), so the OOM tests' failure injection reaches every JSON build
 * and dump (not the parser, which is not safe under it: see json_alloc). */
#include "json.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <jansson.h>

#include "alloc.h"
#include "limits.h"

struct vdb_json {
    json_t node; /* never instantiated: vdb_json pointers are json_t pointers */
};

#define J(x) ((json_t *)(x))
#define V(x) ((vdb_json *)(x))

/* Set while this thread is inside json_loadb. jansson 2.14's lexer ignores
 * a failed growth of its token buffer and then decodes past it (seen under
 * injected failures: an assert in lex_scan_string, heap corruption), so the
 * parser's allocations are counted but never injected; building and
 * dumping are injected like the rest of vdb. */
static _Thread_local int parsing;

static void *json_alloc(size_t size)
{
    return parsing ? vdb_malloc_uninjected(size) : vdb_malloc(size);
}

/* Runs before main: jansson's allocator must be set before its first
 * object exists (an object freed by a different allocator than made it
 * is undefined behaviour), and a constructor in this file, which every
 * JSON user links, is the one point guaranteed to come first. */
__attribute__((constructor)) static void json_init(void)
{
    json_set_alloc_funcs(json_alloc, vdb_free);
}

/* Bytes jansson 2.14 allocates per value (glibc x86_64, measured with
 * mallinfo2 over 200,000 values of each kind): an empty object 234, an
 * empty array 138, a string 90 plus its bytes, an integer 32, a real 42; an
 * array slot 8, doubled while the array grows. Each weight is at or above
 * the measurement, so the estimate is an upper bound (within 1.5x). */
#define COST_OBJECT 240u
#define COST_ARRAY 144u
#define COST_STRING 96u
#define COST_SCALAR 32u
#define COST_SLOT 16u

/* One pass over the text outside strings: the maximum nesting depth
 * (stopping early once it exceeds `limit`) and the parse cost above. */
static unsigned scan(const char *text, size_t len, unsigned limit, size_t *cost_out)
{
    unsigned depth = 0, max = 0;
    int in_string = 0, in_scalar = 0;
    size_t cost = 0;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = 0;
            cost++;
            continue;
        }
        switch (c) {
        case '"':
            in_string = 1;
            in_scalar = 0;
            cost += COST_STRING + COST_SLOT;
            break;
        case '[':
        case '{':
            in_scalar = 0;
            cost += (c == '[' ? COST_ARRAY : COST_OBJECT) + COST_SLOT;
            if (++depth > max) {
                max = depth;
                if (max > limit) {
                    *cost_out = cost;
                    return max;
                }
            }
            break;
        case ']':
        case '}':
            in_scalar = 0;
            if (depth > 0)
                depth--;
            break;
        case ',':
        case ':':
        case ' ':
        case '\t':
        case '\n':
        case '\r':
            in_scalar = 0;
            break;
        default:
            if (!in_scalar)
                cost += COST_SCALAR + COST_SLOT;
            in_scalar = 1;
        }
    }
    *cost_out = cost;
    return max;
}

size_t vdb_json_parse_cost(const char *text, size_t len)
{
    size_t cost;
    (void)scan(text, len, UINT32_MAX, &cost);
    return cost;
}

int vdb_json_parse(const char *text, size_t len, unsigned max_depth, vdb_json **out,
                   vdb_error *err)
{
    json_error_t jerr;
    json_t *root;
    size_t cost;
    *out = NULL;
    if (max_depth == 0)
        max_depth = VDB_MAX_JSON_DEPTH;
    if (scan(text, len, max_depth, &cost) > max_depth) {
        return vdb_error_set(err, VDB_ETOOBIG, "JSON nesting deeper than %u levels", max_depth);
    }
    if (cost > VDB_MAX_JSON_PARSE_BYTES) {
        return vdb_error_set(err, VDB_ETOOBIG,
                             "JSON of %zu bytes would take about %zu MiB parsed, over the %zu MiB limit",
                             len, cost >> 20, VDB_MAX_JSON_PARSE_BYTES >> 20);
    }
    uint64_t failures = vdb_alloc_thread_failures();
    parsing = 1;
    root = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    parsing = 0;
    if (root == NULL) {
        /* jansson's lexer reports a (real) failed allocation as a syntax
         * error ("invalid token"), so the funnel's per-thread failure count
         * says which it was: out of memory is VDB_ENOMEM, not the client's
         * fault. */
        if (vdb_alloc_thread_failures() != failures ||
            json_error_code(&jerr) == json_error_out_of_memory) {
            return vdb_error_set(err, VDB_ENOMEM, "out of memory parsing %zu bytes of JSON", len);
        }
        return vdb_error_set(err, VDB_EPARSE, "invalid JSON at line %d column %d: %s", jerr.line,
                             jerr.column, jerr.text);
    }
    *out = V(root);
    return VDB_OK;
}

vdb_json *vdb_json_incref(vdb_json *node)
{
    return V(json_incref(J(node)));
}

void vdb_json_decref(vdb_json *node)
{
    json_decref(J(node));
}

vdb_json_type vdb_json_typeof(const vdb_json *node)
{
    switch (json_typeof(J(node))) {
    case JSON_OBJECT:
        return VDB_JSON_OBJECT;
    case JSON_ARRAY:
        return VDB_JSON_ARRAY;
    case JSON_STRING:
        return VDB_JSON_STRING;
    case JSON_INTEGER:
        return VDB_JSON_INT;
    case JSON_REAL:
        return VDB_JSON_REAL;
    case JSON_TRUE:
    case JSON_FALSE:
        return VDB_JSON_BOOL;
    case JSON_NULL:
    default:
        return VDB_JSON_NULL;
    }
}

const char *vdb_json_type_name(vdb_json_type type)
{
    static const char *names[] = {"null", "boolean", "integer", "number", "string", "array",
                                  "object"};
    return (unsigned)type < sizeof(names) / sizeof(names[0]) ? names[type] : "unknown";
}

int vdb_json_is_number(const vdb_json *node)
{
    return node != NULL && json_is_number(J(node));
}

int vdb_json_bool_value(const vdb_json *node)
{
    return node != NULL && json_is_true(J(node));
}

long long vdb_json_int_value(const vdb_json *node)
{
    return node != NULL ? (long long)json_integer_value(J(node)) : 0;
}

double vdb_json_number_value(const vdb_json *node)
{
    return node != NULL ? json_number_value(J(node)) : 0.0;
}

const char *vdb_json_string_value(const vdb_json *node)
{
    return node != NULL ? json_string_value(J(node)) : NULL;
}

size_t vdb_json_string_length(const vdb_json *node)
{
    return node != NULL ? json_string_length(J(node)) : 0;
}

size_t vdb_json_array_size(const vdb_json *node)
{
    return node != NULL ? json_array_size(J(node)) : 0;
}

vdb_json *vdb_json_array_get(const vdb_json *node, size_t index)
{
    return node != NULL ? V(json_array_get(J(node), index)) : NULL;
}

vdb_json *vdb_json_object_get(const vdb_json *node, const char *key)
{
    return node != NULL ? V(json_object_get(J(node), key)) : NULL;
}

size_t vdb_json_object_size(const vdb_json *node)
{
    return node != NULL ? json_object_size(J(node)) : 0;
}

void *vdb_json_object_iter(vdb_json *node)
{
    return node != NULL ? json_object_iter(J(node)) : NULL;
}

void *vdb_json_object_next(vdb_json *node, void *iter)
{
    return json_object_iter_next(J(node), iter);
}

const char *vdb_json_iter_key(void *iter)
{
    return json_object_iter_key(iter);
}

vdb_json *vdb_json_iter_value(void *iter)
{
    return V(json_object_iter_value(iter));
}

vdb_json *vdb_json_object(void)
{
    return V(json_object());
}

vdb_json *vdb_json_array(void)
{
    return V(json_array());
}

vdb_json *vdb_json_string(const char *value)
{
    return V(json_string(value));
}

vdb_json *vdb_json_stringn(const char *value, size_t len)
{
    return V(json_stringn(value, len));
}

vdb_json *vdb_json_int(long long value)
{
    return V(json_integer((json_int_t)value));
}

vdb_json *vdb_json_real(double value)
{
    return isfinite(value) ? V(json_real(value)) : V(json_null());
}

vdb_json *vdb_json_bool(int value)
{
    return V(json_boolean(value));
}

vdb_json *vdb_json_null(void)
{
    return V(json_null());
}

int vdb_json_object_set_new(vdb_json *object, const char *key, vdb_json *value)
{
    if (value == NULL)
        return VDB_ENOMEM;
    return json_object_set_new(J(object), key, J(value)) == 0 ? VDB_OK : VDB_ENOMEM;
}

int vdb_json_object_set(vdb_json *object, const char *key, vdb_json *value)
{
    return json_object_set(J(object), key, J(value)) == 0 ? VDB_OK : VDB_ENOMEM;
}

int vdb_json_array_append_new(vdb_json *array, vdb_json *value)
{
    if (value == NULL)
        return VDB_ENOMEM;
    return json_array_append_new(J(array), J(value)) == 0 ? VDB_OK : VDB_ENOMEM;
}

vdb_json *vdb_json_deep_copy(const vdb_json *node)
{
    return V(json_deep_copy(J(node)));
}

int vdb_json_equal(const vdb_json *a, const vdb_json *b)
{
    return json_equal(J(a), J(b));
}

char *vdb_json_dump(const vdb_json *node, int flags)
{
    /* 15 significant digits: timestamps keep sub-second precision and
     * float32 figures (9 digits) round-trip, without printing binary noise. */
    size_t jflags = JSON_REAL_PRECISION(15);
    if (flags & VDB_JSON_DUMP_COMPACT)
        jflags |= JSON_COMPACT;
    if (flags & VDB_JSON_DUMP_SORT_KEYS)
        jflags |= JSON_SORT_KEYS;
    if (flags & VDB_JSON_DUMP_ASCII)
        jflags |= JSON_ENSURE_ASCII;
    if (flags & VDB_JSON_DUMP_ANY)
        jflags |= JSON_ENCODE_ANY;
    /* jansson 2.14's dumper ignores a failed allocation while it writes an
     * object's key, and returns text with the key missing (invalid JSON,
     * which a checkpoint would write as store.json). Any failed allocation
     * on this thread during the dump therefore discards the text. */
    uint64_t failures = vdb_alloc_thread_failures();
    char *text = json_dumps(J(node), jflags);
    if (text != NULL && vdb_alloc_thread_failures() != failures) {
        vdb_free(text);
        return NULL;
    }
    return text;
}

void vdb_json_free_text(char *text)
{
    vdb_free(text); /* jansson allocates through vdb_malloc (json_init below) */
}

int vdb_json_to_floats(const vdb_json *array, float *out, size_t capacity, size_t *len_out,
                       vdb_error *err)
{
    size_t len;
    if (array == NULL || !json_is_array(J(array)))
        return vdb_error_set(err, VDB_EINVAL, "expected an array of numbers");
    len = json_array_size(J(array));
    if (len > capacity)
        return vdb_error_set(err, VDB_EINVAL, "array has %zu elements, at most %zu allowed", len,
                             capacity);
    for (size_t i = 0; i < len; i++) {
        json_t *item = json_array_get(J(array), i);
        double value;
        if (!json_is_number(item))
            return vdb_error_set(err, VDB_EINVAL, "element %zu is %s, not a number", i,
                                 vdb_json_type_name(vdb_json_typeof(V(item))));
        value = json_number_value(item);
        if (!isfinite(value) || fabs(value) > FLT_MAX)
            return vdb_error_set(err, VDB_EINVAL, "element %zu (%g) is not a finite float32", i,
                                 value);
        out[i] = (float)value;
    }
    *len_out = len;
    return VDB_OK;
}
