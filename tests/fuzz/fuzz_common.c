/* See fuzz_common.h. */
#include "fuzz_common.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../src/core/alloc.h"
#include "../../src/core/log.h"
#include "../../src/filter/filter.h"
#include "../../src/store/store_index.h"

static char tmpdir[PATH_MAX];
size_t fuzz_accepted;

void fuzz_join(char *out, size_t cap, const char *dir, const char *name)
{
    size_t a = dir ? strlen(dir) : 0, b = strlen(name);
    if (a + 1 + b + 1 > cap) {
        fprintf(stderr, "fuzz: path too long: %s/%s\n", dir ? dir : "", name);
        abort();
    }
    if (dir != NULL) {
        memcpy(out, dir, a);
        out[a++] = '/';
    }
    memcpy(out + a, name, b + 1);
}

static void remove_tree(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    struct dirent *e;
    char path[PATH_MAX];
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        fuzz_join(path, sizeof(path), dir, e->d_name);
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode))
            remove_tree(path);
        else
            unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

static void cleanup(void)
{
    if (tmpdir[0] != '\0')
        remove_tree(tmpdir);
}

const char *fuzz_tmpdir(void)
{
    if (tmpdir[0] == '\0') {
        /* /dev/shm keeps the per-input file I/O (and fsyncs) off the disk. */
        const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        snprintf(tmpdir, sizeof(tmpdir), "%s/vdb-fuzz-XXXXXX", base);
        if (mkdtemp(tmpdir) == NULL) {
            perror("mkdtemp");
            abort();
        }
        atexit(cleanup);
        /* Damaged inputs are expected: their warnings would drown the log. */
        vdb_log_set_level(VDB_LOG_OFF);
    }
    return tmpdir;
}

char *fuzz_path(char *out, const char *name)
{
    fuzz_join(out, PATH_MAX, fuzz_tmpdir(), name);
    return out;
}

void fuzz_write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0) {
        perror(path);
        abort();
    }
    const char *p = data;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            perror(path);
            abort();
        }
        p += n;
        len -= (size_t)n;
    }
    close(fd);
}

unsigned char *fuzz_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc(n > 0 ? (size_t)n : 1);
    if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        fclose(f);
        free(buf);
        return NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

void fuzz_clear_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    struct dirent *e;
    char path[PATH_MAX];
    while ((e = readdir(d)) != NULL) {
        fuzz_join(path, sizeof(path), dir, e->d_name);
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISREG(st.st_mode))
            unlink(path);
    }
    closedir(d);
}

void fuzz_copy_dir(const char *src, const char *dst)
{
    mkdir(dst, 0700);
    DIR *d = opendir(src);
    if (d == NULL) {
        perror(src);
        abort();
    }
    struct dirent *e;
    char from[PATH_MAX], to[PATH_MAX];
    while ((e = readdir(d)) != NULL) {
        fuzz_join(from, sizeof(from), src, e->d_name);
        struct stat st;
        if (lstat(from, &st) != 0 || !S_ISREG(st.st_mode))
            continue;
        size_t len = 0;
        unsigned char *buf = fuzz_read_file(from, &len);
        if (buf == NULL) {
            perror(from);
            abort();
        }
        fuzz_join(to, sizeof(to), dst, e->d_name);
        fuzz_write_file(to, buf, len);
        free(buf);
    }
    closedir(d);
}

static void make_rows(size_t n, size_t first, float *vec, char ids[][32], char metas[][96])
{
    for (size_t i = 0; i < n; i++) {
        for (uint32_t j = 0; j < FUZZ_DIM; j++)
            vec[i * FUZZ_DIM + j] = (float)((first + i) * 7 % 13) - 6.0f + 0.25f * (float)j;
        snprintf(ids[i], 32, "v%zu", first + i);
        snprintf(metas[i], 96, "{\"n\":%zu,\"tag\":\"%s\",\"tags\":[\"x\",%zu],\"ok\":%s}",
                 first + i, (first + i) % 3 ? "a" : "b", (first + i) % 5,
                 (first + i) % 2 ? "true" : "false");
    }
}

