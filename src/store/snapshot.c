/* Snapshot write, commit, roll-forward and load; the protocol is in
 * snapshot.h.
 *
 * MANIFEST FORMAT: store.json is one JSON object (compact, sorted keys):
 *   {"checkpoints": C, "dimension": D,
 *    "files": {"metadata.jsonl": {"crc32": X, "size": B},
 *              "vectors.npz": {"size": B}},
 *    "format": "vdb-store",
 *    "index": {"ef_construction": 200, "ef_search": 64, "hnsw_threshold": 10000,
 *              "kind": "auto"|"flat"|"hnsw", "m": 16},
 *    "metric": "cosine"|"euclidean"|"dot",
 *    "rows": N, "snapshot_lsn": L, "version": 1}
 * Sizes let the open detect a truncated file at once; the metadata CRC32
 * is checked on every load (the file is read whole anyway). The vectors'
 * CRC32 lives in the ZIP directory and is checked on load for files up to
 * VERIFY_LIMIT bytes (beyond that it would defeat the mmap/lazy open; `vdb
 * check`-style callers use vdb_vecfile_verify).
 *
 * Loading maps the vector data copy-on-write straight into the vecset
 * (vdb_vecset_open_mapped): the stored rows and norms are adopted verbatim,
 * so rows reload bit-identical and nothing is read eagerly; only the ids
 * and metadata (metadata.jsonl) are read and copied. */
#include "snapshot.h"

#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../core/alloc.h"
#include "../core/fsx.h"
#include "../core/json.h"
#include "../core/limits.h"
#include "../core/log.h"
#include "../index/quant.h"
#include "meta.h"
#include "vecfile.h"

#define MANIFEST "store.json"
#define VECTORS "vectors.npz"
#define METADATA "metadata.jsonl"
#define NEW ".new"
#define LOAD_CHUNK 4096
#define VERIFY_LIMIT (256ull << 20)

const char *vdb_index_kind_name(vdb_index_kind kind)
{
    switch (kind) {
    case VDB_INDEX_FLAT:
        return "flat";
    case VDB_INDEX_HNSW:
        return "hnsw";
    default:
        return "auto";
    }
}

int vdb_index_kind_parse(const char *name)
{
    if (name == NULL)
        return -1;
    if (strcmp(name, "flat") == 0)
        return VDB_INDEX_FLAT;
    if (strcmp(name, "hnsw") == 0)
        return VDB_INDEX_HNSW;
    if (strcmp(name, "auto") == 0)
        return VDB_INDEX_AUTO;
    return -1;
}

/* ---- writing ---- */

/* The rows a snapshot writes, read from the set. With a guard (a
 * checkpoint running while writers go on), the set's per-row arrays can be
 * reallocated by a write at any moment, so rows are copied out a chunk at
 * a time with the guard held shared: a writer waits at most one chunk's
 * copy (~100 us) for its exclusive apply. The copied vectors are what the
 * file gets; the id and metadata strings are only pointed at, since a set
 * frees them only in compaction, which the caller keeps out. */
#define CHUNK_ROWS 256

typedef struct live_rows {
    const vdb_vecset *set;
    pthread_rwlock_t *guard;
    uint32_t dim;
    uint32_t *rows;
    size_t count;
    size_t vec_first, vec_fill;   /* chunk cached in vectors/norms */
    size_t str_first, str_fill;   /* chunk cached in ids/metas */
    float *vectors, *norms;
    const char **ids, **metas;
} live_rows;

static void fill_vectors(live_rows *live, size_t i)
{
    live->vec_first = i - i % CHUNK_ROWS;
    live->vec_fill = live->count - live->vec_first < CHUNK_ROWS ? live->count - live->vec_first
                                                                : CHUNK_ROWS;
    pthread_rwlock_rdlock(live->guard);
    for (size_t j = 0; j < live->vec_fill; j++) {
        uint32_t r = live->rows[live->vec_first + j];
        memcpy(live->vectors + j * live->dim, vdb_vecset_vector(live->set, r),
               live->dim * sizeof(float));
        live->norms[j] = vdb_vecset_norm(live->set, r);
    }
    pthread_rwlock_unlock(live->guard);
}

