/* libzip adapter for export/import (see zipio.h for the rules). The checks
 * use the central directory's declared sizes first (cheap, before any
 * inflation), then count real output bytes while extracting, because the
 * directory is attacker-controlled. */
#include "zipio.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <zip.h>

#include "../core/alloc.h"
#include "../core/fsx.h"

struct vdb_zipio {
    zip_t *archive;
    vdb_zip_limits limits;
    size_t count;
    char **names;
};

static int name_ok(const char *name, int allow_subdirs)
{
    size_t n = strlen(name), slashes = 0;
    if (n == 0 || n > 255 || name[0] == '/' || name[n - 1] == '/')
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c < 0x20 || c == 0x7f || c == '\\' || c == ':')
            return 0;
        if (c == '/')
            slashes++;
    }
    if (slashes > (allow_subdirs ? 1u : 0u))
        return 0;
    /* No path component may be "." or "..". */
    for (const char *p = name; *p;) {
        const char *end = strchr(p, '/');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if ((len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
            return 0;
        p += len + (end != NULL);
    }
    return 1;
}

void vdb_zipio_close(vdb_zipio *zip)
{
    if (zip == NULL)
        return;
    if (zip->archive)
        zip_discard(zip->archive);
    for (size_t i = 0; i < zip->count; i++)
        vdb_free(zip->names[i]);
    vdb_free(zip->names);
    vdb_free(zip);
}

static int check_entry(vdb_zipio *zip, zip_uint64_t i, uint64_t *total, vdb_error *err)
{
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_stat_index(zip->archive, i, 0, &st) != 0 || !(st.valid & ZIP_STAT_NAME))
        return vdb_error_set(err, VDB_EPARSE, "ZIP entry %llu is unreadable", (unsigned long long)i);
    if (!name_ok(st.name, zip->limits.allow_subdirs))
        return vdb_error_set(err, VDB_EINVAL, "ZIP member name '%.80s' is not allowed", st.name);
    if ((st.valid & ZIP_STAT_ENCRYPTION_METHOD) && st.encryption_method != ZIP_EM_NONE)
        return vdb_error_set(err, VDB_EINVAL, "ZIP member '%.80s' is encrypted", st.name);
    if (!(st.valid & ZIP_STAT_SIZE) || st.size > zip->limits.max_entry_bytes)
        return vdb_error_set(err, VDB_ETOOBIG, "ZIP member '%.80s' is over %llu bytes", st.name,
                             (unsigned long long)zip->limits.max_entry_bytes);
    if ((st.valid & ZIP_STAT_COMP_SIZE) && st.size > (1u << 20) &&
        st.size / (st.comp_size ? st.comp_size : 1) > zip->limits.max_ratio)
        return vdb_error_set(err, VDB_ETOOBIG, "ZIP member '%.80s' expands more than %ux",
                             st.name, zip->limits.max_ratio);
    *total += st.size;
    if (*total > zip->limits.max_total_bytes)
        return vdb_error_set(err, VDB_ETOOBIG, "ZIP contents are over %llu bytes",
                             (unsigned long long)zip->limits.max_total_bytes);
    for (zip_uint64_t j = 0; j < i; j++)
        if (strcmp(zip->names[j], st.name) == 0)
            return vdb_error_set(err, VDB_EINVAL, "ZIP member '%.80s' appears twice", st.name);
    zip->names[i] = vdb_strdup(st.name);
    return zip->names[i] ? VDB_OK : vdb_error_set(err, VDB_ENOMEM, "out of memory");
}

int vdb_zipio_open_buffer(const void *data, size_t len, const vdb_zip_limits *limits,
                          vdb_zipio **out, vdb_error *err)
{
    zip_error_t zerr;
    *out = NULL;
    vdb_zipio *zip = vdb_calloc(1, sizeof(*zip));
    if (zip == NULL)
        return vdb_error_set(err, VDB_ENOMEM, "out of memory");
    zip_error_init(&zerr);
    zip->limits = *limits;
    zip_source_t *src = zip_source_buffer_create(data, len, 0, &zerr);
    if (src == NULL || (zip->archive = zip_open_from_source(src, ZIP_RDONLY | ZIP_CHECKCONS,
                                                             &zerr)) == NULL) {
        int rc = vdb_error_set(err, VDB_EPARSE, "not a readable ZIP archive (%s)",
                               zip_error_strerror(&zerr));
        if (src)
            zip_source_free(src);
        zip_error_fini(&zerr);
        vdb_free(zip);
        return rc;
    }
    zip_error_fini(&zerr);
    zip_int64_t n = zip_get_num_entries(zip->archive, 0);
    if (n < 0 || (uint64_t)n > limits->max_entries) {
        vdb_zipio_close(zip);
        return vdb_error_set(err, VDB_EINVAL, "ZIP has %lld members, at most %zu allowed",
                             (long long)n, limits->max_entries);
    }
    zip->names = vdb_calloc(n ? (size_t)n : 1, sizeof(char *));
    uint64_t total = 0;
    int rc = zip->names ? VDB_OK : vdb_error_set(err, VDB_ENOMEM, "out of memory");
    for (zip_int64_t i = 0; rc == VDB_OK && i < n; i++) {
        rc = check_entry(zip, (zip_uint64_t)i, &total, err);
        zip->count = (size_t)i + 1;
    }
    if (rc != VDB_OK) {
        vdb_zipio_close(zip);
        return rc;
    }
    *out = zip;
    return VDB_OK;
}

