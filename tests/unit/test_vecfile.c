/* vectors.npz on its own: round trip (read, norms, mmap, CRC verify) with
 * and without ZIP64, numpy reading both forms and vdb reading an npz that
 * numpy wrote, the page-aligned data offset, and hostile files (every
 * truncation, flipped header bytes) refused with VDB_ECORRUPT, never a
 * crash (the ASan run checks the "never"). Also metadata.jsonl round trip
 * with escapes and the slow-path parser. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "store_testutil.h"

#include "core/alloc.h"
#include "core/npy.h"
#include "store/meta.h"
#include "core/limits.h"
#include "store/vecfile.h"

#define ROWS 300
#define DIM 7

TU_ROOT_FIXTURE("vecfile", -1)
static float data[ROWS * DIM];

static const float *row_fn(void *ctx, size_t i, float *norm)
{
    (void)ctx;
    *norm = (float)i + 0.5f;
    return data + i * DIM;
}

static int python_ok(void)
{
    return access("/usr/bin/python3", X_OK) == 0;
}

/* vdb_vecfile_open, holding it to its contract: a failure is a negative
 * code, equal to err's when err is given, and leaves *out untouched. */
static vdb_vecfile *open_file(const char *path, vdb_error *err)
{
    vdb_vecfile *const untouched = (vdb_vecfile *)(void *)data;
    vdb_vecfile *f = untouched;
    int rc = vdb_vecfile_open(path, &f, err);
    if (rc == VDB_OK) {
        assert_true(f != NULL && f != untouched);
        return f;
    }
    assert_true(rc < 0);
    assert_ptr_equal(f, untouched);
    if (err != NULL)
        assert_int_equal(err->code, rc);
    return NULL;
}

static void check_file(const char *path)
{
    vdb_error err;
    vdb_vecfile *f = open_file(path, &err);
    float rows[ROWS * DIM], norms[ROWS];
    if (f == NULL)
        fail_msg("%s", err.msg);
    assert_int_equal(vdb_vecfile_rows(f), ROWS);
    assert_int_equal(vdb_vecfile_dim(f), DIM);
    assert_true(vdb_vecfile_has_norms(f));
    assert_int_equal(vdb_vecfile_data_offset(f), VDB_VECFILE_DATA_ALIGN);
    assert_int_equal(vdb_vecfile_read_rows(f, 0, ROWS, rows, NULL), VDB_OK);
    assert_memory_equal(rows, data, sizeof(rows));
    assert_int_equal(vdb_vecfile_read_norms(f, 0, ROWS, norms, NULL), VDB_OK);
    assert_true(norms[ROWS - 1] == (float)(ROWS - 1) + 0.5f);
    assert_int_equal(vdb_vecfile_read_rows(f, ROWS - 1, 2, rows, &err), VDB_ERANGE);
    assert_int_equal(vdb_vecfile_verify(f, NULL), VDB_OK);
    vdb_vecfile_close(f);
}

