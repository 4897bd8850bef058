/* floatparse: the fast float path must equal strtof bit for bit (random
 * decimal strings of every shape, float32 round trips, halfway cases,
 * huge/tiny exponents), and its grammar must match JSON's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/floatparse.h"
#include "core/alloc.h"
#include "core/rng.h"

/* num alone in a short body ("{\"q\": [num]}"), or padded: followed by a
 * second number and room, as inside a big body. Both shapes reach every
 * branch of the number parser whatever lookahead it might use. */
static int parse_in(const char *num, int padded, float *out)
{
    char body[256];
    vdb_floatmatrix m;
    vdb_error err;
    snprintf(body, sizeof(body), padded ? "{\"q\": [%s,                                 7]}"
                                        : "{\"q\": [%s]}", num);
    int rc = vdb_floatparse_member(body, strlen(body), "q", 0, 1, 8192, &m, &err);
    if (rc == VDB_OK) {
        assert_true(m.rows == 1 && m.dim == (padded ? 2u : 1u));
        *out = m.data[0];
        vdb_floatmatrix_free(&m);
    }
    return rc;
}

static int parse_one(const char *num, float *out)
{
    return parse_in(num, 0, out);
}

static int parse_padded(const char *num, float *out)
{
    return parse_in(num, 1, out);
}

static void expect_same(const char *num)
{
    float want = strtof(num, NULL);
    for (int lane = 0; lane < 2; lane++) {
        float got = 0;
        int rc = lane ? parse_padded(num, &got) : parse_one(num, &got);
        if (!isfinite(want)) {
            assert_int_not_equal(rc, VDB_OK);
            continue;
        }
        if (rc != VDB_OK)
            fprintf(stderr, "refused %s (%s)\n", num, lane ? "padded" : "short");
        assert_int_equal(rc, VDB_OK);
        if (memcmp(&got, &want, sizeof(float)) != 0) {
            fprintf(stderr, "mismatch for %s (%s): got %.9g want %.9g\n", num,
                    lane ? "padded" : "short", got, want);
            fail();
        }
    }
}

/* Decimals at and around the rounding boundary just below every power of
 * two (half as far from it as the boundary above): the double estimate
 * can land on the wrong side of it, and only a check of both boundaries
 * sends those to strtof. Before that check "0.9999999701976776" (just
 * under 1 - 2^-25) came back 1.0; strtof gives 0.99999994. */
static void test_power_of_two_boundaries(void **state)
{
    char num[64];
    static const char *fmt[] = {"%.17g", "%.16g", "%.15g", "%.10g", "%.9g", "%.25g"};
    (void)state;
    expect_same("0.9999999701976776");
    for (int k = -125; k <= 127; k++) {
        float f = ldexpf(1.0f, k), prev = nextafterf(f, 0.0f);
        double lo = ((double)f + (double)prev) / 2;
        double around[] = {lo, nextafter(lo, 0.0), nextafter(lo, INFINITY),
                           nextafter(nextafter(lo, 0.0), 0.0),
                           nextafter(nextafter(lo, INFINITY), INFINITY)};
        for (size_t i = 0; i < sizeof(around) / sizeof(around[0]); i++)
            for (size_t j = 0; j < sizeof(fmt) / sizeof(fmt[0]); j++) {
                snprintf(num, sizeof(num), fmt[j], around[i]);
                if (strchr(num, 'n') || strchr(num, 'i'))
                    continue;
                for (char *p = num; *p; p++)
                    if (*p == 'e' && p[1] == '+')
                        memmove(p + 1, p + 2, strlen(p + 2) + 1);
                expect_same(num);
            }
    }
    /* The top: FLT_MAX's upper boundary is overflow, decided by strtof. */
    expect_same("3.4028235677973366e38");
    expect_same("3.4028235677973362e38");
    expect_same("3.40282356779733661637539395458142568448e38");
}

