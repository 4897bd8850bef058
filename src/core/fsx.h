/* The one small I/O layer every durable file goes through: open, full
 * writes/reads, fdatasync, rename, directory fsync, truncate, unlink, mkdir
 * and mmap, each returning vdb error codes with the file named in the
 * message.
 *
 * Why one layer: tests inject failures here deterministically (SQLite's VFS
 * lesson). A fault plan counts the operations of chosen kinds and fails the
 * Nth (once, or it and every later one): EIO, ENOSPC, a short (torn) write
 * that writes half the bytes and then fails, or a crash (SIGKILL of the
 * whole process, optionally after writing half the bytes) for crash-point
 * enumeration. Faults are process-wide and thread-safe (atomics).
 *
 * Short writes and EINTR from the OS are retried here, never surfaced; a
 * failed fsync is never retried (fsyncgate): the caller must treat the file
 * as unknown and stop writing to it.
 *
 * Error codes, for every function below: an OS errno maps to VDB_ENOTFOUND
 * (ENOENT), VDB_EEXIST (EEXIST), VDB_ENOSPC (ENOSPC, EDQUOT, EFBIG),
 * VDB_EBUSY (EMFILE, ENFILE, ENOMEM: a resource limit, worth retrying) or
 * VDB_EIO (anything else); an injected fault gives VDB_EIO or VDB_ENOSPC.
 * Each function's comment names the codes that can reach it. */
#ifndef VDB_CORE_FSX_H
#define VDB_CORE_FSX_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "err.h"

/* Operation kinds, used as bits in a fault plan's mask. */
enum {
    VDB_FSX_OPEN = 1u << 0,
    VDB_FSX_WRITE = 1u << 1, /* write/pwrite */
    VDB_FSX_READ = 1u << 2,
    VDB_FSX_FSYNC = 1u << 3, /* fdatasync/fsync of a file */
    VDB_FSX_DIRSYNC = 1u << 4,
    VDB_FSX_RENAME = 1u << 5,
    VDB_FSX_TRUNCATE = 1u << 6,
    VDB_FSX_UNLINK = 1u << 7,
    VDB_FSX_MKDIR = 1u << 8,
    VDB_FSX_ALL = 0x1FFu
};

typedef enum {
    VDB_FSX_FAULT_EIO = 1,
    VDB_FSX_FAULT_ENOSPC = 2,
    VDB_FSX_FAULT_SHORT = 3, /* writes: half the bytes land, then EIO; others: EIO */
    VDB_FSX_FAULT_CRASH = 4  /* SIGKILL; a write first lands half its bytes */
} vdb_fsx_fault;

/* Arms a fault: the `nth` operation (1 = the next one) whose kind is in
 * `mask` fails with `kind`; with `forever`, every later one in the mask
 * fails too. nth = 0 disarms. */
void vdb_fsx_fault_set(unsigned mask, uint64_t nth, vdb_fsx_fault kind, int forever);

/* Number of faults injected since start (tests check a fault really fired). */
uint64_t vdb_fsx_fault_hits(void);

/* open(2) with O_CLOEXEC added. Returns the fd (>= 0) or a negative code:
 * VDB_ENOTFOUND (ENOENT), VDB_EEXIST, VDB_ENOSPC, VDB_EBUSY (out of
 * descriptors), VDB_EIO. */
int vdb_fsx_open(const char *path, int flags, int mode, vdb_error *err);

/* close(2); errors (VDB_EIO, or VDB_ENOSPC for a delayed write error) are
 * reported but the fd is gone either way. */
int vdb_fsx_close(int fd, const char *name, vdb_error *err);

/* Writes all `len` bytes at the file offset (pwrite when offset >= 0, else
 * write). VDB_ENOSPC or VDB_EIO; the file may then hold a prefix. */
int vdb_fsx_write(int fd, const void *buf, size_t len, off_t offset, const char *name,
                  vdb_error *err);

/* Reads up to `len` bytes at `offset` (retrying short reads until EOF).
 * Returns the byte count (>= 0; less than len only at EOF) or VDB_EIO. */
