/* Export archives; see export.h. Members are files read straight from the
 * store directories (the checkpoint just made them complete); their hashes
 * are computed here, before zipping, so the manifest can be written last. */
#include "export.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "../core/alloc.h"
#include "../core/fsx.h"
#include "../core/json.h"
#include "../core/sha256.h"
#include "../store/registry.h"
#include "zipio.h"

#define MAX_MEMBERS 256
#define MAX_STRINGS 512

struct vdb_export {
    char *user_id;
    vdb_zip_member members[MAX_MEMBERS];
    char *strings[MAX_STRINGS]; /* names and paths we allocated */
    size_t nmembers, nstrings;
    vdb_json *stores;           /* manifest entries */
    vdb_store *pinned[MAX_MEMBERS];
    size_t npinned;
};

int vdb_export_new(const char *user_id, vdb_export **out, vdb_error *err)
{
    vdb_export *ex = vdb_calloc(1, sizeof(*ex));
    *out = NULL;
    if (ex == NULL || (ex->user_id = vdb_strdup(user_id)) == NULL ||
        (ex->stores = vdb_json_array()) == NULL) {
        vdb_export_free(ex);
        return vdb_error_set(err, VDB_ENOMEM, "out of memory for an export");
    }
    *out = ex;
    return VDB_OK;
}

void vdb_export_free(vdb_export *ex)
{
    if (ex == NULL)
        return;
    for (size_t i = 0; i < ex->npinned; i++)
        vdb_store_snapshot_unpin(ex->pinned[i]);
    for (size_t i = 0; i < ex->nstrings; i++)
        vdb_free(ex->strings[i]);
    vdb_json_decref(ex->stores);
    vdb_free(ex->user_id);
    vdb_free(ex);
}

static int file_sha256(const char *path, char hex[65], uint64_t *bytes)
{
    int fd = vdb_fsx_open(path, O_RDONLY, 0, NULL);
    vdb_sha256 ctx;
    uint8_t digest[32];
    char buf[65536];
    ssize_t n;
    int bad;
    if (fd < 0)
        return VDB_EIO;
    *bytes = 0;
    vdb_sha256_init(&ctx);
    while ((n = vdb_fsx_read(fd, buf, sizeof(buf), (off_t)*bytes, path, NULL)) > 0) {
        vdb_sha256_update(&ctx, buf, (size_t)n);
        *bytes += (uint64_t)n;
    }
    bad = n < 0;
    vdb_fsx_close(fd, path, NULL);
    vdb_sha256_final(&ctx, digest);
    vdb_sha256_to_hex(digest, hex);
    return bad ? VDB_EIO : VDB_OK;
}

/* "a" + sep + "b" in a string the export owns (freed with it). */
static char *joined(vdb_export *ex, const char *a, const char *sep, const char *b)
{
    size_t n = strlen(a) + strlen(sep) + strlen(b) + 1;
    char *s;
    if (ex->nstrings == MAX_STRINGS || (s = vdb_malloc(n)) == NULL)
        return NULL;
    snprintf(s, n, "%s%s%s", a, sep, b);
    ex->strings[ex->nstrings++] = s;
    return s;
}

/* Files of a store directory that belong in an export: the snapshot and
 * index files, not the WAL, the lock or temporaries. */
static int exportable(const char *name)
{
    size_t n = strlen(name);
    return name[0] != '.' && strcmp(name, "wal.log") != 0 &&
           !(n > 4 && strcmp(name + n - 4, ".tmp") == 0) &&
           !(n > 4 && strcmp(name + n - 4, ".new") == 0) && vdb_registry_name_ok(name);
}

