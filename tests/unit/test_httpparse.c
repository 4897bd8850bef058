/* The HTTP request parser (api/httpparse) and the token buckets
 * (api/ratelimit): what is refused and why, the query string with decoded
 * NULs and invalid UTF-8, chunked decoding fed one byte at a time, and the
 * bucket arithmetic. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "api/httpparse.h"
#include "api/ratelimit.h"

static int parse(const char *text, vdb_http_head *head)
{
    static char buf[8192];
    char why[160];
    size_t len = strlen(text);
    memcpy(buf, text, len + 1);
    return vdb_httpparse_head(buf, len - 2, head, why, sizeof(why));
}

static void test_head_ok(void **state)
{
    vdb_http_head head;
    (void)state;
    assert_int_equal(parse("POST /vectors/add?user_id=a%20b&k=5&x HTTP/1.1\r\n"
                           "Host: x\r\nContent-Length: 12\r\nX-API-Key:  k1 \r\n\r\n",
                           &head),
                     0);
    assert_string_equal(head.method, "POST");
    assert_string_equal(head.path, "/vectors/add");
    assert_int_equal(head.content_length, 12);
    assert_int_equal(head.keep_alive, 1);
    assert_string_equal(vdb_httpparse_field(&head, "x-api-key"), "k1");
    assert_string_equal(vdb_httpparse_arg(&head, "user_id"), "a b");
    assert_string_equal(vdb_httpparse_arg(&head, "k"), "5");
    assert_string_equal(vdb_httpparse_arg(&head, "x"), "");
    assert_null(vdb_httpparse_arg(&head, "nope"));
    assert_int_equal(head.bad_arg, 0);
    assert_int_equal(parse("GET / HTTP/1.0\r\n\r\n", &head), 0);
    assert_int_equal(head.keep_alive, 0);
    assert_int_equal(parse("POST / HTTP/1.1\r\nTransfer-Encoding: Chunked\r\n\r\n", &head), 0);
    assert_int_equal(head.chunked, 1);
    assert_int_equal(parse("POST / HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\n",
                           &head),
                     0);
}

static void test_head_refused(void **state)
{
    vdb_http_head head;
    (void)state;
    const char *bad400[] = {
        "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: 2, 2\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 5\r\n\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n",
        "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
        "GET / HTTP/1.1\r\nX: a\r\n folded\r\n\r\n",
        "GET / HTTP/1.1\r\nBad Name: a\r\n\r\n",
        "GET / HTTP/1.1\r\n: a\r\n\r\n",
        "GET / HTTP/1.1\r\nX: a\x01b\r\n\r\n",
        "GET  / HTTP/1.1\r\n\r\n",
        "GET noslash HTTP/1.1\r\n\r\n",
        "GET /a%00b HTTP/1.1\r\n\r\n",
        "GET /%ff HTTP/1.1\r\n\r\n",
        "G(T / HTTP/1.1\r\n\r\n",
    };
    for (size_t i = 0; i < sizeof(bad400) / sizeof(bad400[0]); i++) {
        int status = parse(bad400[i], &head);
        if (status != 400)
            fail_msg("case %zu: %d", i, status);
    }
    assert_int_equal(parse("GET / HTTP/2.0\r\n\r\n", &head), 505);
    assert_int_equal(parse("GET / HTTP/1.1\r\nExpect: 200-ok\r\n\r\n", &head), 417);
    /* A NUL inside the head (e.g. in X-API-Key) refuses the request. */
    char buf[64] = "GET / HTTP/1.1\r\nX-API-Key: k\0junk\r\n\r\n";
    char why[160];
    vdb_http_head h2;
    assert_int_equal(vdb_httpparse_head(buf, 35, &h2, why, sizeof(why)), 400);
}

