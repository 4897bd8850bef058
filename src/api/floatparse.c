/* Float-array fast path for request bodies (see floatparse.h).
 *
 * Two passes over the bytes: a skip-scanner finds the top-level member
 * (respecting strings, escapes and nesting, so a "vectors" inside a string
 * or a nested object is never mistaken for it), then the number parser
 * reads the array in place. Numbers are checked against the JSON grammar
 * by hand and converted with strtof on the checked span; values that
 * overflow float32 are refused, so nothing non-finite gets through.
 *
 * Tried and not kept (issue 12, measured with build/floatparse_bench at
 * VDB_THREADS=1): a row path that first finds the row's commas 64 bytes at
 * a time (SSE2), so that every number's span is known before it is
 * converted, and reads [-]d.ddd spans as three masked 8-byte chunks ending
 * at the span's end. It was 10-25% slower than this serial loop (8.1-9.1 vs
 * 7.1-7.6 ms per 1,000 x 384 body): the loop is not bound by finding the next
 * number; the conversion and its rounding check are most of it. */
#include "floatparse.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../core/alloc.h"
#include "../core/pool.h"

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

/* Exact powers of ten up to 1e22 (doubles represent them exactly); the
 * rest are the nearest doubles. */
static const double pow10_table[] = {
    1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14,
    1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22, 1e23, 1e24, 1e25, 1e26, 1e27, 1e28, 1e29,
    1e30, 1e31, 1e32, 1e33, 1e34, 1e35, 1e36, 1e37, 1e38, 1e39, 1e40, 1e41, 1e42, 1e43, 1e44,
    1e45, 1e46, 1e47, 1e48, 1e49, 1e50, 1e51, 1e52, 1e53, 1e54, 1e55, 1e56, 1e57, 1e58, 1e59,
    1e60};

/* Nearest doubles to 10^-i: multiplying by them instead of dividing by
 * 10^i adds at most half an ulp, which the halfway check below covers. */
static const double neg_pow10_table[] = {
    1e-0,  1e-1,  1e-2,  1e-3,  1e-4,  1e-5,  1e-6,  1e-7,  1e-8,  1e-9,  1e-10, 1e-11, 1e-12,
    1e-13, 1e-14, 1e-15, 1e-16, 1e-17, 1e-18, 1e-19, 1e-20, 1e-21, 1e-22, 1e-23, 1e-24, 1e-25,
    1e-26, 1e-27, 1e-28, 1e-29, 1e-30, 1e-31, 1e-32, 1e-33, 1e-34, 1e-35, 1e-36, 1e-37, 1e-38,
    1e-39, 1e-40, 1e-41, 1e-42, 1e-43, 1e-44, 1e-45, 1e-46, 1e-47, 1e-48, 1e-49, 1e-50, 1e-51,
    1e-52, 1e-53, 1e-54, 1e-55, 1e-56, 1e-57, 1e-58, 1e-59, 1e-60};

/* SWAR digit helpers (little-endian). */
/* How many of the 8 bytes, from the first (lowest) one, are '0'..'9'. A
 * byte x ^ '0' above 9 gets its top bit set by + 0x76 or has it already;
 * a carry out of a byte >= 0x8A only disturbs bytes after the first
 * non-digit, which the count does not look at. */
static inline unsigned leading_digits(uint64_t v)
{
    uint64_t x = v ^ 0x3030303030303030ull;
    uint64_t nondigit = ((x + 0x7676767676767676ull) | x) & 0x8080808080808080ull;
    return nondigit == 0 ? 8 : (unsigned)__builtin_ctzll(nondigit) >> 3;
}

static const uint64_t pow10_u64[9] = {1,      10,      100,      1000,     10000,
                                      100000, 1000000, 10000000, 100000000};

static inline uint32_t parse_eight(uint64_t v)
{
    v -= 0x3030303030303030ull;
    v = (v * 10) + (v >> 8);
    v = (((v & 0x000000FF000000FFull) * (100 + (1000000ull << 32))) +
         (((v >> 16) & 0x000000FF000000FFull) * (1 + (10000ull << 32)))) >> 32;
    return (uint32_t)v;
}

