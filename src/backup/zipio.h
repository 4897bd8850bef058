/* ZIP archives for store export/import (the only module that includes
 * zip.h, libzip's header).
 *
 * Reading treats every archive as hostile. vdb_zipio_open_buffer checks the
 * central directory before anything is extracted: entry count, member names
 * (no absolute paths, no "..", no backslashes, no control characters, no
 * subdirectories unless allowed, no duplicates), encryption (refused),
 * declared sizes against per-entry and total limits, and the
 * uncompressed/compressed ratio (zip bombs). vdb_zipio_read then extracts
 * one member while counting the bytes that actually come out, so a member
 * whose header lies about its size is cut off at the limit and refused.
 * Errors are VDB_EPARSE (not a readable ZIP), VDB_EINVAL (a rule above),
 * VDB_ETOOBIG (a size limit), VDB_ENOTFOUND (member absent). */
#ifndef VDB_BACKUP_ZIPIO_H
#define VDB_BACKUP_ZIPIO_H

#include <stddef.h>
#include <stdint.h>

#include "../core/err.h"

typedef struct vdb_zipio vdb_zipio;

typedef struct vdb_zip_limits {
    size_t max_entries;        /* members in the archive */
    uint64_t max_entry_bytes;  /* uncompressed size of one member */
    uint64_t max_total_bytes;  /* uncompressed size of all members */
    unsigned max_ratio;        /* uncompressed / compressed, for members over 1 MiB */
    int allow_subdirs;         /* member names may contain '/' (one level) */
} vdb_zip_limits;

/* Opens an archive held in memory (borrowed: keep `data` alive until
 * vdb_zipio_close) and validates its directory against `limits`; *out
 * receives it (NULL on failure). Errors: VDB_EPARSE, VDB_EINVAL,
 * VDB_ETOOBIG (see above), VDB_ENOMEM. */
int vdb_zipio_open_buffer(const void *data, size_t len, const vdb_zip_limits *limits,
                          vdb_zipio **out, vdb_error *err);
void vdb_zipio_close(vdb_zipio *zip); /* NULL is a no-op */

/* 1 when a member of that exact name exists, else 0; never fails. */
int vdb_zipio_has(const vdb_zipio *zip, const char *name);

/* Extracts a member into a new buffer (caller frees with vdb_free; one NUL
 * byte is appended after *len bytes for text members). *out and *len are
 * written on success only; on failure they keep what the caller had there.
 * Errors:
 * VDB_ENOTFOUND (no such member), VDB_EPARSE (cannot open it, corrupt or
 * truncated), VDB_ETOOBIG (larger than it declares), VDB_ENOMEM. */
int vdb_zipio_read(vdb_zipio *zip, const char *name, char **out, size_t *len, vdb_error *err);

/* One member to write: the contents of file `path`, or `len` bytes at
 * `data` (borrowed until vdb_zipio_write returns). */
typedef struct vdb_zip_member {
    const char *name;
    const char *path;
    const void *data;
    size_t len;
    int deflate;   /* compress (metadata, manifest) or store (npz: floats barely compress) */
} vdb_zip_member;

/* Writes a new archive at out_path (which must not exist). On error the
 * partial file is removed. Errors: VDB_EIO, VDB_ENOSPC, VDB_ENOMEM. */
int vdb_zipio_write(const char *out_path, const vdb_zip_member *members, size_t count,
                    vdb_error *err);

#endif