static void test_round_trip_and_numpy(void **state)
{
    char plain[600], zip64[600], cmd[8192];
    (void)state;
    for (size_t i = 0; i < ROWS * DIM; i++)
        data[i] = tu_value(3, (uint32_t)(i / DIM), (uint32_t)(i % DIM));
    tu_path(plain, sizeof(plain), root, "plain.npz");
    tu_path(zip64, sizeof(zip64), root, "zip64.npz");
    assert_int_equal(vdb_vecfile_write(plain, DIM, ROWS, row_fn, NULL, 0, NULL), VDB_OK);
    assert_int_equal(
        vdb_vecfile_write(zip64, DIM, ROWS, row_fn, NULL, VDB_VECFILE_FORCE_ZIP64, NULL), VDB_OK);
    check_file(plain);
    check_file(zip64);
    if (!python_ok()) {
        print_message("skipping numpy checks: /usr/bin/python3 missing\n");
        return;
    }
    /* numpy reads both forms and sees the same matrix; then vdb reads an
     * npz that numpy wrote (not page-aligned: no mmap, read path). */
    snprintf(cmd, sizeof(cmd),
             "/usr/bin/python3 -c \"import numpy as np, zipfile, sys\n"
             "a = np.load('%s', allow_pickle=False)['vectors']\n"
             "b = np.load('%s', allow_pickle=False)['vectors']\n"
             "assert a.shape == (%d, %d) and a.dtype == np.float32\n"
             "assert np.array_equal(a, b)\n"
             "z = zipfile.ZipFile('%s'); assert z.testzip() is None\n"
             "assert z.infolist()[0].file_size == %d * %d * 4 + 128\n"
             "np.savez('%s/numpy.npz', vectors=a)\n"
             "a.tofile('%s/raw.f32')\"",
             plain, zip64, ROWS, DIM, zip64, ROWS, DIM, root, root);
    assert_int_equal(system(cmd), 0);
    {
        char path[600];
        vdb_error err;
        vdb_vecfile *f;
        float rows[ROWS * DIM];
        unsigned char *raw;
        size_t len = 0;
        tu_path(path, sizeof(path), root, "raw.f32");
        raw = tu_slurp(path, &len);
        assert_int_equal(len, sizeof(data));
        assert_memory_equal(raw, data, sizeof(data));
        free(raw);
        tu_path(path, sizeof(path), root, "numpy.npz");
        f = open_file(path, &err);
        if (f == NULL)
            fail_msg("%s", err.msg);
        assert_false(vdb_vecfile_has_norms(f));
        assert_int_equal(vdb_vecfile_read_rows(f, 0, ROWS, rows, NULL), VDB_OK);
        assert_memory_equal(rows, data, sizeof(rows));
        /* numpy does not align the data: the store reads such a file
         * instead of mapping it (snapshot.c). */
        assert_true(vdb_vecfile_data_offset(f) % VDB_VECFILE_DATA_ALIGN != 0);
        assert_int_equal(vdb_vecfile_verify(f, NULL), VDB_OK);
        vdb_vecfile_close(f);
    }
}

static void test_hostile_files(void **state)
{
    char good[600], bad[600];
    unsigned char *buf;
    size_t len = 0, refused = 0;
    (void)state;
    tu_path(good, sizeof(good), root, "plain.npz");
    tu_path(bad, sizeof(bad), root, "bad.npz");
    buf = tu_slurp(good, &len);
    assert_non_null(buf);
    /* Every truncation loses the end-of-central-directory: refused. */
    for (size_t cut = 0; cut < len; cut += (cut < 200 || cut > len - 200) ? 1 : 97) {
        vdb_error err;
        vdb_vecfile *f;
        tu_spit(bad, buf, cut);
        f = open_file(bad, &err);
        if (f != NULL)
            fail_msg("truncated to %zu bytes and still opened", cut);
        assert_int_equal(err.code, VDB_ECORRUPT);
    }
    /* Flipped bytes in the structures: refused or (when the byte does not
     * matter, e.g. a timestamp) accepted, never a crash or an overrun. */
    size_t spots[] = {0, 4, 8, 14, 18, 22, 26, 28, 16384 - 128 + 1, 16384 - 128 + 8,
                      16384 - 128 + 20, 16384 - 128 + 50, 16384 - 128 + 60};
    for (size_t s = 0; s < sizeof(spots) / sizeof(spots[0]); s++)
        for (int bit = 0; bit < 8; bit++) {
            vdb_vecfile *f;
            buf[spots[s]] ^= (unsigned char)(1 << bit);
            tu_spit(bad, buf, len);
            buf[spots[s]] ^= (unsigned char)(1 << bit);
            f = open_file(bad, NULL);
            if (f == NULL) {
                refused++;
                continue;
            }
            float row[DIM];
            if (vdb_vecfile_rows(f) > 0 && vdb_vecfile_dim(f) == DIM)
                vdb_vecfile_read_rows(f, vdb_vecfile_rows(f) - 1, 1, row, NULL);
            vdb_vecfile_close(f);
        }
    /* The central directory is at the end: scramble it. */
    for (size_t i = len - 150; i < len - 22; i++)
        buf[i] = (unsigned char)(i * 29);
    tu_spit(bad, buf, len);
    assert_null(open_file(bad, NULL));
    /* The code comes back without an err to read it from. */
    vdb_vecfile *none = NULL;
    assert_int_equal(vdb_vecfile_open(bad, &none, NULL), VDB_ECORRUPT);
    tu_path(bad, sizeof(bad), root, "missing.npz");
    assert_int_equal(vdb_vecfile_open(bad, &none, NULL), VDB_ENOTFOUND);
    assert_null(none);
    assert_true(refused > 20);
    free(buf);
}

typedef struct meta_rows {
    const char *ids[4];
    const char *metas[4];
    size_t seen;
    int ok;
} meta_rows;