static void test_random_matches_strtof(void **state)
{
    vdb_rng rng;
    char num[128];
    (void)state;
    vdb_rng_seed(&rng, 1);
    for (int i = 0; i < 300000; i++) {
        switch (i % 4) {
        case 0: { /* float32 values printed as Python prints their double */
            uint32_t bits = (uint32_t)vdb_rng_next(&rng);
            float f;
            memcpy(&f, &bits, 4);
            if (!isfinite(f))
                continue;
            snprintf(num, sizeof(num), "%.17g", (double)f);
            break;
        }
        case 1: /* uniform [0,1) with 17 digits, as numpy tolist gives */
            snprintf(num, sizeof(num), "%.17g", vdb_rng_uniform(&rng));
            break;
        case 2: /* random digit strings with random exponents */
            snprintf(num, sizeof(num), "%s%llu.%llue%d", (i & 8) ? "-" : "",
                     (unsigned long long)vdb_rng_below(&rng, 100000),
                     (unsigned long long)vdb_rng_next(&rng),
                     (int)vdb_rng_below(&rng, 100) - 60);
            break;
        default: { /* halfway points between adjacent floats */
            uint32_t bits = (uint32_t)vdb_rng_below(&rng, 0x7f000000u);
            float a, b;
            memcpy(&a, &bits, 4);
            b = nextafterf(a, INFINITY);
            snprintf(num, sizeof(num), "%.25g", ((double)a + (double)b) / 2);
            break;
        }
        }
        for (char *p = num; *p; p++)
            if (*p == 'e' && p[1] == '+')
                memmove(p + 1, p + 2, strlen(p + 2) + 1);
        if (strchr(num, 'n') || strchr(num, 'i'))
            continue;
        expect_same(num);
    }
}

static void test_edges(void **state)
{
    static const char *same[] = {"0",     "-0",     "1",         "0.1",      "1e-45",
                                 "1e-46", "3.4028234e38", "3.4028236e38", "1e-38", "123456789012345678901234567890",
                                 "0.000000000000000000000000000000000000000000001", "1E+2", "1e0"};
    (void)state;
    for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++)
        expect_same(same[i]);
    static const char *bad[] = {"01", "1.", ".5", "-", "1e", "1e+", "+1", "0x10", "NaN", "Infinity"};
    float v;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(parse_one(bad[i], &v), VDB_EPARSE);
        assert_int_equal(parse_padded(bad[i], &v), VDB_EPARSE);
    }
    /* Shapes around the eight-digit chunks: runs of exactly 8 and 16
     * digits, 3-digit exponents, long integer parts, many leading zeros,
     * more than 19 digits. */
    static const char *lane[] = {"0.12345678", "0.1234567812345678", "-0.30000001192092896",
                                 "1.2345678e-05", "-9.87654321E+37", "1.5e-045", "1234567.5",
                                 "12345678.5", "0.00000000000000001234567", "1.00000000000000000001",
                                 "123456789012345678901234", "0.0", "-0.0e5", "4e0", "1e-38"};
    for (size_t i = 0; i < sizeof(lane) / sizeof(lane[0]); i++)
        expect_same(lane[i]);
    static const char *badlane[] = {"01.5", "1.e5", "1.5e", "1.5e+", "-.5", "--1", "1.5e+-3",
                                    "00", "-01"};
    for (size_t i = 0; i < sizeof(badlane) / sizeof(badlane[0]); i++)
        assert_int_equal(parse_padded(badlane[i], &v), VDB_EPARSE);
    assert_int_equal(parse_one("1e39", &v), VDB_EINVAL); /* not a finite float32 */
    assert_int_equal(parse_one("\"1\"", &v), VDB_EINVAL);
}

static void test_member_scan(void **state)
{
    vdb_floatmatrix m;
    vdb_error err;
    (void)state;
    const char *body = "{\"a\": \"\\\"q\\\": [[1]]\", \"n\": {\"q\": [[5]]}, \"q\": [[1, 2], [3, 4]], \"z\": 1}";
    assert_int_equal(vdb_floatparse_member(body, strlen(body), "q", 1, 10, 8, &m, &err), VDB_OK);
    assert_int_equal(m.rows, 2);
    assert_int_equal(m.dim, 2);
    assert_true(m.data[3] == 4.0f);
    assert_string_equal(m.rest, "{\"a\": \"\\\"q\\\": [[1]]\", \"n\": {\"q\": [[5]]}, \"q\": null, \"z\": 1}");
    vdb_floatmatrix_free(&m);
    const char *ragged = "{\"q\": [[1, 2], [3]]}";
    assert_int_equal(vdb_floatparse_member(ragged, strlen(ragged), "q", 1, 10, 8, &m, &err), VDB_EDIM);
    const char *dup = "{\"q\": [[1]], \"q\": [[2]]}";
    /* The first member is taken; the duplicate stays in the rest, where the
     * JSON adapter refuses it (e2e: test_fast_path_duplicate_member). */
    assert_int_equal(vdb_floatparse_member(dup, strlen(dup), "q", 1, 10, 8, &m, &err), VDB_OK);
    assert_string_equal(m.rest, "{\"q\": null, \"q\": [[2]]}");
    vdb_floatmatrix_free(&m);
    const char *absent = "{\"x\": [[1]]}";
    assert_int_equal(vdb_floatparse_member(absent, strlen(absent), "q", 1, 10, 8, &m, &err), VDB_ENOTFOUND);
    const char *toomany = "{\"q\": [[1], [2], [3]]}";
    assert_int_equal(vdb_floatparse_member(toomany, strlen(toomany), "q", 1, 2, 8, &m, &err), VDB_EINVAL);
}