static void fill_strings(live_rows *live, size_t i)
{
    live->str_first = i - i % CHUNK_ROWS;
    live->str_fill = live->count - live->str_first < CHUNK_ROWS ? live->count - live->str_first
                                                                : CHUNK_ROWS;
    pthread_rwlock_rdlock(live->guard);
    for (size_t j = 0; j < live->str_fill; j++) {
        uint32_t r = live->rows[live->str_first + j];
        live->ids[j] = vdb_vecset_id(live->set, r);
        live->metas[j] = vdb_vecset_meta(live->set, r);
    }
    pthread_rwlock_unlock(live->guard);
}

static const float *vec_row(void *ctx, size_t i, float *norm)
{
    live_rows *live = ctx;
    if (live->guard == NULL) {
        *norm = vdb_vecset_norm(live->set, live->rows[i]);
        return vdb_vecset_vector(live->set, live->rows[i]);
    }
    if (i < live->vec_first || i >= live->vec_first + live->vec_fill)
        fill_vectors(live, i);
    *norm = live->norms[i - live->vec_first];
    return live->vectors + (i - live->vec_first) * live->dim;
}

static void meta_row(void *ctx, size_t i, const char **id, const char **meta)
{
    live_rows *live = ctx;
    if (live->guard == NULL) {
        *id = vdb_vecset_id(live->set, live->rows[i]);
        *meta = vdb_vecset_meta(live->set, live->rows[i]);
        return;
    }
    if (i < live->str_first || i >= live->str_first + live->str_fill)
        fill_strings(live, i);
    *id = live->ids[i - live->str_first];
    *meta = live->metas[i - live->str_first];
}

/* Picks the rows to write (the selection's, else every live row now) and,
 * with a guard, the chunk buffers. */
static int live_rows_init(live_rows *live, const vdb_vecset *set, const vdb_snapshot_rows *sel,
                          vdb_error *err)
{
    uint32_t rows = sel != NULL ? sel->rows : vdb_vecset_rows(set);
    memset(live, 0, sizeof(*live));
    live->set = set;
    live->dim = vdb_vecset_dim(set);
    live->guard = sel != NULL ? sel->guard : NULL;
    if ((live->rows = vdb_malloc(((size_t)rows + 1) * sizeof(uint32_t))) == NULL)
        return vdb_error_set(err, VDB_ENOMEM, "snapshot: out of memory");
    for (uint32_t r = 0; r < rows; r++) {
        int dead = sel != NULL ? (sel->deleted != NULL && ((sel->deleted[r >> 6] >> (r & 63)) & 1u))
                               : vdb_vecset_is_deleted(set, r);
        if (!dead)
            live->rows[live->count++] = r;
    }
    if (live->guard == NULL)
        return VDB_OK;
    live->vectors = vdb_malloc((size_t)CHUNK_ROWS * live->dim * sizeof(float));
    live->norms = vdb_malloc(CHUNK_ROWS * sizeof(float));
    live->ids = vdb_malloc(CHUNK_ROWS * sizeof(char *));
    live->metas = vdb_malloc(CHUNK_ROWS * sizeof(char *));
    if (live->vectors == NULL || live->norms == NULL || live->ids == NULL || live->metas == NULL)
        return vdb_error_set(err, VDB_ENOMEM, "snapshot: out of memory");
    return VDB_OK;
}

static void live_rows_free(live_rows *live)
{
    vdb_free(live->rows);
    vdb_free(live->vectors);
    vdb_free(live->norms);
    vdb_free(live->ids);
    vdb_free(live->metas);
}

static int add_int(vdb_json *obj, const char *key, uint64_t value)
{
    return vdb_json_object_set_new(obj, key, vdb_json_int((long long)value));
}

