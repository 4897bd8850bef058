/* Float-array fast path for request bodies (see floatparse.h).
 *
 * Two passes over the bytes: a skip-scanner finds the top-level member
 * (respecting strings, escapes and nesting, so a "vectors" inside a string
 * or a nested object is never mistaken for it), then the number parser
 * reads the array in place. Numbers are checked against the JSON grammar
 * by hand and converted with strtof on the checked span; values that
 * overflow float32 are refused, so nothing non-finite gets through. */
#include "floatparse.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/alloc.h"

typedef struct scanner {
    const char *p, *end;
} scanner;

static void skip_ws(scanner *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\n' || *s->p == '\r' || *s->p == '\t'))
        s->p++;
}

/* Skips a string starting at the opening quote; 0 on success. */
static int skip_string(scanner *s)
{
    s->p++;
    while (s->p < s->end) {
        char c = *s->p++;
        if (c == '\\') {
            if (s->p >= s->end)
                return -1;
            s->p++;
        } else if (c == '"') {
            return 0;
        } else if ((unsigned char)c < 0x20) {
            return -1;
        }
    }
    return -1;
}

/* Skips any JSON value (its syntax is checked later by the real parser;
 * this only has to find where the value ends). */
static int skip_value(scanner *s)
{
    skip_ws(s);
    if (s->p >= s->end)
        return -1;
    if (*s->p == '"')
        return skip_string(s);
    if (*s->p != '[' && *s->p != '{') {
        while (s->p < s->end && !strchr(",}] \t\r\n", *s->p))
            s->p++;
        return 0;
    }
    int depth = 0;
    while (s->p < s->end) {
        char c = *s->p;
        if (c == '"') {
            if (skip_string(s) != 0)
                return -1;
            continue;
        }
        s->p++;
        if (c == '[' || c == '{')
            depth++;
        else if ((c == ']' || c == '}') && --depth == 0)
            return 0;
    }
    return -1;
}

/* Checks the JSON number grammar at s->p; on success returns its length. */
static size_t number_span(const char *p, const char *end)
{
    const char *q = p;
    if (q < end && *q == '-')
        q++;
    if (q >= end)
        return 0;
    if (*q == '0')
        q++;
    else if (*q >= '1' && *q <= '9')
        while (q < end && *q >= '0' && *q <= '9')
            q++;
    else
        return 0;
    if (q < end && *q == '.') {
        const char *digits = ++q;
        while (q < end && *q >= '0' && *q <= '9')
            q++;
        if (q == digits)
            return 0;
    }
    if (q < end && (*q == 'e' || *q == 'E')) {
        q++;
        if (q < end && (*q == '+' || *q == '-'))
            q++;
        const char *digits = q;
        while (q < end && *q >= '0' && *q <= '9')
            q++;
        if (q == digits)
            return 0;
    }
    return (size_t)(q - p);
}

typedef struct matrix_builder {
    float *data;
    size_t count, cap;
    size_t rows;
    uint32_t dim;
} matrix_builder;

static int push(matrix_builder *m, float v)
{
    if (m->count == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 4096;
        float *grown = vdb_realloc(m->data, cap * sizeof(float));
        if (grown == NULL)
            return -1;
        m->data = grown;
        m->cap = cap;
    }
    m->data[m->count++] = v;
    return 0;
}

/* Parses one "[n, n, ...]" row. */
static int parse_row(scanner *s, matrix_builder *m, const char *key, size_t row, uint32_t max_dim,
                     vdb_error *err)
{
    size_t n = 0;
    skip_ws(s);
    if (s->p >= s->end || *s->p != '[') {
        if (s->p < s->end && strchr("\"-0123456789tfn{", *s->p) && *s->p != '\0')
            return vdb_error_set(err, VDB_EINVAL, "%s[%zu] must be an array of numbers", key, row);
        return vdb_error_set(err, VDB_EPARSE, "malformed JSON in %s[%zu]", key, row);
    }
    s->p++;
    skip_ws(s);
    if (s->p < s->end && *s->p == ']') {
        s->p++;
        return vdb_error_set(err, VDB_EINVAL, "%s[%zu] is empty", key, row);
    }
    for (;;) {
        char buf[64];
        skip_ws(s);
        size_t span = number_span(s->p, s->end);
        if (span == 0) {
            if (s->p < s->end && (*s->p == '"' || *s->p == 't' || *s->p == 'f' ||
                                  *s->p == 'n' || *s->p == '[' || *s->p == '{'))
                return vdb_error_set(err, VDB_EINVAL, "%s[%zu][%zu] is not a number", key, row, n);
            return vdb_error_set(err, VDB_EPARSE, "malformed JSON in %s[%zu][%zu]", key, row, n);
        }
        if (span >= sizeof(buf))
            return vdb_error_set(err, VDB_EINVAL, "%s[%zu][%zu] has too many digits", key, row, n);
        memcpy(buf, s->p, span);
        buf[span] = '\0';
        errno = 0;
        float v = strtof(buf, NULL);
        if (!isfinite(v) || (errno == ERANGE && fabsf(v) > 1.0f))
            return vdb_error_set(err, VDB_EINVAL, "%s[%zu][%zu] (%s) is not a finite float32", key,
                                 row, n, buf);
        if (n >= max_dim)
            return vdb_error_set(err, VDB_EINVAL, "%s[%zu] has more than %u components", key, row,
                                 max_dim);
        if (push(m, v) != 0)
            return vdb_error_set(err, VDB_ENOMEM, "out of memory parsing %s", key);
        n++;
        s->p += span;
        skip_ws(s);
        if (s->p < s->end && *s->p == ',') {
            s->p++;
            continue;
        }
        if (s->p < s->end && *s->p == ']') {
            s->p++;
            break;
        }
        return vdb_error_set(err, VDB_EPARSE, "malformed JSON in %s[%zu]", key, row);
    }
    if (row == 0)
        m->dim = (uint32_t)n;
    else if (n != m->dim)
        return vdb_error_set(err, VDB_EDIM, "%s[%zu] has %zu components, expected %u", key, row, n,
                             m->dim);
    m->rows++;
    return VDB_OK;
}