static void meta_row(void *ctx, size_t i, const char **id, const char **meta)
{
    meta_rows *m = ctx;
    *id = m->ids[i];
    *meta = m->metas[i];
}

static int meta_line(void *ctx, size_t i, const char *id, const char *meta, vdb_error *err)
{
    meta_rows *m = ctx;
    (void)err;
    if (strcmp(id, m->ids[i]) != 0 ||
        (m->metas[i] == NULL ? meta != NULL : meta == NULL || strcmp(meta, m->metas[i]) != 0))
        m->ok = 0;
    m->seen++;
    return 0;
}

static void test_metadata_jsonl(void **state)
{
    char path[600];
    meta_rows m = {{"plain", "quote\"back\\slash", "ctl\x01\ttab", "utf8-\xc3\xa9\xe2\x82\xac"},
                   {"{\"a\":1}", NULL, "{\"nested\":{\"x\":[1,2,\"}\"]}}", "{}"},
                   0,
                   1};
    uint32_t crc;
    uint64_t size;
    vdb_error err;
    (void)state;
    tu_path(path, sizeof(path), root, "metadata.jsonl");
    assert_int_equal(vdb_meta_write(path, 4, meta_row, &m, &crc, &size, NULL), VDB_OK);
    assert_int_equal(tu_file_size(path), (long)size);
    assert_int_equal(vdb_meta_read(path, 4, 1, size, crc, meta_line, &m, &err), VDB_OK);
    assert_int_equal(m.seen, 4);
    assert_true(m.ok);
    /* Wrong CRC, wrong count: corrupt. */
    assert_int_equal(vdb_meta_read(path, 4, 1, size, crc ^ 1, meta_line, &m, &err), VDB_ECORRUPT);
    assert_int_equal(vdb_meta_read(path, 3, 0, 0, 0, meta_line, &m, &err), VDB_ECORRUPT);
    /* Another spelling of the same lines goes through the JSON parser. */
    const char *other = "{ \"metadata\": {\"a\": 1}, \"id\": \"plain\" }\n"
                        "{\"id\": \"quote\\\"back\\\\slash\"}\n";
    tu_spit(path, other, strlen(other));
    m.seen = 0;
    m.ok = 1;
    assert_int_equal(vdb_meta_read(path, 2, 0, 0, 0, meta_line, &m, &err), VDB_OK);
    assert_true(m.ok);
    const char *garbage = "{\"id\":\"a\",\"metadata\":{}}\n[1,2]\n";
    tu_spit(path, garbage, strlen(garbage));
    assert_int_equal(vdb_meta_read(path, 2, 0, 0, 0, meta_line, &m, &err), VDB_ECORRUPT);
    if (strstr(err.msg, "offset 25") == NULL)
        fail_msg("message: %s", err.msg);
    assert_true(vdb_meta_valid_utf8("\xc3\xa9", 2));
    assert_false(vdb_meta_valid_utf8("\xc3", 1));
    assert_false(vdb_meta_valid_utf8("\xed\xa0\x80", 3)); /* surrogate */
    assert_false(vdb_meta_valid_utf8("\xc0\xaf", 2));     /* overlong */
}

/* Replaces the .npy dict's shape `from` with `to` in place, using the
 * header's space padding (the dict ends with "}" and spaces, then '\n'). */
static void patch_shape(unsigned char *buf, size_t len, const char *from, const char *to)
{
    size_t flen = strlen(from), tlen = strlen(to);
    for (size_t i = 0; i + flen < len; i++) {
        if (memcmp(buf + i, from, flen) != 0)
            continue;
        size_t end = i;
        while (end < len && buf[end] != '\n')
            end++;
        assert_true(end - i >= tlen);
        memset(buf + i, ' ', end - i);
        memcpy(buf + i, to, tlen);
        return;
    }
    fail_msg("shape %s not found", from);
}

/* A shape whose byte count is just under 2^64 (rows 2^62 - 1 of one float):
 * the old check added the header length to it, wrapped around to a small
 * number and accepted the file. */