/* Hostile bodies: every prefix of a valid body is refused or read as
 * something else, never read past its end (ASan builds check the reads);
 * rows that grow after a short first one outrun the reservation and must
 * still come back whole; a huge body behind a one-number first row is
 * capped at max_rows. */
static void test_hostile_and_reservation(void **state)
{
    vdb_floatmatrix m;
    vdb_error err;
    char *body = malloc(1 << 16);
    (void)state;
    strcpy(body, "{\"vectors\": [[1.5, -2], [3e2, 4.25e-1], [0, 0.125], "
                 "[-0.30000001192092896, 1.2345678e-05], [12345.678E+3, 0.5e1]], \"k\": 3}");
    size_t full = strlen(body);
    for (size_t cut = 0; cut < full; cut++) {
        char *copy = malloc(cut + 1); /* exactly `cut` bytes plus the NUL a body carries */
        memcpy(copy, body, cut);
        copy[cut] = '\0';
        int rc = vdb_floatparse_member(copy, cut, "vectors", 1, 100, 8, &m, &err);
        if (rc == VDB_OK) {
            /* Only a cut after the array can still parse it. */
            assert_true(cut >= (size_t)(strstr(body, ", \"k\"") - body));
            assert_int_equal(m.rows, 5);
            vdb_floatmatrix_free(&m);
        }
        free(copy);
    }
    /* First row "[1]" then rows of 64 long numbers: far past the guess. */
    size_t at = (size_t)sprintf(body, "{\"vectors\": [[1]");
    for (int r = 1; r < 50; r++)
        at += (size_t)sprintf(body + at, ", [%s]", "0.12345678901234567");
    sprintf(body + at, "]}");
    assert_int_equal(vdb_floatparse_member(body, strlen(body), "vectors", 1, 100, 8, &m, &err),
                     VDB_OK);
    assert_int_equal(m.rows, 50);
    assert_true(m.data[49] == strtof("0.12345678901234567", NULL));
    vdb_floatmatrix_free(&m);
    /* A 1-component first row ahead of 60 KB: the reservation stops at
     * max_rows (5), and the sixth row is refused. */
    at = (size_t)sprintf(body, "{\"vectors\": [[1]");
    while (at < 60000)
        at += (size_t)sprintf(body + at, ", [2]");
    sprintf(body + at, "]}");
    assert_int_equal(vdb_floatparse_member(body, strlen(body), "vectors", 1, 5, 8, &m, &err),
                     VDB_EINVAL);
    /* Ragged after a reservation: the row is named. */
    strcpy(body, "{\"vectors\": [[1, 2], [3, 4], [5]]}");
    assert_int_equal(vdb_floatparse_member(body, strlen(body), "vectors", 1, 10, 8, &m, &err),
                     VDB_EDIM);
    assert_non_null(strstr(err.msg, "vectors[2]"));
    /* Non-finite and non-numbers deep in a big matrix are named too. */
    strcpy(body, "{\"vectors\": [[1, 2], [3, 1e39]]}");
    assert_int_equal(vdb_floatparse_member(body, strlen(body), "vectors", 1, 10, 8, &m, &err),
                     VDB_EINVAL);
    assert_non_null(strstr(err.msg, "vectors[1][1]"));
    strcpy(body, "{\"vectors\": [[1, 2], [3, null]]}");
    assert_int_equal(vdb_floatparse_member(body, strlen(body), "vectors", 1, 10, 8, &m, &err),
                     VDB_EINVAL);
    strcpy(body, "{\"vectors\": [[1, 2], [3, 4,]]}");
    assert_int_equal(vdb_floatparse_member(body, strlen(body), "vectors", 1, 10, 8, &m, &err),
                     VDB_EPARSE);
    free(body);
}

/* A body of `rows` x `dim` numbers as Python prints float32 rows, large
 * enough for the parallel row parser (over 1 MiB after the first row);
 * `tail` goes after the matrix. Values are remembered in `want`. */