int vdb_zipio_has(const vdb_zipio *zip, const char *name)
{
    for (size_t i = 0; i < zip->count; i++)
        if (strcmp(zip->names[i], name) == 0)
            return 1;
    return 0;
}

int vdb_zipio_read(vdb_zipio *zip, const char *name, char **out, size_t *len, vdb_error *err)
{
    zip_stat_t st;
    if (!vdb_zipio_has(zip, name) || zip_stat(zip->archive, name, 0, &st) != 0)
        return vdb_error_set(err, VDB_ENOTFOUND, "ZIP member '%s' is missing", name);
    uint64_t limit = st.size; /* checked against max_entry_bytes at open */
    char *buf = vdb_malloc((size_t)limit + 1);
    if (buf == NULL)
        return vdb_error_set(err, VDB_ENOMEM, "out of memory for '%s'", name);
    zip_file_t *file = zip_fopen(zip->archive, name, 0);
    if (file == NULL) {
        vdb_free(buf);
        return vdb_error_set(err, VDB_EPARSE, "cannot open ZIP member '%s'", name);
    }
    uint64_t got = 0;
    int rc = VDB_OK;
    for (;;) {
        char extra;
        /* Read one byte past the declared size to catch a lying header. */
        zip_int64_t n = got < limit ? zip_fread(file, buf + got, limit - got)
                                    : zip_fread(file, &extra, 1);
        if (n < 0) {
            rc = vdb_error_set(err, VDB_EPARSE, "ZIP member '%s' is corrupt (%s)", name,
                               zip_strerror(zip->archive));
            break;
        }
        if (n == 0)
            break;
        if (got >= limit) {
            rc = vdb_error_set(err, VDB_ETOOBIG, "ZIP member '%s' is larger than it declares",
                               name);
            break;
        }
        got += (uint64_t)n;
    }
    zip_fclose(file);
    if (rc == VDB_OK && got != limit)
        rc = vdb_error_set(err, VDB_EPARSE, "ZIP member '%s' is truncated", name);
    if (rc != VDB_OK) {
        vdb_free(buf);
        return rc;
    }
    buf[got] = '\0';
    *out = buf;
    *len = (size_t)got;
    return VDB_OK;
}

static int add_member(zip_t *archive, const vdb_zip_member *m, vdb_error *err)
{
    zip_source_t *src = m->path ? zip_source_file(archive, m->path, 0, -1)
                                : zip_source_buffer(archive, m->data, m->len, 0);
    if (src == NULL)
        return vdb_error_set(err, VDB_EIO, "cannot read %s: %s", m->path ? m->path : m->name,
                             zip_strerror(archive));
    zip_int64_t index = zip_file_add(archive, m->name, src, ZIP_FL_ENC_UTF_8);
    if (index < 0) {
        zip_source_free(src);
        return vdb_error_set(err, VDB_EIO, "cannot add %s: %s", m->name, zip_strerror(archive));
    }
    zip_set_file_compression(archive, (zip_uint64_t)index, m->deflate ? ZIP_CM_DEFLATE : ZIP_CM_STORE,
                             m->deflate ? 6 : 0);
    return VDB_OK;
}

int vdb_zipio_write(const char *out_path, const vdb_zip_member *members, size_t count,
                    vdb_error *err)
{
    int zerr = 0;
    zip_t *archive = zip_open(out_path, ZIP_CREATE | ZIP_EXCL, &zerr);
    if (archive == NULL)
        return vdb_error_set(err, VDB_EIO, "cannot create %s (libzip error %d)", out_path, zerr);
    int rc = VDB_OK;
    for (size_t i = 0; rc == VDB_OK && i < count; i++)
        rc = add_member(archive, &members[i], err);
    if (rc != VDB_OK) {
        zip_discard(archive);
        vdb_fsx_unlink(out_path, NULL);
        return rc;
    }
    if (zip_close(archive) != 0) {
        int nospc = errno == ENOSPC;
        rc = vdb_error_set(err, nospc ? VDB_ENOSPC : VDB_EIO, "cannot write %s: %s", out_path,
                           zip_strerror(archive));
        zip_discard(archive);
        vdb_fsx_unlink(out_path, NULL);
    }
    return rc;
}