static void test_query_nul_and_utf8(void **state)
{
    vdb_http_head head;
    (void)state;
    assert_int_equal(parse("GET /c?user_id=u%00../../etc&model_id=m HTTP/1.1\r\n\r\n", &head), 0);
    assert_int_equal(head.bad_arg, 1);
    assert_string_equal(head.bad_arg_name, "user_id");
    assert_int_equal(parse("GET /c?model_id=%c0%af HTTP/1.1\r\n\r\n", &head), 0);
    assert_int_equal(head.bad_arg, 1);
    assert_int_equal(parse("GET /c?model_id=%e2%82%ac HTTP/1.1\r\n\r\n", &head), 0);
    assert_int_equal(head.bad_arg, 0);
    assert_true(vdb_httpparse_utf8_ok("\xf0\x9f\x98\x80", 4));
    assert_false(vdb_httpparse_utf8_ok("\xed\xa0\x80", 3)); /* surrogate */
    assert_false(vdb_httpparse_utf8_ok("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
    assert_false(vdb_httpparse_utf8_ok("\xe2\x82", 2));
}

static int chunk_all(const char *in, size_t len, char *out, size_t *out_len, int bytewise)
{
    vdb_http_chunker c;
    memset(&c, 0, sizeof(c));
    *out_len = 0;
    size_t pos = 0;
    while (pos < len) {
        size_t avail = bytewise ? 1 : len - pos, used = 0, n = 0;
        const char *data = NULL, *why = NULL;
        int rc = vdb_httpparse_chunk(&c, in + pos, avail, &used, &data, &n, &why);
        if (rc == VDB_HTTP_CHUNK_BAD)
            return -1;
        if (rc == VDB_HTTP_CHUNK_DATA) {
            memcpy(out + *out_len, data, n);
            *out_len += n;
        }
        pos += used;
        if (rc == VDB_HTTP_CHUNK_DONE)
            return 1;
    }
    return 0;
}

static void test_chunked(void **state)
{
    char out[256];
    size_t n;
    (void)state;
    const char *ok = "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nTrailer: x\r\n\r\n";
    for (int bytewise = 0; bytewise < 2; bytewise++) {
        assert_int_equal(chunk_all(ok, strlen(ok), out, &n, bytewise), 1);
        assert_int_equal(n, 11);
        assert_memory_equal(out, "hello world", 11);
    }
    assert_int_equal(chunk_all("ffffffffffffffff\r\nabc", 21, out, &n, 0), -1);
    assert_int_equal(chunk_all("zz\r\n", 4, out, &n, 0), -1);
    assert_int_equal(chunk_all("3\r\nabcX\r\n", 9, out, &n, 0), -1);
    assert_int_equal(chunk_all("3\nabc\r\n", 7, out, &n, 0), -1);
    assert_int_equal(chunk_all("3\r\nab", 5, out, &n, 0), 0); /* needs more */
}

static void test_ratelimit(void **state)
{
    vdb_error err;
    vdb_ratelimit_result r;
    double rates[2] = {2, 0}, bursts[2] = {2, 0};
    (void)state;
    vdb_ratelimit *l = NULL;
    double many[VDB_RATELIMIT_CLASSES + 1] = {0};
    assert_int_equal(vdb_ratelimit_new(many, many, VDB_RATELIMIT_CLASSES + 1, &l, NULL),
                     VDB_EINVAL);
    assert_null(l);
    assert_int_equal(vdb_ratelimit_new(rates, bursts, 2, &l, &err), VDB_OK);
    assert_non_null(l);
    assert_true(vdb_ratelimit_take(l, 0, "a", 100.0, &r));
    assert_int_equal(r.limit, 2);
    assert_int_equal(r.remaining, 1);
    assert_true(vdb_ratelimit_take(l, 0, "a", 100.0, &r));
    assert_false(vdb_ratelimit_take(l, 0, "a", 100.0, &r));
    assert_int_equal(r.remaining, 0);
    assert_true(r.retry_after_s > 0.49 && r.retry_after_s < 0.51);
    assert_true(vdb_ratelimit_take(l, 0, "b", 100.0, &r)); /* own bucket */
    assert_true(vdb_ratelimit_take(l, 0, "a", 100.5, &r)); /* refilled one */
    assert_false(vdb_ratelimit_take(l, 0, "a", 100.5, &r));
    for (int i = 0; i < 1000; i++) /* class 1 is unlimited */
        assert_true(vdb_ratelimit_take(l, 1, "a", 100.5, &r));
    /* Many identities: the table stays bounded and fails open when full. */
    char id[32];
    for (int i = 0; i < 100000; i++) {
        snprintf(id, sizeof(id), "peer%d", i);
        vdb_ratelimit_take(l, 0, id, 200.0, &r);
    }
    assert_true(vdb_ratelimit_take(l, 0, "fresh", 200.0, &r));
    vdb_ratelimit_free(l);
    vdb_ratelimit_free(NULL);
}

/* The one multipart/form-data reader (h_zip's and h_batch's uploads). */
static void test_form_part(void **state)
{
    (void)state;
    static const char body[] =
        "preamble\r\n--XyZ\r\n"
        "Content-Disposition: form-data; filename=\"file\"; name=\"meta\"\r\n\r\n"
        "m1\r\n--XyZ\r\n"
        "Content-Disposition: form-data; name=\"profile\"\r\n\r\n"
        "not it\r\n--XyZ\r\n"
        "Content-Disposition: form-data; name=file; filename=\"a;b.zip\"\r\n"
        "content-type:  application/zip\r\n\r\n"
        "PK\r\n--Xy\r\n--XyZ--\r\n";
    const char *type = "multipart/form-data; boundary=\"XyZ\"", *why, *v;
    size_t n = sizeof(body) - 1, vlen;
    vdb_http_part part;

    assert_int_equal(vdb_httpparse_form_part(type, body, n, "file", &part, &why), VDB_HTTP_FORM_OK);
    assert_int_equal(part.len, 8);
    assert_memory_equal(part.data, "PK\r\n--Xy", 8); /* a delimiter needs the whole boundary */
    v = vdb_httpparse_part_field(&part, "Content-Type", &vlen);
    assert_non_null(v);
    assert_int_equal(vlen, 15);
    assert_memory_equal(v, "application/zip", 15);
    assert_null(vdb_httpparse_part_field(&part, "Content-Length", &vlen));
    assert_int_equal(vdb_httpparse_form_part(type, body, n, "meta", &part, &why), VDB_HTTP_FORM_OK);
    assert_memory_equal(part.data, "m1", part.len); /* filename="file" is not name="file" */
    assert_int_equal(part.len, 2);
    assert_int_equal(vdb_httpparse_form_part(type, body, n, "fil", &part, &why), VDB_HTTP_FORM_NO_PART);
    assert_int_equal(vdb_httpparse_form_part(type, body, n, "pro", &part, &why), VDB_HTTP_FORM_NO_PART);
    /* The first delimiter may open the body; a truncated last part is missing. */
    static const char first[] = "--b\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\n1\r\n--b--";
    assert_int_equal(vdb_httpparse_form_part("multipart/form-data; boundary=b", first,
                                             sizeof(first) - 1, "x", &part, &why),
                     VDB_HTTP_FORM_OK);
    assert_int_equal(part.len, 1);
    assert_int_equal(vdb_httpparse_form_part("multipart/form-data; boundary=b", first,
                                             sizeof(first) - 8, "x", &part, &why),
                     VDB_HTTP_FORM_NO_PART);
    assert_int_equal(vdb_httpparse_form_part("application/zip", body, n, "file", &part, &why),
                     VDB_HTTP_FORM_NOT_MULTIPART);
    assert_int_equal(vdb_httpparse_form_part(NULL, body, n, "file", &part, &why),
                     VDB_HTTP_FORM_NOT_MULTIPART);
    assert_int_equal(vdb_httpparse_form_part("multipart/form-data", body, n, "file", &part, &why),
                     VDB_HTTP_FORM_BAD);
    assert_string_equal(why, "multipart body without a boundary");
    assert_int_equal(vdb_httpparse_form_part("multipart/form-data; boundary=\"\"", body, n, "file",
                                             &part, &why),
                     VDB_HTTP_FORM_BAD);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_head_ok),      cmocka_unit_test(test_head_refused),
        cmocka_unit_test(test_query_nul_and_utf8), cmocka_unit_test(test_chunked),
        cmocka_unit_test(test_ratelimit),  cmocka_unit_test(test_form_part),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