static char *manifest_text(const vdb_snapshot_info *info)
{
    vdb_json *root = vdb_json_object(), *index = vdb_json_object(), *files = vdb_json_object(),
             *vec = vdb_json_object(), *meta = vdb_json_object();
    char *text = NULL;
    int rc = VDB_ENOMEM;
    if (root == NULL || index == NULL || files == NULL || vec == NULL || meta == NULL)
        goto cleanup;
    rc = vdb_json_object_set_new(root, "format", vdb_json_string("vdb-store"));
    rc |= add_int(root, "version", VDB_SNAPSHOT_VERSION);
    rc |= add_int(root, "dimension", info->config.dim);
    if (info->config.dim_from_first_add)
        rc |= vdb_json_object_set_new(root, "dimension_from_first_add", vdb_json_bool(1));
    rc |= vdb_json_object_set_new(root, "metric",
                                  vdb_json_string(vdb_metric_name(info->config.metric)));
    rc |= vdb_json_object_set_new(index, "kind",
                                  vdb_json_string(vdb_index_kind_name(info->config.index)));
    rc |= add_int(index, "m", info->config.hnsw_m);
    rc |= add_int(index, "ef_construction", info->config.hnsw_ef_construction);
    rc |= add_int(index, "ef_search", info->config.hnsw_ef_search);
    rc |= add_int(index, "hnsw_threshold", info->config.hnsw_threshold);
    rc |= vdb_json_object_set_new(index, "target_recall",
                                  vdb_json_real(info->config.target_recall));
    rc |= vdb_json_object_set_new(
        index, "quantization",
        vdb_json_string(vdb_store_quant_name(info->config.quantization)));
    rc |= add_int(root, "snapshot_lsn", info->lsn);
    rc |= add_int(root, "rows", info->rows);
    rc |= add_int(root, "checkpoints", info->checkpoints);
    rc |= add_int(vec, "size", info->vectors_size);
    rc |= add_int(meta, "size", info->meta_size);
    rc |= add_int(meta, "crc32", info->meta_crc);
    rc |= vdb_json_object_set(files, VECTORS, vec);
    rc |= vdb_json_object_set(files, METADATA, meta);
    rc |= vdb_json_object_set(root, "index", index);
    rc |= vdb_json_object_set(root, "files", files);
    if (rc == VDB_OK)
        text = vdb_json_dump(root, VDB_JSON_DUMP_COMPACT | VDB_JSON_DUMP_SORT_KEYS);
cleanup:
    vdb_json_decref(meta);
    vdb_json_decref(vec);
    vdb_json_decref(files);
    vdb_json_decref(index);
    vdb_json_decref(root);
    return text;
}

static int write_small(const char *path, const char *text, vdb_error *err)
{
    int fd = vdb_fsx_open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0644, err), rc;
    if (fd < 0)
        return fd;
    if ((rc = vdb_fsx_write(fd, text, strlen(text), -1, path, err)) == VDB_OK &&
        (rc = vdb_fsx_write(fd, "\n", 1, -1, path, err)) == VDB_OK &&
        (rc = vdb_fsx_fsync(fd, path, err)) == VDB_OK)
        return vdb_fsx_close(fd, path, err);
    vdb_fsx_close(fd, path, NULL);
    return rc;
}

static int file_size(const char *path, uint64_t *size, vdb_error *err)
{
    int fd = vdb_fsx_open(path, O_RDONLY | O_NOFOLLOW, 0, err), rc;
    if (fd < 0)
        return fd;
    rc = vdb_fsx_size(fd, size, path, err);
    vdb_fsx_close(fd, path, NULL);
    return rc;
}

typedef struct paths {
    char vec[PATH_MAX], meta[PATH_MAX], manifest[PATH_MAX];
    char vec_new[PATH_MAX], meta_new[PATH_MAX], manifest_new[PATH_MAX];
} paths;

