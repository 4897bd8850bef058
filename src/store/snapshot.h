/* Snapshots: the store's durable base state, i.e. vectors.npz,
 * metadata.jsonl and the manifest store.json, replaced atomically as a set.
 *
 * Commit protocol (the manifest is the commit record):
 *   1. write vectors.npz.new and metadata.jsonl.new, fsync each;
 *   2. fsync the directory (their entries are durable);
 *   3. write store.json.new (LSN, counts, each file's size, metadata CRC32),
 *      fsync it, fsync the directory: THE CHECKPOINT IS NOW COMMITTED;
 *   4. rename vectors.npz.new, metadata.jsonl.new, then store.json.new
 *      into place, fsync the directory;
 *   5. only then may the caller truncate the WAL.
 * On open, vdb_snapshot_recover rolls a committed checkpoint forward
 * (finishes step 4 after a crash between renames) or discards an
 * uncommitted one (a torn or missing store.json.new: the .new files are
 * deleted, the old snapshot stands). So a crash at any instant leaves
 * either the old or the new snapshot, never a mix, and the WAL still holds
 * every record the surviving snapshot lacks. */
#ifndef VDB_STORE_SNAPSHOT_H
#define VDB_STORE_SNAPSHOT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/err.h"
#include "store.h"
#include "vecfile.h"
#include "vecset.h"

#define VDB_SNAPSHOT_VERSION 1

typedef struct vdb_snapshot_info {
    vdb_store_config config;
    uint64_t lsn;          /* every WAL record <= lsn is in the snapshot */
    uint64_t rows;         /* live rows written (no tombstones) */
    uint64_t vectors_size; /* bytes of vectors.npz */
    uint64_t meta_size;    /* bytes of metadata.jsonl */
    uint32_t meta_crc;     /* CRC32 of metadata.jsonl */
    uint64_t checkpoints;  /* how many checkpoints this store has made */
} vdb_snapshot_info;

/* Which rows of a set a snapshot holds when writers go on meanwhile: rows
 * [0, rows) minus those whose bit is set in `deleted` (the tombstones as of
 * the snapshot's LSN, a copy: vdb_vecset_tombstones), read with `guard`
 * (the store's rw lock) held shared a chunk at a time. The caller keeps
 * compaction (the only thing that moves or frees those rows) out. */
typedef struct vdb_snapshot_rows {
    uint32_t rows;
    const uint64_t *deleted;  /* NULL: none */
    pthread_rwlock_t *guard;
} vdb_snapshot_rows;

/* Writes and commits a snapshot of `set` covering WAL records up to `lsn`
 * (steps 1-4 above): the rows `sel` selects, or (sel NULL) every live row,
 * with every writer held off by the caller for the whole call. On an
 * error before the commit point the .new files are removed and the old
 * snapshot is untouched; the error is returned either way. *info_out
 * (optional) gets the manifest. Errors: VDB_ERANGE (a path too long),
 * VDB_EIO, VDB_ENOSPC, VDB_ENOMEM, open's VDB_ENOTFOUND (the directory is
 * gone) and VDB_EBUSY (out of descriptors), and vdb_snapshot_recover's
 * VDB_ECORRUPT (an earlier install left files it cannot reconcile). */
int vdb_snapshot_write(const char *dir, const vdb_store_config *config, uint64_t lsn,
                       uint64_t checkpoints, const vdb_vecset *set, const vdb_snapshot_rows *sel,
                       vdb_snapshot_info *info_out, vdb_error *err);

/* Finishes or discards an interrupted checkpoint (see above). Also removes
 * stray temporary files. Errors: VDB_EIO, VDB_ECORRUPT, VDB_ENOMEM. */
int vdb_snapshot_recover(const char *dir, vdb_error *err);

/* Reads and validates store.json into *info. Errors: VDB_ENOTFOUND
 * (absent), VDB_ECORRUPT (not JSON, too large, missing or invalid fields),
 * VDB_EIO, VDB_ENOMEM. */
int vdb_snapshot_read_manifest(const char *dir, vdb_snapshot_info *info, vdb_error *err);

/* Opens the vectors of the snapshot `info` describes (just committed by
 * this process) for mapping: checks the file's size, rows and dimension
 * against `info` and that its data is page-aligned, as vdb writes it
 * (the CRC is not read again). *out is closed with vdb_vecfile_close.
 * Errors: VDB_ECORRUPT (it does not match, or is not aligned; the name
 * says which), VDB_ENOTFOUND, VDB_EIO, VDB_ENOMEM, VDB_ERANGE. */
int vdb_snapshot_open_vectors(const char *dir, const vdb_snapshot_info *info,
                              vdb_vecfile **out, vdb_error *err);

/* Builds a vecset from the snapshot, checking the files against the
 * manifest. The vectors are mapped copy-on-write (nothing read eagerly)
 * when their data is page-aligned in the file, as vdb writes it; otherwise
 * they are read and inserted. *out receives a new set (caller frees with
 * vdb_vecset_free; NULL on failure). Errors: VDB_ECORRUPT (names the file
 * and what is wrong or missing), VDB_EIO, VDB_ENOMEM, VDB_ERANGE (path too
 * long). */
int vdb_snapshot_load(const char *dir, const vdb_snapshot_info *info, vdb_vecset **out,
                      vdb_error *err);

#endif