void fuzz_make_store(const char *dir, vdb_index_kind kind, int tail, const char *keep)
{
    vdb_store_config config;
    vdb_store_options options;
    vdb_error err;
    vdb_store_config_default(&config);
    vdb_store_options_default(&options);
    config.dim = FUZZ_DIM;
    config.index = kind;
    config.hnsw_m = 4;
    config.hnsw_ef_construction = 16;
    options.fsync = VDB_FSYNC_OFF;
    vdb_store *store = NULL;
    if (vdb_store_create(dir, &config, &options, &store, &err) != VDB_OK) {
        fprintf(stderr, "fuzz_make_store %s: %s\n", dir, err.msg);
        abort();
    }
    static float vec[FUZZ_ROWS * FUZZ_DIM];
    static char ids[FUZZ_ROWS][32], metas[FUZZ_ROWS][96];
    const char *idp[FUZZ_ROWS], *metap[FUZZ_ROWS];
    make_rows(FUZZ_ROWS, 0, vec, ids, metas);
    for (size_t i = 0; i < FUZZ_ROWS; i++)
        idp[i] = ids[i], metap[i] = i % 4 ? metas[i] : NULL;
    if (vdb_store_add(store, FUZZ_ROWS, vec, idp, metap, NULL, &err) != VDB_OK) {
        fprintf(stderr, "fuzz_make_store: %s\n", err.msg);
        abort();
    }
    /* The graph is built in the background: wait so that the checkpoint
     * writes hnsw.idx with every row. */
    vdb_store__index_wait(store);
    if (vdb_store_checkpoint(store, &err) != VDB_OK) {
        fprintf(stderr, "fuzz_make_store: %s\n", err.msg);
        abort();
    }
    for (int t = 0; t < tail; t++) {
        make_rows(4, FUZZ_ROWS + 4 * (size_t)t, vec, ids, metas);
        for (size_t i = 0; i < 4; i++)
            idp[i] = ids[i], metap[i] = metas[i];
        idp[0] = "v1"; /* an upsert of a snapshot row */
        size_t deleted = 0;
        const char *gone[1] = {t % 2 ? "v2" : "v3"};
        if (vdb_store_add(store, 4, vec, idp, metap, NULL, &err) != VDB_OK ||
            vdb_store_delete(store, 1, gone, &deleted, &err) != VDB_OK) {
            fprintf(stderr, "fuzz_make_store: %s\n", err.msg);
            abort();
        }
    }
    /* Closing checkpoints, which empties wal.log: the copy taken while the
     * store is open keeps the WAL tail (writes are visible to read() even
     * with fsync off). */
    if (keep != NULL)
        fuzz_copy_dir(dir, keep);
    vdb_store_close(store);
}

static int on_hits(void *ctx, size_t query, const vdb_store_hit *hits, size_t count)
{
    size_t *total = ctx;
    (void)query;
    for (size_t i = 0; i < count; i++)
        *total += strlen(hits[i].id) + (hits[i].meta ? strlen(hits[i].meta) : 0);
    return 0;
}

void fuzz_poke_store(vdb_store *store)
{
    vdb_error err;
    float q[FUZZ_DIM], v[FUZZ_DIM];
    size_t total = 0, n = 0;
    for (uint32_t j = 0; j < FUZZ_DIM; j++)
        q[j] = 1.0f + (float)j;
    (void)vdb_store_count(store);
    char *meta = NULL;
    if (vdb_store_get(store, "v5", v, &meta, &err) == VDB_OK)
        vdb_free(meta);
    vdb_query_params params = {.k = 5};
    (void)vdb_store_query(store, q, 1, &params, on_hits, &total, &err);
    params.exact = 1;
    params.k = 1000;
    (void)vdb_store_query(store, q, 1, &params, on_hits, &total, &err);
    vdb_filter *f = NULL;
    if (vdb_filter_compile_text("{\"tag\":\"a\"}", 11, &f, &err) == VDB_OK && f != NULL) {
        (void)vdb_store_count_where(store, f, &n, &err);
        params.exact = 0;
        params.k = 3;
        params.filter = f;
        (void)vdb_store_query(store, q, 1, &params, on_hits, &total, &err);
        vdb_filter_free(f);
    }
}

void fuzz_seed(const char *dir, const char *name, const void *data, size_t len)
{
    char path[PATH_MAX];
    fuzz_join(path, sizeof(path), dir, name);
    fuzz_write_file(path, data, len);
}

void fuzz_seed_copy(const char *dir, const char *name, const char *src_dir, const char *src_name)
{
    char path[PATH_MAX];
    size_t len = 0;
    fuzz_join(path, sizeof(path), src_dir, src_name);
    unsigned char *buf = fuzz_read_file(path, &len);
    if (buf == NULL)
        return;
    fuzz_seed(dir, name, buf, len);
    free(buf);
}

void fuzz_image_load(fuzz_dir_image *img, const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[PATH_MAX];
    memset(img, 0, sizeof(*img));
    while (d != NULL && (e = readdir(d)) != NULL) {
        fuzz_join(path, sizeof(path), dir, e->d_name);
        struct stat st;
        if (lstat(path, &st) != 0 || !S_ISREG(st.st_mode) || img->n == 8)
            continue;
        fuzz_join(img->names[img->n], sizeof(img->names[0]), NULL, e->d_name);
        img->data[img->n] = fuzz_read_file(path, &img->len[img->n]);
        if (img->data[img->n] == NULL)
            abort();
        img->n++;
    }
    if (d != NULL)
        closedir(d);
}

void fuzz_image_restore(const fuzz_dir_image *img, const char *dir, const char *skip)
{
    char path[PATH_MAX];
    mkdir(dir, 0700);
    fuzz_clear_dir(dir);
    for (size_t i = 0; i < img->n; i++) {
        if (skip != NULL && strcmp(img->names[i], skip) == 0)
            continue;
        fuzz_join(path, sizeof(path), dir, img->names[i]);
        fuzz_write_file(path, img->data[i], img->len[i]);
    }
}