static int make_paths(paths *p, const char *dir, vdb_error *err)
{
    if (vdb_fsx_path(p->vec, PATH_MAX, dir, VECTORS, err) != VDB_OK ||
        vdb_fsx_path(p->meta, PATH_MAX, dir, METADATA, err) != VDB_OK ||
        vdb_fsx_path(p->manifest, PATH_MAX, dir, MANIFEST, err) != VDB_OK ||
        vdb_fsx_path(p->vec_new, PATH_MAX, dir, VECTORS NEW, err) != VDB_OK ||
        vdb_fsx_path(p->meta_new, PATH_MAX, dir, METADATA NEW, err) != VDB_OK ||
        vdb_fsx_path(p->manifest_new, PATH_MAX, dir, MANIFEST NEW, err) != VDB_OK)
        return VDB_ERANGE;
    return VDB_OK;
}

/* Step 4: renames the committed .new files into place, manifest last. A
 * .new file already renamed (an earlier, interrupted install) is skipped. */
static int install(const char *dir, const paths *p, vdb_error *err)
{
    const char *from[3] = {p->vec_new, p->meta_new, p->manifest_new};
    const char *to[3] = {p->vec, p->meta, p->manifest};
    for (int i = 0; i < 3; i++) {
        int rc;
        if (access(from[i], F_OK) != 0)
            continue;
        if ((rc = vdb_fsx_rename(from[i], to[i], err)) != VDB_OK)
            return rc;
    }
    return vdb_fsx_dirsync(dir, err);
}

int vdb_snapshot_write(const char *dir, const vdb_store_config *config, uint64_t lsn,
                       uint64_t checkpoints, const vdb_vecset *set, const vdb_snapshot_rows *sel,
                       vdb_snapshot_info *info_out, vdb_error *err)
{
    paths p;
    live_rows live;
    vdb_snapshot_info info;
    char *text = NULL;
    int rc, committed = 0;
    memset(&live, 0, sizeof(live));
    if ((rc = make_paths(&p, dir, err)) != VDB_OK)
        return rc;
    /* A committed but half-installed snapshot (an earlier install failed)
     * must be finished before its .new files are overwritten. */
    if ((rc = vdb_snapshot_recover(dir, err)) != VDB_OK)
        return rc;
    memset(&info, 0, sizeof(info));
    info.config = *config;
    info.lsn = lsn;
    info.checkpoints = checkpoints;
    if ((rc = live_rows_init(&live, set, sel, err)) != VDB_OK) {
        live_rows_free(&live);
        return rc;
    }
    info.rows = live.count;
    if ((rc = vdb_vecfile_write(p.vec_new, config->dim, live.count, vec_row, &live, 0, err)) !=
            VDB_OK ||
        (rc = file_size(p.vec_new, &info.vectors_size, err)) != VDB_OK ||
        (rc = vdb_meta_write(p.meta_new, live.count, meta_row, &live, &info.meta_crc,
                             &info.meta_size, err)) != VDB_OK ||
        (rc = vdb_fsx_dirsync(dir, err)) != VDB_OK)
        goto cleanup;
    if ((text = manifest_text(&info)) == NULL) {
        rc = vdb_error_set(err, VDB_ENOMEM, "snapshot: out of memory");
        goto cleanup;
    }
    if ((rc = write_small(p.manifest_new, text, err)) != VDB_OK ||
        (rc = vdb_fsx_dirsync(dir, err)) != VDB_OK)
        goto cleanup;
    committed = 1;
    if ((rc = install(dir, &p, err)) != VDB_OK)
        goto cleanup;
    if (info_out != NULL)
        *info_out = info;
cleanup:
    if (rc != VDB_OK && !committed) {
        /* Not committed: the old snapshot stands; drop the partial files. */
        vdb_fsx_unlink(p.manifest_new, NULL);
        vdb_fsx_unlink(p.vec_new, NULL);
        vdb_fsx_unlink(p.meta_new, NULL);
    }
    vdb_json_free_text(text);
    live_rows_free(&live);
    return rc;
}