/* Adds one file as a member and its hash to `files`. */
static int add_file(vdb_export *ex, const char *dir, const char *prefix, const char *file,
                    vdb_json *files, vdb_error *err)
{
    char *path = joined(ex, dir, "/", file), *name;
    char hex[65];
    uint64_t bytes = 0;
    struct stat st;
    vdb_zip_member *m;
    vdb_json *entry;
    if (path == NULL || stat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return path == NULL ? vdb_error_set(err, VDB_ENOMEM, "out of memory") : VDB_OK;
    if ((name = joined(ex, prefix, prefix[0] ? "/" : "", file)) == NULL)
        return vdb_error_set(err, VDB_ENOMEM, "out of memory");
    if (ex->nmembers == MAX_MEMBERS - 1) /* one slot stays for manifest.json */
        return vdb_error_set(err, VDB_ERANGE, "export over %d files", MAX_MEMBERS - 1);
    if (file_sha256(path, hex, &bytes) != VDB_OK)
        return vdb_error_set(err, VDB_EIO, "cannot read %s", path);
    m = &ex->members[ex->nmembers++];
    memset(m, 0, sizeof(*m));
    m->name = name;
    m->path = path;
    m->deflate = strcmp(file, "vectors.npz") != 0; /* floats barely compress */
    entry = vdb_json_object();
    vdb_json_object_set_new(entry, "sha256", vdb_json_string(hex));
    vdb_json_object_set_new(entry, "bytes", vdb_json_int((long long)bytes));
    return vdb_json_object_set_new(files, file, entry);
}

int vdb_export_add_store(vdb_export *ex, vdb_store *store, const char *dir, const char *model_id,
                         const char *prefix, vdb_error *err)
{
    const vdb_store_config *config = vdb_store_get_config(store);
    vdb_json *files, *entry;
    struct dirent *de;
    DIR *d;
    int rc;
    if (ex->npinned == MAX_MEMBERS)
        return vdb_error_set(err, VDB_ERANGE, "export over %d stores", MAX_MEMBERS);
    /* Checkpoint, and keep the files as they are until the archive is
     * written: a concurrent checkpoint would otherwise mix two snapshots. */
    if ((rc = vdb_store_snapshot_pin(store, err)) != VDB_OK)
        return rc;
    ex->pinned[ex->npinned++] = store;
    if ((d = opendir(dir)) == NULL)
        return vdb_error_set(err, VDB_EIO, "cannot read %s", dir);
    files = vdb_json_object();
    entry = vdb_json_object();
    while (rc == VDB_OK && (de = readdir(d)) != NULL)
        if (exportable(de->d_name))
            rc = add_file(ex, dir, prefix, de->d_name, files, err);
    closedir(d);
    vdb_json_object_set_new(entry, "model_id", vdb_json_string(model_id));
    vdb_json_object_set_new(entry, "path", vdb_json_string(prefix));
    vdb_json_object_set_new(entry, "dimension", vdb_json_int(config->dim));
    vdb_json_object_set_new(entry, "metric", vdb_json_string(vdb_metric_name(config->metric)));
    vdb_json_object_set_new(entry, "vectors", vdb_json_int((long long)vdb_store_count(store)));
    vdb_json_object_set_new(entry, "files", files);
    vdb_json_array_append_new(ex->stores, entry);
    return rc;
}

int vdb_export_write(vdb_export *ex, const char *out_path, vdb_error *err)
{
    vdb_json *manifest = vdb_json_object();
    vdb_zip_member *m;
    char *text;
    int rc;
    struct stat st;
    if (stat(out_path, &st) == 0)
        return vdb_error_set(err, VDB_EEXIST, "%s already exists", out_path);
    vdb_json_object_set_new(manifest, "format", vdb_json_string("vdb-export"));
    vdb_json_object_set_new(manifest, "version", vdb_json_int(1));
    vdb_json_object_set_new(manifest, "user_id", vdb_json_string(ex->user_id));
    vdb_json_object_set(manifest, "stores", ex->stores);
    text = vdb_json_dump(manifest, 0);
    vdb_json_decref(manifest);
    if (text == NULL)
        return vdb_error_set(err, VDB_ENOMEM, "out of memory");
    m = &ex->members[ex->nmembers];
    memset(m, 0, sizeof(*m));
    m->name = "manifest.json";
    m->data = text;
    m->len = strlen(text);
    m->deflate = 1;
    rc = vdb_zipio_write(out_path, ex->members, ex->nmembers + 1, err);
    vdb_json_free_text(text);
    return rc;
}
