/* backup/zipio's reading contract on its own: the open returns its code
 * (not only through the optional error record), and vdb_zipio_read writes
 * its outputs on success only: a missing member, a member whose bytes fail
 * their CRC and an allocation failure each leave the caller's *out and
 * *len as they were. Before, the read set them to NULL/0 on entry, which
 * the sentinel checks below catch. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "store_testutil.h"

#include "backup/zipio.h"
#include "core/alloc.h"

TU_ROOT_FIXTURE("zipio", -1)

#define BODY 4096

static const vdb_zip_limits limits = {8, 1 << 20, 4 << 20, 1000, 0};

/* An archive with one stored member "data.bin" (BODY bytes holding the
 * word MARKER once) and one deflated "note.txt", read back into memory. */
static unsigned char *make_archive(size_t *len)
{
    static char body[BODY];
    char path[600];
    memset(body, 'x', sizeof(body));
    memcpy(body + BODY / 2, "MARKER", 6);
    vdb_zip_member m[2] = {{"data.bin", NULL, body, sizeof(body), 0},
                           {"note.txt", NULL, "hello", 5, 1}};
    tu_path(path, sizeof(path), root, "a.zip");
    unlink(path);
    assert_int_equal(vdb_zipio_write(path, m, 2, NULL), VDB_OK);
    unsigned char *buf = tu_slurp(path, len);
    assert_non_null(buf);
    return buf;
}

static void test_open_returns_its_code(void **state)
{
    (void)state;
    static const char junk[] = "this is not a zip archive at all";
    vdb_zipio *zip = (vdb_zipio *)junk; /* must come back NULL */
    assert_int_equal(vdb_zipio_open_buffer(junk, sizeof(junk), &limits, &zip, NULL), VDB_EPARSE);
    assert_null(zip);
    size_t len;
    unsigned char *buf = make_archive(&len);
    vdb_zip_limits one = limits;
    one.max_entries = 1;
    assert_int_equal(vdb_zipio_open_buffer(buf, len, &one, &zip, NULL), VDB_EINVAL);
    assert_null(zip);
    vdb_alloc_fail_at(1, 0);
    int rc = vdb_zipio_open_buffer(buf, len, &limits, &zip, NULL);
    vdb_alloc_fail_at(0, 0);
    assert_int_equal(rc, VDB_ENOMEM);
    assert_null(zip);
    assert_int_equal(vdb_zipio_open_buffer(buf, len, &limits, &zip, NULL), VDB_OK);
    assert_non_null(zip);
    vdb_zipio_close(zip);
    free(buf);
}

static void test_read_outputs_on_success_only(void **state)
{
    (void)state;
    size_t len;
    unsigned char *buf = make_archive(&len);
    vdb_zipio *zip = NULL;
    vdb_error err;
    char sentinel[] = "untouched";
    char *out = sentinel;
    size_t n = 12345;
    assert_int_equal(vdb_zipio_open_buffer(buf, len, &limits, &zip, &err), VDB_OK);

    /* A member that is not there. */
    assert_int_equal(vdb_zipio_read(zip, "absent.bin", &out, &n, &err), VDB_ENOTFOUND);
    assert_ptr_equal(out, sentinel);
    assert_int_equal(n, 12345);

    /* No memory for the member's buffer. */
    vdb_alloc_fail_at(1, 0);
    int rc = vdb_zipio_read(zip, "note.txt", &out, &n, NULL);
    vdb_alloc_fail_at(0, 0);
    assert_int_equal(rc, VDB_ENOMEM);
    assert_ptr_equal(out, sentinel);
    assert_int_equal(n, 12345);

    /* Success writes both. */
    assert_int_equal(vdb_zipio_read(zip, "note.txt", &out, &n, &err), VDB_OK);
    assert_int_equal(n, 5);
    assert_string_equal(out, "hello");
    vdb_free(out);
    vdb_zipio_close(zip);

    /* Stored bytes that fail their CRC: the directory still opens, the
     * read is refused and the outputs stay. */
    unsigned char *mark = memmem(buf, len, "MARKER", 6);
    assert_non_null(mark);
    mark[0] = 'm';
    out = sentinel;
    n = 12345;
    assert_int_equal(vdb_zipio_open_buffer(buf, len, &limits, &zip, &err), VDB_OK);
    assert_int_equal(vdb_zipio_read(zip, "data.bin", &out, &n, &err), VDB_EPARSE);
    assert_ptr_equal(out, sentinel);
    assert_int_equal(n, 12345);
    vdb_zipio_close(zip);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_returns_its_code),
        cmocka_unit_test(test_read_outputs_on_success_only),
    };
    return cmocka_run_group_tests(tests, tu_root_setup, tu_root_teardown);
}