/* 1 when the double d (within a few ulp of the exact decimal) is far
 * enough from both rounding boundaries of f = (float)d that the exact
 * decimal rounds to f as well. f > 0, finite. Both boundaries are checked:
 * just below a power of two the lower one is half as far away as the
 * upper one (checking only the upper gap let a decimal just under
 * 1 - 2^-25 come out as 1.0 where strtof gives 0.99999994). */
static inline int clear_of_halfway(double d, float f)
{
    uint32_t bits;
    float next, prev;
    memcpy(&bits, &f, sizeof(bits));
    bits++;
    memcpy(&next, &bits, sizeof(next));
    if (!isfinite(next))
        return 0; /* f is FLT_MAX: past its upper boundary lies overflow; strtof decides */
    bits -= 2; /* f > 0: bits >= 1, so this is the float below f (or +0) */
    memcpy(&prev, &bits, sizeof(prev));
    double hi = ((double)f + (double)next) / 2, lo = ((double)f + (double)prev) / 2;
    double margin = d * 1e-14;
    return fabs(d - hi) > margin && fabs(d - lo) > margin;
}

#define LOW29 ((1ull << 29) - 1) /* a double's mantissa bits below float32's */
#define HALF29 (1ull << 28)
#define HALF_MARGIN 128ull

/* The rare case (a halfway point, a huge exponent): strtof on a copy. Out
 * of line, so the common path keeps a small stack frame. */
__attribute__((noinline)) static size_t by_strtof(const char *p, size_t span, float *out)
{
    char buf[512];
    if (span >= sizeof(buf))
        return 0;
    memcpy(buf, p, span);
    buf[span] = '\0';
    *out = strtof(buf, NULL);
    return span;
}

/* The value mantissa x 10^exp10 (the number's text is p[0..span), its
 * sign given by neg) as float32, written to *out; returns span (0 when the
 * text is too long for the strtof fallback). See parse_number. */
__attribute__((always_inline)) static inline size_t finish_number(uint64_t mantissa, int exp10,
                                                                 int neg, const char *p,
                                                                 size_t span, float *out)
{
    if (mantissa == 0) {
        *out = neg ? -0.0f : 0.0f;
        return span;
    }
    if (exp10 >= -60 && exp10 <= 60) {
        double d = (double)mantissa;
        d = exp10 >= 0 ? d * pow10_table[exp10] : d * neg_pow10_table[-exp10];
        float f = (float)d;
        uint64_t bits;
        memcpy(&bits, &d, sizeof(bits));
        int binade = (int)(bits >> 52) - 1023;
        /* Common case, in integers: d in float32's normal range, its 29
         * bits below float precision more than HALF_MARGIN double ulps from
         * the halfway pattern 1000...0 (a float rounding boundary in d's
         * binade). d is within ~2 ulp of the exact decimal, so the decimal
         * lies on the same side of every boundary and rounds to f too. The
         * margin is above the 1e-14 relative one of clear_of_halfway (45-90
         * ulp), so this sends at least as much to the careful check. */
        if (binade >= -126 && binade <= 127 && isfinite(f) &&
            ((bits & LOW29) - (HALF29 - HALF_MARGIN)) > 2 * HALF_MARGIN) {
            *out = neg ? -f : f;
            return span;
        }
        if (isfinite(f) && f != 0.0f) {
            if (clear_of_halfway(d, f)) {
                *out = neg ? -f : f;
                return span;
            }
        } else if (!isfinite(f) && d > ((double)FLT_MAX + 0x1p103) * (1 + 1e-14)) {
            /* Clearly past FLT_MAX's upper rounding boundary (FLT_MAX + half
             * its ulp): overflow, as strtof says. Nearer than that strtof
             * decides (3.4028235677973366e38 is still FLT_MAX). */
            *out = neg ? -f : f;
            return span;
        }
    }
    return by_strtof(p, span, out);
}