ssize_t vdb_fsx_read(int fd, void *buf, size_t len, off_t offset, const char *name,
                     vdb_error *err);

/* fdatasync (F_FULLFSYNC on Apple). Never retried on failure. Errors:
 * VDB_EIO, VDB_ENOSPC. */
int vdb_fsx_fsync(int fd, const char *name, vdb_error *err);

/* Opens the directory, fsyncs it (makes renames/creates durable), closes.
 * Errors: VDB_ENOTFOUND (no directory), VDB_EBUSY (out of descriptors),
 * VDB_EIO. */
int vdb_fsx_dirsync(const char *dir, vdb_error *err);

/* Writes back [offset, offset + len) of `fd` and waits for it
 * (sync_file_range on Linux; nothing elsewhere). Not a durability point
 * (no metadata is committed; the caller still fsyncs) and not in the fault
 * plan; errors are left for that fsync to report. Long writers call it
 * every few MiB so their dirty data stays small: on ext4 a concurrent
 * fsync of another file (the WAL) commits the journal, which first writes
 * out the ordered data, and waited up to 1 s behind a 1.5 GB snapshot. */
void vdb_fsx_writeback(int fd, uint64_t offset, uint64_t len);

/* Starts writeback of [offset, offset + len) of `fd` and returns without
 * waiting (sync_file_range(SYNC_FILE_RANGE_WRITE) on Linux; nothing
 * elsewhere). Not a durability point and not in the fault plan, like
 * vdb_fsx_writeback. A writer of one large record that it will fsync
 * calls it every few MiB, so the disk works while the rest is still being
 * copied and the closing fsync finds most of the data already written. */
void vdb_fsx_writeback_start(int fd, uint64_t offset, uint64_t len);

/* Writeback pacing of one long sequential write beside fsync-per-write
 * writers (a snapshot beside the WAL, issue 13). The file's new bytes are
 * pushed to the disk and waited for (vdb_fsx_writeback) a window at a
 * time, so little of it is ever dirty or in flight: a WAL fdatasync that
 * commits the ext4 journal waits behind at most about one window. The
 * window is sized from this disk's measured writeback rate so that one
 * takes about VDB_FSX_PACE_TARGET_MS, between VDB_FSX_PACE_MIN and
 * VDB_FSX_PACE_MAX bytes: a fixed 8 MiB was 80 ms of a 100 MB/s disk. The
 * cap is there because the rate is only an estimate of the recent past: a
 * virtual disk here measured 3.2 GB/s (the host's cache) and would have
 * given 16 MiB windows, which the same disk at a slow moment takes over
 * 100 ms to write. Not a durability point
 * (the writer still fsyncs), not thread-safe (one per writer), no
 * errors: writeback errors are left for that fsync. */
#define VDB_FSX_PACE_TARGET_MS 5.0
#define VDB_FSX_PACE_MIN (256u << 10)
#define VDB_FSX_PACE_MAX (4u << 20)

typedef struct vdb_fsx_pacer {
    int fd;
    uint64_t done;    /* bytes written back and waited for */
    uint64_t window;  /* bytes per writeback now */
    double rate;      /* measured bytes per ms (0 until the first) */
    double wait_ms;   /* total time spent waiting for writeback */
    uint64_t windows; /* writebacks made */
} vdb_fsx_pacer;

/* Starts pacing `fd`, whose bytes before `offset` are not this writer's
 * concern (written back already or not at all). */
void vdb_fsx_pacer_init(vdb_fsx_pacer *pacer, int fd, uint64_t offset);

/* Tells the pacer the file now holds `written` bytes from the writer:
 * writes back (and waits for) every full window. */
void vdb_fsx_pacer_advance(vdb_fsx_pacer *pacer, uint64_t written);