/* ---- reading ---- */

static int get_uint(vdb_json *obj, const char *key, uint64_t max, uint64_t *out)
{
    vdb_json *v = vdb_json_object_get(obj, key);
    long long x;
    if (v == NULL || vdb_json_typeof(v) != VDB_JSON_INT)
        return -1;
    x = vdb_json_int_value(v);
    if (x < 0 || (uint64_t)x > max)
        return -1;
    *out = (uint64_t)x;
    return 0;
}

static int parse_manifest(vdb_json *root, vdb_snapshot_info *info)
{
    vdb_json *index = vdb_json_object_get(root, "index"), *files = vdb_json_object_get(root, "files");
    vdb_json *vec = files ? vdb_json_object_get(files, VECTORS) : NULL;
    vdb_json *meta = files ? vdb_json_object_get(files, METADATA) : NULL;
    vdb_json *format = vdb_json_object_get(root, "format");
    const char *metric = vdb_json_string_value(vdb_json_object_get(root, "metric"));
    const char *kind = index ? vdb_json_string_value(vdb_json_object_get(index, "kind")) : NULL;
    uint64_t version, dim, m, efc, efs, threshold, crc;
    int metric_id, kind_id;
    if (format == NULL || vdb_json_string_value(format) == NULL ||
        strcmp(vdb_json_string_value(format), "vdb-store") != 0 || index == NULL || vec == NULL ||
        meta == NULL || metric == NULL || kind == NULL)
        return -1;
    if (get_uint(root, "version", 1000, &version) || version != VDB_SNAPSHOT_VERSION ||
        get_uint(root, "dimension", VDB_MAX_DIM, &dim) || dim == 0 ||
        get_uint(root, "snapshot_lsn", INT64_MAX, &info->lsn) ||
        get_uint(root, "rows", VDB_MAX_VECTORS, &info->rows) ||
        get_uint(root, "checkpoints", INT64_MAX, &info->checkpoints) ||
        get_uint(index, "m", 1024, &m) || get_uint(index, "ef_construction", 1u << 20, &efc) ||
        get_uint(index, "ef_search", 1u << 20, &efs) ||
        get_uint(index, "hnsw_threshold", UINT32_MAX, &threshold) ||
        get_uint(vec, "size", INT64_MAX, &info->vectors_size) ||
        get_uint(meta, "size", INT64_MAX, &info->meta_size) ||
        get_uint(meta, "crc32", UINT32_MAX, &crc))
        return -1;
    if ((metric_id = vdb_metric_parse(metric)) < 0 || (kind_id = vdb_index_kind_parse(kind)) < 0)
        return -1;
    info->config.dim = (uint32_t)dim;
    info->config.metric = (vdb_metric)metric_id;
    info->config.index = (vdb_index_kind)kind_id;
    info->config.hnsw_m = (uint32_t)m;
    info->config.hnsw_ef_construction = (uint32_t)efc;
    info->config.hnsw_ef_search = (uint32_t)efs;
    info->config.hnsw_threshold = (uint32_t)threshold;
    /* Stores written before the recall target existed get the default. */
    info->config.target_recall = VDB_DEFAULT_TARGET_RECALL;
    {
        vdb_json *target = vdb_json_object_get(index, "target_recall");
        if (target != NULL) {
            double t = vdb_json_is_number(target) ? vdb_json_number_value(target) : -1;
            if (!(t > 0.0 && t <= 1.0))
                return -1;
            info->config.target_recall = t;
        }
    }
    /* Stores written before quantization existed have none. */
    info->config.quantization = VDB_QUANT_NONE;
    {
        vdb_json *quant = vdb_json_object_get(index, "quantization");
        if (quant != NULL) {
            const char *name = vdb_json_string_value(quant);
            int qkind = name != NULL ? vdb_store_quant_parse(name) : -1;
            if (qkind < 0)
                return -1;
            info->config.quantization = qkind;
        }
    }
    vdb_json *provisional = vdb_json_object_get(root, "dimension_from_first_add");
    info->config.dim_from_first_add =
        provisional != NULL && vdb_json_typeof(provisional) == VDB_JSON_BOOL &&
        vdb_json_bool_value(provisional);
    info->meta_crc = (uint32_t)crc;
    return 0;
}