/* Checks the JSON number grammar at p and converts it to float32. Returns
 * the number's length, or 0 when it is not a JSON number.
 *
 * The value is computed as (up to 19 significant digits) x 10^e in double
 * precision: at most two roundings, so the double is within ~2 ulp of the
 * exact decimal, far tighter than float32's precision. Rounding that
 * double to float can only differ from correctly rounding the decimal when
 * the double sits right at a float halfway point; that case (and any
 * exponent beyond 10^+-60) goes to strtof, so the result always equals
 * strtof's, at a fraction of its cost. */
static size_t parse_number(const char *p, const char *end, float *out)
{
    const char *q = p;
    uint64_t mantissa = 0;
    int digits = 0, exp10 = 0, neg = 0;
    if (q < end && *q == '-')
        neg = 1, q++;
    if (q >= end)
        return 0;
    if (*q == '0') {
        q++;
    } else if (*q >= '1' && *q <= '9') {
        for (; q < end && *q >= '0' && *q <= '9'; q++) {
            if (digits < 19)
                mantissa = mantissa * 10 + (uint64_t)(*q - '0'), digits++;
            else
                exp10++;
        }
    } else {
        return 0;
    }
    if (q < end && *q == '.') {
        const char *frac = ++q;
        if (mantissa == 0)
            for (; q < end && *q == '0'; q++)
                exp10--; /* leading zeros of 0.000123 carry no digits */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        /* Up to eight digits at a time, the last chunk too: its digit count
         * comes from the first non-digit byte, and the digits are shifted to
         * the chunk's low end with '0's in front, so a number's tail costs
         * the same work whatever its length (a digit-by-digit tail was a
         * loop exit the branch predictor missed on most numbers). */
        while (end - q >= 8) {
            uint64_t chunk;
            memcpy(&chunk, q, sizeof(chunk));
            unsigned n = leading_digits(chunk);
            if (n == 0 || digits + (int)n > 19)
                break;
            if (n < 8)
                chunk = (chunk << (8 * (8 - n))) | (0x3030303030303030ull >> (8 * n));
            mantissa = mantissa * pow10_u64[n] + parse_eight(chunk);
            digits += (int)n;
            exp10 -= (int)n;
            q += n;
            if (n < 8)
                break;
        }
#endif
        for (; q < end && *q >= '0' && *q <= '9'; q++) {
            if (digits < 19) {
                mantissa = mantissa * 10 + (uint64_t)(*q - '0'), digits++;
                exp10--;
            }
        }
        if (q == frac)
            return 0;
    }
    if (q < end && (*q == 'e' || *q == 'E')) {
        int eneg = 0, e = 0;
        q++;
        if (q < end && (*q == '+' || *q == '-'))
            eneg = *q++ == '-';
        const char *edigits = q;
        for (; q < end && *q >= '0' && *q <= '9'; q++)
            if (e < 100000)
                e = e * 10 + (*q - '0');
        if (q == edigits)
            return 0;
        exp10 += eneg ? -e : e;
    }
    return finish_number(mantissa, exp10, neg, p, (size_t)(q - p), out);
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

/* After the first row: room for as many rows as the rest of the body
 * could hold at that row's length (+1/8, at most max_rows), so a 1,000-row batch fills one
 * allocation instead of doubling its way up through eight. Only a guess:
 * push() still grows past it, and it is capped by the body size. */
static int reserve_rows(matrix_builder *m, const scanner *s, const char *first_row,
                        size_t max_rows)
{
    size_t row_bytes = (size_t)(s->p - first_row), want;
    if (row_bytes == 0 || m->dim == 0)
        return 0;
    size_t rows = (size_t)(s->end - s->p) / row_bytes + 1;
    rows += rows / 8;
    if (rows > max_rows)
        rows = max_rows;
    if (vdb_mul_size(rows, m->dim, &want) != 0 || want <= m->cap)
        return 0;
    float *grown = vdb_realloc(m->data, want * sizeof(float));
    if (grown == NULL)
        return -1;
    m->data = grown;
    m->cap = want;
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
        float v;
        skip_ws(s);
        size_t span = parse_number(s->p, s->end, &v);
        if (span == 0) {
            if (s->p < s->end && (*s->p == '"' || *s->p == 't' || *s->p == 'f' ||
                                  *s->p == 'n' || *s->p == '[' || *s->p == '{'))
                return vdb_error_set(err, VDB_EINVAL, "%s[%zu][%zu] is not a number", key, row, n);
            return vdb_error_set(err, VDB_EPARSE, "malformed JSON in %s[%zu][%zu]", key, row, n);
        }
        if (!isfinite(v))
            return vdb_error_set(err, VDB_EINVAL, "%s[%zu][%zu] (%.*s) is not a finite float32", key,
                                 row, n, (int)(span < 40 ? span : 40), s->p);
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

/* Parallel parse of the rows after the first (issue 12): a 1,000 x 384
 * body is ~8 MB and ~10 ms of number parsing on one core, most of a JSON
 * add's CPU. The rest of the array is cut into slices at row boundaries
 * ("]" "," "[" with any whitespace: inside the matrix there are no strings
 * or nested values, so that pattern only occurs between rows); each slice
 * parses its rows into its own buffer on the process-wide pool, stopping
 * exactly at the next slice's first row or at the matrix's "]". The result
 * is used only if every slice up to the matrix's end parsed cleanly, each
 * ending exactly where the next began, within max_rows: anything else --
 * a syntax error, a ragged or non-finite row, a cut that landed past the
 * matrix -- throws the slices away and the serial loop parses the body
 * again from row 1, so errors, their messages and their row indexes are
 * exactly the serial parser's. */
#define PAR_MIN_BYTES (1u << 20)      /* rest of the array below this: serial */
#define PAR_SLICE_BYTES (256u << 10)  /* at least this much per slice */
#define PAR_MAX_SLICES 64

typedef struct par_slice {
    const char *start, *next; /* first row's "["; the next slice's (NULL: last) */
    const char *stop;         /* where parsing stopped (after "]" if ended) */
    int ok, ended;            /* parsed cleanly; reached the matrix's "]" */
    matrix_builder m;
} par_slice;

typedef struct par_job {
    par_slice *slices;
    const char *end;
    uint32_t dim;
    size_t row_bytes;
    size_t max_rows; /* a slice past this many rows gives up (the serial parse names it) */
} par_job;

static void slice_task(void *arg, size_t task, int worker)
{
    par_job *job = arg;
    par_slice *sl = &job->slices[task];
    scanner s = {sl->start, job->end};
    vdb_error quiet; /* a failure's message is the serial re-parse's to give */
    (void)worker;
    sl->m.dim = job->dim;
    size_t span = (size_t)((sl->next ? sl->next : job->end) - sl->start);
    size_t guess = span / job->row_bytes + 2;
    guess = (guess < job->max_rows ? guess : job->max_rows) * job->dim;
    if ((sl->m.data = vdb_malloc(guess * sizeof(float))) != NULL)
        sl->m.cap = guess;
    for (;;) {
        /* row index 1: "not the first row", so the length must be dim */
        if (sl->m.rows >= job->max_rows ||
            parse_row(&s, &sl->m, "", 1, job->dim, &quiet) != VDB_OK)
            return;
        skip_ws(&s);
        if (s.p < s.end && *s.p == ']') {
            sl->stop = ++s.p;
            sl->ended = sl->ok = 1;
            return;
        }
        if (s.p >= s.end || *s.p != ',')
            return;
        s.p++;
        skip_ws(&s);
        if (sl->next != NULL && s.p >= sl->next) {
            sl->stop = s.p;
            sl->ok = s.p == sl->next;
            return;
        }
    }
}

/* The first row start at or after `from`: the "[" after "]" "," (with
 * whitespace), or NULL. */
static const char *next_row_start(const char *from, const char *end)
{
    while (from < end) {
        const char *close = memchr(from, ']', (size_t)(end - from));
        if (close == NULL)
            return NULL;
        scanner s = {close + 1, end};
        skip_ws(&s);
        if (s.p < s.end && *s.p == ',') {
            s.p++;
            skip_ws(&s);
            if (s.p < s.end && *s.p == '[')
                return s.p;
        }
        from = close + 1;
    }
    return NULL;
}

/* After row 0 (s just past its "]"): returns 1 when the rest of the
 * matrix was parsed in parallel (s past the matrix's "]", every row in m),
 * 0 to parse serially (nothing changed), -1 when out of memory. */
static int parse_rest_parallel(scanner *s, matrix_builder *m, const char *first_row,
                               size_t max_rows)
{
    vdb_pool *pool = vdb_pool_global();
    size_t rest = (size_t)(s->end - s->p);
    int threads = vdb_pool_threads(pool);
    if (threads < 2 || rest < PAR_MIN_BYTES)
        return 0;
    scanner peek = *s;
    skip_ws(&peek);
    if (peek.p >= peek.end || *peek.p != ',')
        return 0;
    peek.p++;
    skip_ws(&peek);
    if (peek.p >= peek.end || *peek.p != '[')
        return 0;
    size_t nslices = rest / PAR_SLICE_BYTES;
    if (nslices > (size_t)threads * 4)
        nslices = (size_t)threads * 4;
    if (nslices > PAR_MAX_SLICES)
        nslices = PAR_MAX_SLICES;
    par_slice slices[PAR_MAX_SLICES];
    memset(slices, 0, sizeof(slices));
    slices[0].start = peek.p;
    size_t count = 1;
    for (size_t t = 1; t < nslices; t++) {
        const char *start = next_row_start(s->p + t * (rest / nslices), s->end);
        if (start == NULL)
            break;
        if (start > slices[count - 1].start)
            slices[count++].start = start;
    }
    for (size_t t = 0; t + 1 < count; t++)
        slices[t].next = slices[t + 1].start;
    par_job job = {slices, s->end, m->dim, (size_t)(s->p - first_row), max_rows};
    vdb_pool_run(pool, count, slice_task, &job);
    /* Slices up to the one that reached the matrix's end must all be
     * clean; later ones started past the matrix and are ignored. */
    int result = 0;
    size_t used = 0, rows = m->rows, want;
    for (; used < count; used++) {
        if (!slices[used].ok)
            break;
        rows += slices[used].m.rows;
        if (slices[used].ended) {
            result = 1;
            used++;
            break;
        }
    }
    if (result == 1 && (rows > max_rows || vdb_mul_size(rows, m->dim, &want) != 0))
        result = 0; /* the serial parse names the row past max_rows */
    if (result == 1 && want > m->cap) {
        float *grown = vdb_realloc(m->data, want * sizeof(float));
        if (grown == NULL) {
            result = -1;
        } else {
            m->data = grown;
            m->cap = want;
        }
    }
    if (result == 1) {
        for (size_t t = 0; t < used; t++) {
            memcpy(m->data + m->count, slices[t].m.data, slices[t].m.count * sizeof(float));
            m->count += slices[t].m.count;
        }
        m->rows = rows;
        s->p = slices[used - 1].stop;
    }
    for (size_t t = 0; t < count; t++)
        vdb_free(slices[t].m.data);
    return result;
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
    const char *first_row = s->p;
    for (size_t row = 0;; row++) {
        if (row >= max_rows)
            return vdb_error_set(err, VDB_EINVAL, "%s has more than %zu rows", key, max_rows);
        int rc = parse_row(s, m, key, row, max_dim, err);
        if (rc != VDB_OK)
            return rc;
        if (row == 0 && reserve_rows(m, s, first_row, max_rows) != 0)
            return vdb_error_set(err, VDB_ENOMEM, "out of memory parsing %s", key);
        if (row == 0) {
            int par = parse_rest_parallel(s, m, first_row, max_rows);
            if (par < 0)
                return vdb_error_set(err, VDB_ENOMEM, "out of memory parsing %s", key);
            if (par > 0)
                return VDB_OK;
        }
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
            /* Stop here: a second member of the same name stays in the
             * rest of the body, where the JSON adapter refuses the
             * duplicate key. */
            *value_start = s.p;
            return VDB_OK;
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
    /* The member's value may be missing at the very end ("{\"vectors\":"):
     * never read body[len] (found by tests/fuzz/fuzz_json.c). */
    if (rc != VDB_OK || value >= body + len || *value != '[')
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