static int parse_matrix(scanner *s, matrix_builder *m, const char *key, int nested,
                        size_t max_rows, uint32_t max_dim, vdb_error *err)
{
    if (!nested)
        return parse_row(s, m, key, 0, max_dim, err);
    skip_ws(s);
    if (s->p >= s->end || *s->p != '[')
        return vdb_error_set(err, VDB_EINVAL, "%s must be an array of number arrays", key);
    s->p++;
    skip_ws(s);
    if (s->p < s->end && *s->p == ']')
        return vdb_error_set(err, VDB_EINVAL, "%s must not be empty", key);
    for (size_t row = 0;; row++) {
        if (row >= max_rows)
            return vdb_error_set(err, VDB_EINVAL, "%s has more than %zu rows", key, max_rows);
        int rc = parse_row(s, m, key, row, max_dim, err);
        if (rc != VDB_OK)
            return rc;
        skip_ws(s);
        if (s->p < s->end && *s->p == ',') {
            s->p++;
            continue;
        }
        if (s->p < s->end && *s->p == ']') {
            s->p++;
            return VDB_OK;
        }
        return vdb_error_set(err, VDB_EPARSE, "malformed JSON after %s[%zu]", key, row);
    }
}

/* Finds the top-level member `key`: *value_start points at its value. */
static int find_member(const char *body, size_t len, const char *key, const char **value_start)
{
    scanner s = {body, body + len};
    size_t klen = strlen(key);
    *value_start = NULL;
    skip_ws(&s);
    if (s.p >= s.end || *s.p != '{')
        return VDB_ENOTFOUND;
    s.p++;
    for (;;) {
        skip_ws(&s);
        if (s.p >= s.end || *s.p != '"')
            return *value_start ? VDB_OK : VDB_ENOTFOUND; /* '}' or garbage: the real parser judges */
        const char *name = s.p + 1;
        if (skip_string(&s) != 0)
            return VDB_ENOTFOUND;
        int match = (size_t)(s.p - 1 - name) == klen && memcmp(name, key, klen) == 0;
        skip_ws(&s);
        if (s.p >= s.end || *s.p != ':')
            return VDB_ENOTFOUND;
        s.p++;
        skip_ws(&s);
        if (match) {
            if (*value_start != NULL)
                return VDB_EEXIST; /* duplicate key */
            *value_start = s.p;
        }
        if (skip_value(&s) != 0)
            return VDB_ENOTFOUND;
        skip_ws(&s);
        if (s.p < s.end && *s.p == ',') {
            s.p++;
            continue;
        }
        return *value_start ? VDB_OK : VDB_ENOTFOUND;
    }
}

void vdb_floatmatrix_free(vdb_floatmatrix *matrix)
{
    vdb_free(matrix->data);
    vdb_free(matrix->rest);
    memset(matrix, 0, sizeof(*matrix));
}

int vdb_floatparse_member(const char *body, size_t len, const char *key, int nested,
                          size_t max_rows, uint32_t max_dim, vdb_floatmatrix *out,
                          vdb_error *err)
{
    const char *value = NULL;
    memset(out, 0, sizeof(*out));
    int rc = find_member(body, len, key, &value);
    if (rc == VDB_EEXIST)
        return vdb_error_set(err, VDB_EPARSE, "duplicate key '%s'", key);
    if (rc != VDB_OK || (*value != '['))
        return VDB_ENOTFOUND;
    scanner s = {value, body + len};
    matrix_builder m = {NULL, 0, 0, 0, 0};
    rc = parse_matrix(&s, &m, key, nested, max_rows, max_dim, err);
    if (rc != VDB_OK) {
        vdb_free(m.data);
        return rc;
    }
    size_t head = (size_t)(value - body), tail = (size_t)(body + len - s.p);
    char *rest = vdb_malloc(head + 4 + tail + 1);
    if (rest == NULL) {
        vdb_free(m.data);
        return vdb_error_set(err, VDB_ENOMEM, "out of memory");
    }
    memcpy(rest, body, head);
    memcpy(rest + head, "null", 4);
    memcpy(rest + head + 4, s.p, tail);
    rest[head + 4 + tail] = '\0';
    out->data = m.data;
    out->rows = m.rows;
    out->dim = m.dim;
    out->rest = rest;
    out->rest_len = head + 4 + tail;
    return VDB_OK;
}