/* Gives back the blocks of a large file that nothing needs any more (an
 * unlinked log still open), a step at a time: each step is a truncation
 * made durable at once (fdatasync), so the journal commit that frees the
 * blocks (and trims them on a `discard` mount) is short and paid by this
 * caller, not by the next fsync of an unrelated writer waiting behind a
 * commit that frees a gigabyte. The step is sized from the measured time
 * of the last one, for about VDB_FSX_PACE_TARGET_MS each. Leaves the file
 * empty; no errors (a failure stops the stepping, the close frees the
 * rest). Not in the fault plan: the file holds nothing. */
void vdb_fsx_release_blocks(int fd);

/* rename(2). Errors: VDB_ENOTFOUND (no `from`), VDB_ENOSPC, VDB_EIO. */
int vdb_fsx_rename(const char *from, const char *to, vdb_error *err);
/* ftruncate(2) to `len` bytes. Errors: VDB_ENOSPC (growing), VDB_EIO. */
int vdb_fsx_truncate(int fd, off_t len, const char *name, vdb_error *err);

/* unlink; a missing file is not an error. Errors: VDB_EIO. */
int vdb_fsx_unlink(const char *path, vdb_error *err);

/* rmdir of an empty directory; a missing one is not an error. Counts as a
 * VDB_FSX_UNLINK operation. VDB_EIO (not empty included). */
int vdb_fsx_rmdir(const char *path, vdb_error *err);

/* rm -rf: removes `path` and everything under it, without following
 * symlinks; a missing path is not an error. Each file and directory counts
 * as a VDB_FSX_UNLINK operation. VDB_EIO (or the code of the failing
 * errno); what was removed before a failure stays removed. */
int vdb_fsx_remove_tree(const char *path, vdb_error *err);

/* mkdir. Errors: VDB_EEXIST (already there), VDB_ENOTFOUND (no parent),
 * VDB_ENOSPC, VDB_EIO. */
int vdb_fsx_mkdir(const char *path, int mode, vdb_error *err);

/* mkdir -p: creates every missing directory of `path` (existing ones are
 * fine; one that exists as a file gives VDB_EEXIST). Each mkdir counts as
 * a VDB_FSX_MKDIR operation. Errors: VDB_EINVAL (empty or too long),
 * VDB_ENOSPC, VDB_EEXIST, VDB_EIO; the message names the path, so callers
 * answering a client put their own message instead. */
int vdb_fsx_mkdirs(const char *path, int mode, vdb_error *err);

/* File size via fstat; VDB_EIO on failure. */
int vdb_fsx_size(int fd, uint64_t *size, const char *name, vdb_error *err);


/* Replaces dir/name with `len` bytes of `data` atomically: dir/name.tmp,
 * write, fsync, close, rename, fsync of dir (Redis rdbSave's order), so a
 * crash leaves the old file or the new one, never a mix. `mode` is the new
 * file's mode. Errors: VDB_ERANGE (path too long), VDB_EIO, VDB_ENOSPC; the
 * temp file is removed on failure. */
int vdb_fsx_replace_file(const char *dir, const char *name, const void *data, size_t len,
                         int mode, vdb_error *err);

/* Reads a whole regular file of at most `max` bytes into *out (vdb_malloc'd,
 * NUL-terminated; caller frees with vdb_free) and its length into *len.
 * Written only on success. Errors: VDB_ENOTFOUND (no file), VDB_ETOOBIG
 * (over max, nothing read), VDB_EIO, VDB_ENOMEM. */
int vdb_fsx_read_file(const char *path, size_t max, char **out, size_t *len, vdb_error *err);

/* Reads a small file from its start into buf (at most cap - 1 bytes, then
 * NUL-terminated), to EOF or until buf is full, without sizing it first:
 * for /proc files (whose size reads as 0) and short text files. *len (may
 * be NULL) gets the byte count. Errors: those of vdb_fsx_open, VDB_EIO,
 * VDB_EINVAL (cap 0). */
int vdb_fsx_read_text(const char *path, char *buf, size_t cap, size_t *len, vdb_error *err);

/* Joins dir and name into out (VDB_ERANGE when it does not fit). */
int vdb_fsx_path(char *out, size_t cap, const char *dir, const char *name, vdb_error *err);

#endif