/* Reads one manifest file; VDB_ECORRUPT when it does not parse. */
static int read_manifest_file(const char *path, vdb_snapshot_info *info, vdb_error *err)
{
    char buf[8192];
    vdb_json *root;
    vdb_error jerr;
    ssize_t got;
    int fd = vdb_fsx_open(path, O_RDONLY | O_NOFOLLOW, 0, err), rc = VDB_OK;
    if (fd < 0)
        return fd;
    got = vdb_fsx_read(fd, buf, sizeof(buf) - 1, 0, path, err);
    vdb_fsx_close(fd, path, NULL);
    if (got < 0)
        return (int)got;
    if ((size_t)got == sizeof(buf) - 1)
        return vdb_error_set(err, VDB_ECORRUPT, "%s: larger than a manifest can be", path);
    rc = vdb_json_parse(buf, (size_t)got, 0, &root, &jerr);
    if (rc == VDB_ENOMEM)
        return vdb_error_set(err, rc, "%s: %s", path, jerr.msg);
    if (rc != VDB_OK)
        return vdb_error_set(err, VDB_ECORRUPT, "%s: not valid JSON (%s)", path, jerr.msg);
    memset(info, 0, sizeof(*info));
    if (vdb_json_typeof(root) != VDB_JSON_OBJECT || parse_manifest(root, info) != 0)
        rc = vdb_error_set(err, VDB_ECORRUPT, "%s: missing or invalid fields", path);
    vdb_json_decref(root);
    return rc;
}

int vdb_snapshot_read_manifest(const char *dir, vdb_snapshot_info *info, vdb_error *err)
{
    char path[PATH_MAX];
    int rc = vdb_fsx_path(path, sizeof(path), dir, MANIFEST, err);
    return rc != VDB_OK ? rc : read_manifest_file(path, info, err);
}

int vdb_snapshot_recover(const char *dir, vdb_error *err)
{
    paths p;
    vdb_snapshot_info info;
    vdb_error ignored;
    int rc;
    if ((rc = make_paths(&p, dir, err)) != VDB_OK)
        return rc;
    if (access(p.manifest_new, F_OK) == 0) {
        rc = read_manifest_file(p.manifest_new, &info, &ignored);
        if (rc == VDB_OK) {
            vdb_log_warn("%s: finishing a checkpoint interrupted after its commit (LSN %llu)",
                         dir, (unsigned long long)info.lsn);
            return install(dir, &p, err);
        }
        if (rc != VDB_ECORRUPT)
            return vdb_error_set(err, rc, "%s", ignored.msg);
        vdb_log_warn("%s: discarding an uncommitted checkpoint (%s)", dir, ignored.msg);
    }
    /* Not committed (or nothing pending): the .new files are leftovers. */
    if ((rc = vdb_fsx_unlink(p.manifest_new, err)) != VDB_OK ||
        (rc = vdb_fsx_unlink(p.vec_new, err)) != VDB_OK ||
        (rc = vdb_fsx_unlink(p.meta_new, err)) != VDB_OK)
        return rc;
    return VDB_OK;
}

/* Collects every row's id and metadata as heap strings for the mapped
 * open, which takes ownership of them. */
typedef struct collector {
    char **ids;
    char **metas;
    size_t rows;
} collector;

static int collect_line(void *ctx, size_t i, const char *id, const char *meta, vdb_error *err)
{
    collector *c = ctx;
    if ((c->ids[i] = vdb_strdup(id)) == NULL ||
        (meta != NULL && (c->metas[i] = vdb_strdup(meta)) == NULL))
        return vdb_error_set(err, VDB_ENOMEM, "snapshot: out of memory at row %zu", i);
    return VDB_OK;
}

