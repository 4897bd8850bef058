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

static int parse_one(const char *num, float *out)
{
    char body[256];
    vdb_floatmatrix m;
    vdb_error err;
    snprintf(body, sizeof(body), "{\"q\": [%s]}", num);
    int rc = vdb_floatparse_member(body, strlen(body), "q", 0, 1, 8192, &m, &err);
    if (rc == VDB_OK) {
        *out = m.data[0];
        vdb_floatmatrix_free(&m);
    }
    return rc;
}

static void expect_same(const char *num)
{
    float got = 0, want = strtof(num, NULL);
    int rc = parse_one(num, &got);
    if (!isfinite(want)) {
        assert_int_not_equal(rc, VDB_OK);
        return;
    }
    assert_int_equal(rc, VDB_OK);
    if (memcmp(&got, &want, sizeof(float)) != 0) {
        fprintf(stderr, "mismatch for %s: got %.9g want %.9g\n", num, got, want);
        fail();
    }
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
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(parse_one(bad[i], &v), VDB_EPARSE);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_matches_strtof),
        cmocka_unit_test(test_edges),
        cmocka_unit_test(test_member_scan),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
