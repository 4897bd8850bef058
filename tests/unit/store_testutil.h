/* Helpers shared by the durable-store tests: temporary directories,
 * deterministic batches, whole-file copies and byte edits. Test-only code
 * (plain libc allocation is fine here). */
#ifndef VDB_TESTS_STORE_TESTUTIL_H
#define VDB_TESTS_STORE_TESTUTIL_H

#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "store/store.h"

static int tu_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static inline void tu_rm_rf(const char *path)
{
    nftw(path, tu_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A fresh directory under $TMPDIR (or /tmp); `out` gets its path. */
static inline void tu_tmpdir(char *out, size_t cap, const char *tag)
{
    const char *base = getenv("TMPDIR");
    snprintf(out, cap, "%s/vdb-%s-XXXXXX", base && *base ? base : "/tmp", tag);
    if (mkdtemp(out) == NULL) {
        perror("mkdtemp");
        abort();
    }
}

/* Deterministic vector component for (batch, row, col): exact in float. */
static inline float tu_value(uint32_t batch, uint32_t row, uint32_t col)
{
    uint32_t h = batch * 2654435761u ^ row * 40503u ^ col * 2246822519u;
    h ^= h >> 15;
    h *= 2246822519u;
    h ^= h >> 13;
    return (float)((int32_t)(h % 20001u) - 10000) / 1024.0f;
}

static inline void tu_fill(float *v, uint32_t batch, uint32_t rows, uint32_t dim)
{
    for (uint32_t r = 0; r < rows; r++)
        for (uint32_t c = 0; c < dim; c++)
            v[(size_t)r * dim + c] = tu_value(batch, r, c);
}

static inline long tu_file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* Reads a whole file into a malloc'd buffer. */
static inline unsigned char *tu_slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf;
    long size;
    *len = 0;
    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)size + 1);
    if (buf != NULL && fread(buf, 1, (size_t)size, f) != (size_t)size) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    *len = (size_t)size;
    return buf;
}

static inline int tu_spit(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    int ok;
    if (f == NULL)
        return -1;
    ok = fwrite(data, 1, len, f) == len;
    return fclose(f) == 0 && ok ? 0 : -1;
}

/* Copies every regular file of `from` into the (existing) dir `to`. */
static inline void tu_copy_dir(const char *from, const char *to)
{
    static const char *names[] = {"store.json", "vectors.npz", "metadata.jsonl", "wal.log"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char src[1024], dst[1024];
        unsigned char *buf;
        size_t len;
        snprintf(src, sizeof(src), "%s/%s", from, names[i]);
        snprintf(dst, sizeof(dst), "%s/%s", to, names[i]);
        if ((buf = tu_slurp(src, &len)) != NULL) {
            tu_spit(dst, buf, len);
            free(buf);
        }
    }
}

/* Directories for one simulated power cut of a store copied from
 * `pristine`: `dir` (pristine-run) gets a fresh copy of its files to run
 * on, `image` (pristine-img) is emptied for the simulator's post-cut image. */
static inline void tu_cut_dirs(const char *pristine, char *dir, size_t dir_cap, char *image,
                               size_t image_cap)
{
    snprintf(dir, dir_cap, "%s-run", pristine);
    snprintf(image, image_cap, "%s-img", pristine);
    tu_rm_rf(dir);
    tu_rm_rf(image);
    mkdir(dir, 0755);
    tu_copy_dir(pristine, dir);
}

/* The group fixture most store test files share: every test of the file
 * works under `root`, a fresh directory made before the first test and
 * removed after the last. The setup also sets the log level (ERROR or OFF
 * keeps the warnings a test provokes on purpose out of its output; -1
 * leaves it alone). At file scope:
 *     TU_ROOT_FIXTURE("wal", VDB_LOG_ERROR)
 * then cmocka_run_group_tests(tests, tu_root_setup, tu_root_teardown). */
#define TU_ROOT_FIXTURE(tag, log_level)                                                    \
    static char root[512];                                                                 \
    static int tu_root_setup(void **state)                                                 \
    {                                                                                      \
        (void)state;                                                                       \
        tu_tmpdir(root, sizeof(root), (tag));                                              \
        if ((int)(log_level) >= 0)                                                         \
            vdb_log_set_level((vdb_log_level)(log_level));                                 \
        return 0;                                                                          \
    }                                                                                      \
    static int tu_root_teardown(void **state)                                              \
    {                                                                                      \
        (void)state;                                                                       \
        tu_rm_rf(root);                                                                    \
        return 0;                                                                          \
    }

static inline void tu_path(char *out, size_t cap, const char *dir, const char *name)
{
    snprintf(out, cap, "%s/%s", dir, name);
}

/* vdb_store_open / vdb_store_create as expressions (the store, or NULL), for
 * tests whose subject is not the returned code. Each holds the call to its
 * contract: VDB_OK exactly when a store comes back, and an error record,
 * when given, carrying the returned code. abort(), not a cmocka assert:
 * crash tests call these in forked children. */
static inline void tu_store_contract(int rc, const vdb_store *store, const vdb_error *err)
{
    if ((rc == VDB_OK) != (store != NULL) || (err != NULL && rc != VDB_OK && err->code != rc)) {
        fprintf(stderr, "store contract broken: code %d, store %p, error record %d (%s)\n", rc,
                (const void *)store, err ? err->code : 0, err ? err->msg : "");
        abort();
    }
}

static inline vdb_store *tu_store_open(const char *dir, const vdb_store_options *options,
                                       vdb_error *err)
{
    vdb_store *store = NULL;
    int rc = vdb_store_open(dir, options, &store, err);
    tu_store_contract(rc, store, err);
    return store;
}

static inline vdb_store *tu_store_create(const char *dir, const vdb_store_config *config,
                                         const vdb_store_options *options, vdb_error *err)
{
    vdb_store *store = NULL;
    int rc = vdb_store_create(dir, config, options, &store, err);
    tu_store_contract(rc, store, err);
    return store;
}

#endif