static void collector_free(collector *c)
{
    for (size_t i = 0; i < c->rows; i++) {
        if (c->ids != NULL)
            vdb_free(c->ids[i]);
        if (c->metas != NULL)
            vdb_free(c->metas[i]);
    }
    vdb_free(c->ids);
    vdb_free(c->metas);
}

/* Fallback for files whose data is not page-aligned (an npz written by
 * another tool): read and insert in chunks. Cosine rows are handed over as
 * row * norm and normalized again (may differ in the last bit). */
static int insert_rows(vdb_vecset *set, vdb_vecfile *file, const collector *c, int cosine,
                       vdb_error *err)
{
    uint32_t dim = vdb_vecset_dim(set);
    float *vectors = vdb_malloc((size_t)LOAD_CHUNK * dim * sizeof(float));
    float *norms = vdb_malloc(LOAD_CHUNK * sizeof(float));
    int rc = VDB_OK;
    if (vectors == NULL || norms == NULL)
        rc = vdb_error_set(err, VDB_ENOMEM, "snapshot: out of memory");
    for (size_t first = 0; rc == VDB_OK && first < c->rows; first += LOAD_CHUNK) {
        size_t fill = c->rows - first < LOAD_CHUNK ? c->rows - first : LOAD_CHUNK;
        if ((rc = vdb_vecfile_read_rows(file, first, fill, vectors, err)) != VDB_OK)
            break;
        if (cosine && vdb_vecfile_has_norms(file)) {
            if ((rc = vdb_vecfile_read_norms(file, first, fill, norms, err)) != VDB_OK)
                break;
            for (size_t i = 0; i < fill; i++)
                for (uint32_t d = 0; d < dim; d++)
                    vectors[i * dim + d] *= norms[i];
        }
        rc = vdb_vecset_upsert(set, fill, vectors, (const char *const *)c->ids + first,
                               (const char *const *)c->metas + first, NULL, NULL, err);
        if (rc == VDB_EINVAL || rc == VDB_ETOOBIG || rc == VDB_ERANGE)
            rc = vdb_error_set(err, VDB_ECORRUPT, "snapshot rows %zu..%zu rejected", first,
                               first + fill);
    }
    if (rc == VDB_OK && vdb_vecset_count(set) != c->rows)
        rc = vdb_error_set(err, VDB_ECORRUPT, "snapshot has duplicate ids");
    vdb_free(norms);
    vdb_free(vectors);
    return rc;
}

static int check_vectors(const char *path, vdb_vecfile *file, const vdb_snapshot_info *info,
                         vdb_error *err)
{
    uint64_t size = 0;
    int rc = vdb_fsx_size(vdb_vecfile_fd(file), &size, path, err);
    if (rc != VDB_OK)
        return rc;
    if (size != info->vectors_size || vdb_vecfile_rows(file) != info->rows ||
        vdb_vecfile_dim(file) != info->config.dim ||
        (info->config.metric == VDB_METRIC_COSINE && !vdb_vecfile_has_norms(file)))
        return vdb_error_set(err, VDB_ECORRUPT,
                             "%s: %llu bytes, %zu x %u, the manifest says %llu bytes, %llu x %u",
                             path, (unsigned long long)size, vdb_vecfile_rows(file),
                             vdb_vecfile_dim(file), (unsigned long long)info->vectors_size,
                             (unsigned long long)info->rows, info->config.dim);
    if (size <= VERIFY_LIMIT)
        return vdb_vecfile_verify(file, err);
    return VDB_OK;
}