static void test_shape_overflow(void **state)
{
    char good[600], bad[600];
    unsigned char *buf;
    size_t len = 0;
    vdb_error err;
    (void)state;
    tu_path(good, sizeof(good), root, "plain.npz");
    tu_path(bad, sizeof(bad), root, "huge.npz");
    buf = tu_slurp(good, &len);
    assert_non_null(buf);
    patch_shape(buf, len, "'shape': (300, 7), }", "'shape': (4611686018427387903, 1), }");
    patch_shape(buf, len, "'shape': (300,), }", "'shape': (4611686018427387903,), }");
    tu_spit(bad, buf, len);
    free(buf);
    vdb_vecfile *f = open_file(bad, &err);
    if (f != NULL) {
        vdb_vecfile_close(f);
        fail_msg("a (2^62 - 1) x 1 array in a %zu-byte file was accepted", len);
    }
    assert_int_equal(err.code, VDB_ECORRUPT);
    /* No rows but a dimension no store has (the npy fuzzer's find: a
     * reader sized a per-dimension buffer from it, 4.7 GB). */
    tu_path(bad, sizeof(bad), root, "wide.npz");
    assert_int_equal(vdb_vecfile_write(bad, VDB_MAX_DIM + 1, 0, row_fn, NULL, 0, NULL), VDB_OK);
    f = open_file(bad, &err);
    if (f != NULL) {
        vdb_vecfile_close(f);
        fail_msg("a 0 x %u array was accepted", VDB_MAX_DIM + 1);
    }
    assert_int_equal(err.code, VDB_ECORRUPT);
    assert_non_null(strstr(err.msg, "above the limit"));
}

/* An upload held in memory: the rows are read in place (no copy) when
 * they are float-aligned in the buffer, refused in place (NULL, the caller
 * copies) when they are not; a file-backed vecfile never lends its rows;
 * every truncation of the buffer is refused, never read past. */
static void test_buffer_rows_in_place(void **state)
{
    char header[256];
    vdb_error err;
    (void)state;
    size_t head = vdb_npy_build(header, sizeof(header), "<f4", ROWS, DIM, 2);
    assert_true(head > 0);
    size_t len = head + sizeof(data);
    unsigned char *buf = vdb_aligned_alloc(64, len + 1);
    memcpy(buf, header, head);
    memcpy(buf + head, data, sizeof(data));
    vdb_vecfile *f;
    assert_int_equal(vdb_vecfile_open_buffer(buf, len, "upload", &f, &err), VDB_OK);
    assert_non_null(f);
    const float *rows = vdb_vecfile_buffer_rows(f);
    assert_ptr_equal(rows, (const void *)(buf + head));
    assert_memory_equal(rows, data, sizeof(data));
    vdb_vecfile_close(f);
    /* The same bytes one byte further on: the floats are misaligned. */
    memmove(buf + 1, buf, len);
    assert_int_equal(vdb_vecfile_open_buffer(buf + 1, len, "upload", &f, &err), VDB_OK);
    assert_non_null(f);
    assert_null(vdb_vecfile_buffer_rows(f));
    float copy[ROWS * DIM];
    assert_int_equal(vdb_vecfile_read_rows(f, 0, ROWS, copy, &err), VDB_OK);
    assert_memory_equal(copy, data, sizeof(data));
    vdb_vecfile_close(f);
    memmove(buf, buf + 1, len);
    for (size_t cut = 0; cut < len; cut += (cut < head + 8 ? 1 : 97)) {
        unsigned char *part = vdb_malloc(cut ? cut : 1);
        memcpy(part, buf, cut);
        /* Every cut is a damaged file, with or without an error record. */
        assert_int_equal(vdb_vecfile_open_buffer(part, cut, "upload", &f, &err), VDB_ECORRUPT);
        assert_null(f);
        assert_int_equal(vdb_vecfile_open_buffer(part, cut, "upload", &f, NULL), VDB_ECORRUPT);
        vdb_free(part);
    }
    vdb_aligned_free(buf);
    /* A file never lends its rows. */
    char path[600];
    snprintf(path, sizeof(path), "%s/lend.npz", root);
    assert_int_equal(vdb_vecfile_write(path, DIM, ROWS, row_fn, NULL, 0, NULL), VDB_OK);
    f = open_file(path, &err);
    assert_non_null(f);
    assert_null(vdb_vecfile_buffer_rows(f));
    vdb_vecfile_close(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_and_numpy),
        cmocka_unit_test(test_hostile_files),
        cmocka_unit_test(test_shape_overflow),
        cmocka_unit_test(test_buffer_rows_in_place),
        cmocka_unit_test(test_metadata_jsonl),
    };
    return cmocka_run_group_tests(tests, tu_root_setup, tu_root_teardown);
}
