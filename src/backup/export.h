/* Store export archives, shared by GET /admin/export_zip and `vdb export`.
 *
 * Each store is checkpointed and pinned first (so vectors.npz and metadata.jsonl hold
 * every acknowledged write), then its snapshot files go into the archive
 * (at the root for a single store, as the original wrote them, or under a
 * folder per model), with a manifest.json listing every store and the
 * SHA-256 and size of each file. The WAL (empty after the checkpoint), the
 * lock and temporaries are left out. */
#ifndef VDB_BACKUP_EXPORT_H
#define VDB_BACKUP_EXPORT_H

#include "../core/err.h"
#include "../store/store.h"

typedef struct vdb_export vdb_export;

/* An empty export for `user_id` (copied) into *out (NULL on failure; freed
 * with vdb_export_free). Errors: VDB_ENOMEM. */
int vdb_export_new(const char *user_id, vdb_export **out, vdb_error *err);
void vdb_export_free(vdb_export *ex); /* NULL is a no-op */

/* Checkpoints `store` (living in `dir`, named `model_id`), pins its
 * snapshot until vdb_export_free, and adds its files under `prefix` ("" =
 * the archive root). The store must stay open until vdb_export_free. Errors: the checkpoint's, VDB_EIO, VDB_ENOMEM,
 * VDB_ERANGE (too many stores or files). */
int vdb_export_add_store(vdb_export *ex, vdb_store *store, const char *dir, const char *model_id,
                         const char *prefix, vdb_error *err);

/* Writes the archive with manifest.json to `out_path`, which must not
 * exist. Errors: VDB_EIO, VDB_ENOSPC, VDB_ENOMEM, VDB_EEXIST. */
int vdb_export_write(vdb_export *ex, const char *out_path, vdb_error *err);

#endif