int vdb_snapshot_open_vectors(const char *dir, const vdb_snapshot_info *info,
                              vdb_vecfile **out, vdb_error *err)
{
    char path[PATH_MAX];
    uint64_t size = 0;
    long page = sysconf(_SC_PAGESIZE);
    int rc = vdb_fsx_path(path, sizeof(path), dir, VECTORS, err);
    *out = NULL;
    if (rc != VDB_OK || (rc = vdb_vecfile_open(path, out, err)) != VDB_OK)
        return rc;
    if ((rc = vdb_fsx_size(vdb_vecfile_fd(*out), &size, path, err)) == VDB_OK &&
        (size != info->vectors_size || vdb_vecfile_rows(*out) != info->rows ||
         vdb_vecfile_dim(*out) != info->config.dim || page <= 0 ||
         vdb_vecfile_data_offset(*out) % (uint64_t)page != 0))
        rc = vdb_error_set(err, VDB_ECORRUPT,
                           "%s: %llu bytes, %zu x %u, data at %llu; the manifest says %llu "
                           "bytes, %llu x %u",
                           path, (unsigned long long)size, vdb_vecfile_rows(*out),
                           vdb_vecfile_dim(*out),
                           (unsigned long long)vdb_vecfile_data_offset(*out),
                           (unsigned long long)info->vectors_size,
                           (unsigned long long)info->rows, info->config.dim);
    if (rc != VDB_OK) {
        vdb_vecfile_close(*out);
        *out = NULL;
    }
    return rc;
}

int vdb_snapshot_load(const char *dir, const vdb_snapshot_info *info, vdb_vecset **out,
                      vdb_error *err)
{
    paths p;
    collector c = {0};
    vdb_vecfile *file = NULL;
    vdb_vecset *set = NULL;
    float *norms = NULL;
    int rc;
    *out = NULL;
    if ((rc = make_paths(&p, dir, err)) != VDB_OK)
        return rc;
    if ((rc = vdb_vecfile_open(p.vec, &file, err)) != VDB_OK)
        return rc == VDB_ENOTFOUND ? vdb_error_set(err, VDB_ECORRUPT, "%s is missing", p.vec)
                                   : rc;
    if ((rc = check_vectors(p.vec, file, info, err)) != VDB_OK)
        goto cleanup;
    c.rows = (size_t)info->rows;
    c.ids = vdb_calloc(c.rows + 1, sizeof(char *));
    c.metas = vdb_calloc(c.rows + 1, sizeof(char *));
    norms = vdb_malloc((c.rows + 1) * sizeof(float));
    if (c.ids == NULL || c.metas == NULL || norms == NULL) {
        rc = vdb_error_set(err, VDB_ENOMEM, "snapshot: out of memory for %zu rows", c.rows);
        goto cleanup;
    }
    rc = vdb_meta_read(p.meta, c.rows, 1, info->meta_size, info->meta_crc, collect_line, &c, err);
    if (rc == VDB_ENOTFOUND)
        rc = vdb_error_set(err, VDB_ECORRUPT, "%s is missing", p.meta);
    if (rc != VDB_OK)
        goto cleanup;
    if (vdb_vecfile_data_offset(file) % VDB_VECFILE_DATA_ALIGN == 0 &&
        vdb_vecfile_has_norms(file)) {
        if ((rc = vdb_vecfile_read_norms(file, 0, c.rows, norms, err)) != VDB_OK)
            goto cleanup;
        /* The set takes the strings, on success and on failure. */
        rc = vdb_vecset_open_mapped(info->config.dim, info->config.metric, vdb_vecfile_fd(file),
                                    vdb_vecfile_data_offset(file), (uint32_t)c.rows, c.ids,
                                    c.metas, norms, &set, err);
        c.rows = 0;
        goto cleanup;
    }
    if ((rc = vdb_vecset_new(info->config.dim, info->config.metric, &set, err)) != VDB_OK)
        goto cleanup;
    rc = insert_rows(set, file, &c, info->config.metric == VDB_METRIC_COSINE, err);
cleanup:
    if (rc != VDB_OK) {
        vdb_vecset_free(set);
        set = NULL;
    }
    collector_free(&c);
    vdb_free(norms);
    vdb_vecfile_close(file);
    *out = set;
    return rc;
}