static char *big_body(size_t rows, size_t dim, const char *tail, float *want, size_t *len)
{
    size_t cap = 64 + rows * dim * 32 + strlen(tail), at = 0;
    char *body = malloc(cap);
    vdb_rng rng;
    assert_non_null(body);
    vdb_rng_seed(&rng, 11);
    at += (size_t)sprintf(body, "{\"vectors\": [");
    for (size_t r = 0; r < rows; r++) {
        at += (size_t)sprintf(body + at, "%s[", r ? (r % 3 ? ", " : ",\n ") : "");
        for (size_t c = 0; c < dim; c++) {
            float v = (float)(vdb_rng_uniform(&rng) * 4 - 2);
            if (c % 97 == 5)
                v *= 1e-6f; /* exponent forms too */
            if (c)
                body[at++] = ',';
            size_t start = at;
            at += (size_t)sprintf(body + at, "%.17g", (double)v);
            want[r * dim + c] = strtof(body + start, NULL);
        }
        body[at++] = ']';
    }
    at += (size_t)sprintf(body + at, "]%s", tail);
    *len = at;
    return body;
}

/* The parallel row parser (floatparse.c parse_rest_parallel): every value
 * and the rest of the body as the serial parser gives them, with text
 * after the matrix that looks like row boundaries ("], [") so that cuts
 * land past the matrix; max_rows still counted; and a malformed, ragged,
 * non-finite or oversized row anywhere in the middle gives the serial
 * parser's error, naming the same row (the bytes are re-parsed serially). */
static void test_parallel_rows(void **state)
{
    enum { ROWS = 700, DIM = 384 };
    vdb_floatmatrix m;
    vdb_error err;
    size_t len;
    float *want = malloc(sizeof(float) * ROWS * DIM);
    (void)state;
    char tail[200000];
    strcpy(tail, ", \"note\": \"");
    for (size_t at = strlen(tail); at < sizeof(tail) - 16; at += 8)
        memcpy(tail + at, "], [1, ", 8);
    strcpy(tail + sizeof(tail) - 16, "\", \"k\": 3}");
    char *body = big_body(ROWS, DIM, tail, want, &len);
    assert_true(len > (3u << 20));
    assert_int_equal(vdb_floatparse_member(body, len, "vectors", 1, 100000, 8192, &m, &err),
                     VDB_OK);
    assert_int_equal(m.rows, ROWS);
    assert_int_equal(m.dim, DIM);
    assert_memory_equal(m.data, want, sizeof(float) * ROWS * DIM);
    assert_non_null(strstr(m.rest, "{\"vectors\": null, \"note\": \"], [1, "));
    assert_int_equal(m.rest_len, strlen(m.rest));
    vdb_floatmatrix_free(&m);
    assert_int_equal(vdb_floatparse_member(body, len, "vectors", 1, ROWS - 1, 8192, &m, &err),
                     VDB_EINVAL);
    assert_non_null(strstr(err.msg, "more than 699 rows"));

    /* One row in the middle spoiled in place, each way. */
    struct {
        const char *with;
        int rc;
        const char *msg;
    } spoil[] = {
        {"1.e5", VDB_EPARSE, "malformed JSON in vectors[517][3]"},
        {"null", VDB_EINVAL, "vectors[517][3] is not a number"},
        {"1e39", VDB_EINVAL, "vectors[517][3] (1e39) is not a finite float32"},
        {"1]", VDB_EDIM, "vectors[517] has 4 components, expected 384"},
        {"1,]", VDB_EPARSE, "malformed JSON in vectors[517][4]"},
        {"1 2", VDB_EPARSE, "malformed JSON in vectors[517]"},
        {"1]]", VDB_EDIM, "vectors[517] has 4 components, expected 384"},
    };
    char *row = body;
    for (int r = -1; r <= 517; r++) /* the matrix's own "[" first */
        row = strchr(row + 1, '[');
    char *num = row;
    for (int c = 0; c < 3; c++)
        num = strchr(num, ',') + 1;
    size_t numlen = strcspn(num, ",]");
    for (size_t i = 0; i < sizeof(spoil) / sizeof(spoil[0]); i++) {
        char *copy = malloc(len + 1);
        memcpy(copy, body, len + 1);
        char *at = copy + (num - body);
        memset(at, ' ', numlen);
        memcpy(at, spoil[i].with, strlen(spoil[i].with));
        vdb_error_clear(&err);
        assert_int_equal(vdb_floatparse_member(copy, len, "vectors", 1, 100000, 8192, &m, &err),
                         spoil[i].rc);
        if (strcmp(err.msg, spoil[i].msg) != 0) {
            fprintf(stderr, "spoiled with %s: got \"%s\"\n", spoil[i].with, err.msg);
            fail();
        }
        free(copy);
    }
    free(body);
    free(want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_matches_strtof),
        cmocka_unit_test(test_edges),
        cmocka_unit_test(test_power_of_two_boundaries),
        cmocka_unit_test(test_member_scan),
        cmocka_unit_test(test_hostile_and_reservation),
        cmocka_unit_test(test_parallel_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
