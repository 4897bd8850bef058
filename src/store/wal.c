/* Write-ahead log; the contract is in wal.h.
 *
 * FILE FORMAT (all integers little-endian)
 *
 *   File header, 16 bytes:
 *     0  8  magic "VDBWAL\0\1"
 *     8  4  format version (1)
 *    12  4  salt: random per file; seeds every record's checksum, so a
 *           record copied from another log never validates here
 *
 *   Then records, back to back, each a 24-byte header and a payload:
 *     0  4  record magic 0x52424456 ("VDBR")
 *     4  4  payload length in bytes (<= VDB_WAL_MAX_RECORD)
 *     8  8  LSN: 1, 2, 3, ... strictly increasing within the file
 *    16  2  type: 1 = upsert batch, 2 = delete batch
 *    18  2  reserved, 0
 *    20  4  CRC32C, seeded with the salt, over header bytes 4..19 and then
 *           the payload
 *
 *   Upsert payload: u32 n, u32 dim, n*dim float32 (the vectors exactly as
 *   the caller gave them, before any normalization, so replay recomputes
 *   bit-identical rows), then per vector: u32 id length L, L id bytes, a NUL;
 *   u32 metadata length M (0xFFFFFFFF = no metadata), M bytes, a NUL.
 *   Delete payload: u32 n, then per id: u32 L, L bytes, a NUL.
 *   (Encoding and decoding of payloads live in the store; the log treats
 *   them as opaque bytes.)
 *
 * RECOVERY. Records are read in order. The first record that is incomplete,
 * has a bad magic, length, checksum or a non-increasing LSN ends the scan.
 * If any valid record (magic + checksum) starts anywhere after it, the log
 * is corrupt in the middle: VDB_ECORRUPT naming the offset, nothing dropped.
 * Otherwise it is a torn tail from a crash mid-append: it is dropped with a
 * warning and the file truncated there, so the next append does not land
 * behind garbage.
 *
 * SHRINKING. A checkpoint makes the records up to its LSN redundant. The
 * log is not truncated in place (writers append during the checkpoint, so
 * the records to keep are at the end): the kept records are copied
 * verbatim (same salt, so their checksums stay valid) into "wal.log.new",
 * mostly while appends go on, and the file is renamed over the log with
 * appends held off only for the last few records and an fsync. The rename
 * is atomic, so recovery sees one complete log or the other.
 *
 * GROUP COMMIT. Committers wait on one condition variable; the first to
 * find no fsync running starts one that covers every record appended so
 * far, and everyone whose LSN it covered returns when it finishes. So N
 * concurrent writers cost about one fdatasync, not N. */
#include "wal.h"

#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "../core/alloc.h"
#include "../core/bytes.h"
#include "../core/fsx.h"
#include "../core/log.h"
#include "../core/rng.h"
#include "../core/crc.h"

#define HEADER_SIZE 16
#define REC_HEADER 24
#define REC_MAGIC 0x52424456u
#define WAL_VERSION 1u
#define REWRITE_SUFFIX ".new"
#define COPY_CHUNK (1u << 20)
static const unsigned char file_magic[8] = {'V', 'D', 'B', 'W', 'A', 'L', 0, 1};

struct vdb_wal {
    char *path;
    int fd;
    int read_only;
    int repair;
    vdb_wal_sync_policy policy;
    uint32_t interval_ms;
    uint32_t salt;
    pthread_mutex_t mu;
    pthread_cond_t cond;
    uint64_t end;         /* file size: offset of the next record */
    uint64_t prev_end;    /* end before the last append (for rollback) */
    uint64_t last_lsn;    /* last appended */
    uint64_t durable_lsn; /* last known durable */
    uint64_t syncs;
    int syncing;
    int failed;
    int stop;
    int thread_started;
    pthread_t thread;
    vdb_wal_test_hook_fn after_fsync; /* tests only: runs in the unlocked fsync window */
    void *after_fsync_ctx;
};

static uint32_t record_crc(uint32_t salt, const unsigned char *header, const void *payload,
                           size_t len)
{
    uint32_t crc = vdb_crc32c(salt, header + 4, 16);
    return vdb_crc32c(crc, payload, len);
}

/* Checks a record header + payload held in memory; 1 when valid. */
static int record_valid(uint32_t salt, const unsigned char *p, size_t avail)
{
    uint32_t len;
    if (avail < REC_HEADER || vdb_get32le(p) != REC_MAGIC)
        return 0;
    len = vdb_get32le(p + 4);
    if (len > VDB_WAL_MAX_RECORD || (size_t)len > avail - REC_HEADER)
        return 0;
    return record_crc(salt, p, p + REC_HEADER, len) == vdb_get32le(p + 20);
}

/* Fsyncs with the mutex released; updates the durable LSN or fails the log.
 * Called with wal->mu held and wal->syncing clear. */
static int sync_locked(vdb_wal *wal, vdb_error *err)
{
    uint64_t target = wal->last_lsn;
    int rc;
    wal->syncing = 1;
    pthread_mutex_unlock(&wal->mu);
    rc = vdb_fsx_fsync(wal->fd, wal->path, err);
    if (wal->after_fsync != NULL)
        wal->after_fsync(wal->after_fsync_ctx);
    pthread_mutex_lock(&wal->mu);
    wal->syncing = 0;
    wal->syncs++;
    if (rc == VDB_OK) {
        if (target > wal->durable_lsn)
            wal->durable_lsn = target;
    } else {
        wal->failed = 1;
        vdb_log_error("%s: fsync failed; the store is read-only until reopened", wal->path);
    }
    pthread_cond_broadcast(&wal->cond);
    return rc;
}

static int wait_durable(vdb_wal *wal, uint64_t lsn, vdb_error *err)
{
    int rc = VDB_OK;
    pthread_mutex_lock(&wal->mu);
    for (;;) {
        if (wal->durable_lsn >= lsn)
            break;
        if (wal->failed) {
            rc = vdb_error_set(err, VDB_EREADONLY, "%s: an earlier write or fsync failed",
                               wal->path);
            break;
        }
        if (!wal->syncing) {
            rc = sync_locked(wal, err);
            if (rc != VDB_OK)
                break;
            continue;
        }
        pthread_cond_wait(&wal->cond, &wal->mu);
    }
    pthread_mutex_unlock(&wal->mu);
    return rc;
}

static void *interval_main(void *arg)
{
    vdb_wal *wal = arg;
    pthread_mutex_lock(&wal->mu);
    while (!wal->stop) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += wal->interval_ms / 1000;
        until.tv_nsec += (long)(wal->interval_ms % 1000) * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&wal->cond, &wal->mu, &until);
        if (!wal->stop && !wal->failed && !wal->syncing && wal->last_lsn > wal->durable_lsn)
            sync_locked(wal, NULL);
    }
    pthread_mutex_unlock(&wal->mu);
    return NULL;
}

static void header_bytes(unsigned char header[HEADER_SIZE], uint32_t salt)
{
    memcpy(header, file_magic, 8);
    vdb_put32le(header + 8, WAL_VERSION);
    vdb_put32le(header + 12, salt);
}

static int write_header(vdb_wal *wal, vdb_error *err)
{
    unsigned char header[HEADER_SIZE];
    int rc;
    header_bytes(header, wal->salt);
    if ((rc = vdb_fsx_truncate(wal->fd, 0, wal->path, err)) != VDB_OK ||
        (rc = vdb_fsx_write(wal->fd, header, HEADER_SIZE, 0, wal->path, err)) != VDB_OK ||
        (rc = vdb_fsx_fsync(wal->fd, wal->path, err)) != VDB_OK)
        return rc;
    wal->end = HEADER_SIZE;
    return VDB_OK;
}

/* Reads and checks the file header; creates it for a new (or torn, shorter
 * than a header) file. */
static int open_header(vdb_wal *wal, uint64_t size, vdb_error *err)
{
    unsigned char header[HEADER_SIZE];
    ssize_t got;
    if (size < HEADER_SIZE) {
        if (wal->read_only)
            return size == 0 ? VDB_OK
                             : vdb_error_set(err, VDB_ECORRUPT, "%s: torn header", wal->path);
        if (size > 0)
            vdb_log_warn("%s: torn %llu-byte header rewritten", wal->path,
                         (unsigned long long)size);
        if (vdb_rng_os_bytes(&wal->salt, sizeof(wal->salt)) != 0)
            wal->salt = (uint32_t)time(NULL);
        return write_header(wal, err);
    }
    got = vdb_fsx_read(wal->fd, header, HEADER_SIZE, 0, wal->path, err);
    if (got < 0)
        return (int)got;
    if ((size_t)got != HEADER_SIZE || memcmp(header, file_magic, 8) != 0)
        return vdb_error_set(err, VDB_ECORRUPT, "%s: not a vdb WAL (bad magic at offset 0)",
                             wal->path);
    if (vdb_get32le(header + 8) != WAL_VERSION)
        return vdb_error_set(err, VDB_ECORRUPT, "%s: WAL version %u not supported", wal->path,
                             vdb_get32le(header + 8));
    wal->salt = vdb_get32le(header + 12);
    return VDB_OK;
}

/* After a bad record at `bad`: is there a valid record anywhere later? */
static int find_valid_after(vdb_wal *wal, uint64_t bad, uint64_t size, uint64_t *found,
                            vdb_error *err)
{
    size_t len = (size_t)(size - bad);
    unsigned char *buf = vdb_malloc(len ? len : 1);
    ssize_t got;
    int rc = 0;
    if (buf == NULL)
        return vdb_error_set(err, VDB_ENOMEM, "%s: no memory to scan the tail", wal->path);
    got = vdb_fsx_read(wal->fd, buf, len, (off_t)bad, wal->path, err);
    if (got < 0) {
        rc = (int)got;
        goto cleanup;
    }
    for (size_t p = 1; p + REC_HEADER <= (size_t)got; p++) {
        if (buf[p] == 0x56 && record_valid(wal->salt, buf + p, (size_t)got - p)) {
            *found = bad + p;
            rc = 1;
            break;
        }
    }
cleanup:
    vdb_free(buf);
    return rc;
}

static int scan(vdb_wal *wal, uint64_t size, vdb_wal_replay_fn replay, void *ctx,
                uint64_t *dropped, vdb_error *err)
{
    unsigned char header[REC_HEADER];
    unsigned char *payload = NULL;
    size_t cap = 0;
    uint64_t off = HEADER_SIZE, prev_lsn = 0, later = 0;
    const char *why = NULL;
    int rc = VDB_OK;
    while (off < size) {
        uint32_t len;
        uint64_t lsn;
        ssize_t got;
        if (size - off < REC_HEADER) {
            why = "incomplete record header";
            break;
        }
        if ((got = vdb_fsx_read(wal->fd, header, REC_HEADER, (off_t)off, wal->path, err)) < 0) {
            rc = (int)got;
            goto cleanup;
        }
        len = vdb_get32le(header + 4);
        lsn = vdb_get64le(header + 8);
        if (vdb_get32le(header) != REC_MAGIC) {
            why = "bad record magic";
            break;
        }
        if (len > VDB_WAL_MAX_RECORD || len > size - off - REC_HEADER) {
            why = "record runs past the end of the file";
            break;
        }
        if (len > cap) {
            unsigned char *p = vdb_realloc(payload, len);
            if (p == NULL) {
                rc = vdb_error_set(err, VDB_ENOMEM, "%s: no memory for a %u-byte record",
                                   wal->path, len);
                goto cleanup;
            }
            payload = p;
            cap = len;
        }
        if ((got = vdb_fsx_read(wal->fd, payload, len, (off_t)(off + REC_HEADER), wal->path,
                                err)) < 0) {
            rc = (int)got;
            goto cleanup;
        }
        if (record_crc(wal->salt, header, payload, len) != vdb_get32le(header + 20)) {
            why = "checksum mismatch";
            break;
        }
        if (lsn <= prev_lsn) {
            why = "LSN does not increase";
            break;
        }
        if ((rc = replay(ctx, lsn, (int)vdb_get16le(header + 16), payload, len, err)) != 0)
            goto cleanup;
        prev_lsn = lsn;
        off += REC_HEADER + len;
    }
    wal->last_lsn = wal->durable_lsn = prev_lsn;
    wal->end = off;
    if (why == NULL)
        goto cleanup;
    rc = find_valid_after(wal, off, size, &later, err);
    if (rc < 0)
        goto cleanup;
    if (rc == 1 && !(wal->repair && !wal->read_only)) {
        rc = vdb_error_set(err, VDB_ECORRUPT,
                           "%s: corrupt record at offset %llu (%s) followed by a valid record "
                           "at offset %llu",
                           wal->path, (unsigned long long)off, why, (unsigned long long)later);
        goto cleanup;
    }
    if (rc == 1)
        vdb_log_error("%s: REPAIR: dropping %llu bytes from the corrupt record at offset %llu "
                      "(%s), including valid records from offset %llu on",
                      wal->path, (unsigned long long)(size - off), (unsigned long long)off, why,
                      (unsigned long long)later);
    else
        vdb_log_warn("%s: dropped a torn tail of %llu bytes at offset %llu (%s)", wal->path,
                     (unsigned long long)(size - off), (unsigned long long)off, why);
    *dropped = size - off;
    rc = VDB_OK;
    if (!wal->read_only && (rc = vdb_fsx_truncate(wal->fd, (off_t)off, wal->path, err)) == VDB_OK)
        rc = vdb_fsx_fsync(wal->fd, wal->path, err);
cleanup:
    vdb_free(payload);
    return rc;
}

/* A "<path>.new" left by a rewrite that never reached its rename: never
 * the log (the rename is what makes it one), so it is dropped. */
static int remove_stray_rewrite(const char *path, vdb_error *err)
{
    char stray[PATH_MAX];
    if (snprintf(stray, sizeof(stray), "%s" REWRITE_SUFFIX, path) >= (int)sizeof(stray))
        return vdb_error_set(err, VDB_ERANGE, "%s: path too long", path);
    return vdb_fsx_unlink(stray, err);
}

int vdb_wal_open(const char *path, const vdb_wal_options *options, vdb_wal_replay_fn replay,
                 void *ctx, uint64_t *dropped_out, vdb_wal **out, vdb_error *err)
{
    vdb_wal *wal = vdb_calloc(1, sizeof(*wal));
    uint64_t size = 0, dropped = 0;
    int rc;
    *out = NULL;
    if (wal == NULL || (wal->path = vdb_strdup(path)) == NULL) {
        vdb_free(wal);
        return vdb_error_set(err, VDB_ENOMEM, "wal: out of memory");
    }
    wal->fd = -1;
    wal->read_only = options->read_only;
    wal->repair = options->repair;
    wal->policy = options->policy;
    wal->interval_ms = options->interval_ms ? options->interval_ms : 1000;
    pthread_mutex_init(&wal->mu, NULL);
    pthread_cond_init(&wal->cond, NULL);
    rc = vdb_fsx_open(path, wal->read_only ? O_RDONLY : O_RDWR | O_CREAT, 0644, err);
    if (rc < 0)
        goto fail;
    wal->fd = rc;
    if (!wal->read_only && (rc = remove_stray_rewrite(path, err)) != VDB_OK)
        goto fail;
    if ((rc = vdb_fsx_size(wal->fd, &size, path, err)) != VDB_OK ||
        (rc = open_header(wal, size, err)) != VDB_OK)
        goto fail;
    if (size >= HEADER_SIZE && (rc = scan(wal, size, replay, ctx, &dropped, err)) != VDB_OK)
        goto fail;
    if (size < HEADER_SIZE)
        wal->end = wal->read_only ? 0 : HEADER_SIZE;
    if (!wal->read_only && wal->policy == VDB_WAL_SYNC_INTERVAL) {
        if (pthread_create(&wal->thread, NULL, interval_main, wal) != 0) {
            rc = vdb_error_set(err, VDB_ENOMEM, "%s: cannot start the fsync thread", path);
            goto fail;
        }
        wal->thread_started = 1;
    }
    if (dropped_out != NULL)
        *dropped_out = dropped;
    *out = wal;
    return VDB_OK;
fail:
    vdb_wal_close(wal);
    return rc;
}

void vdb_wal_close(vdb_wal *wal)
{
    if (wal == NULL)
        return;
    if (wal->thread_started) {
        pthread_mutex_lock(&wal->mu);
        wal->stop = 1;
        pthread_cond_broadcast(&wal->cond);
        pthread_mutex_unlock(&wal->mu);
        pthread_join(wal->thread, NULL);
    }
    vdb_fsx_close(wal->fd, wal->path, NULL);
    pthread_cond_destroy(&wal->cond);
    pthread_mutex_destroy(&wal->mu);
    vdb_free(wal->path);
    vdb_free(wal);
}

/* A record's payload goes to the file before its header, which holds the
 * checksum: until the header is written the record reads as a torn tail
 * (no magic at its offset), which recovery drops like any record a crash
 * cut short. That order lets a large payload (an upload: 150 MB for
 * 100,000 x 384) be written in slices of SLICE_BYTES, each checksummed
 * just before it is written, so its bytes come from memory once for both
 * (they were read twice), and, under the fsync-always policy, lets the
 * disk start on it every WRITEBACK_BYTES: the store applies the batch
 * while the disk writes, and the closing fdatasync waits only for the
 * rest (it wrote the whole record after the last byte was copied). */
#define SLICED_FROM (8u << 20)
#define SLICE_BYTES (1u << 20)
#define WRITEBACK_BYTES (8u << 20)

static int write_payload(vdb_wal *wal, const vdb_wal_piece *pieces, size_t count, size_t len,
                         uint64_t off, unsigned char *header, vdb_error *err)
{
    uint32_t crc = vdb_crc32c(wal->salt, header + 4, 16);
    size_t slice = len >= SLICED_FROM ? SLICE_BYTES : len;
    uint64_t started = off; /* writeback started up to here */
    for (size_t i = 0; i < count; i++) {
        const unsigned char *p = pieces[i].data;
        size_t left = pieces[i].len;
        while (left > 0) {
            size_t n = left < slice ? left : slice;
            int rc;
            crc = vdb_crc32c(crc, p, n);
            if ((rc = vdb_fsx_write(wal->fd, p, n, (off_t)off, wal->path, err)) != VDB_OK)
                return rc;
            p += n;
            left -= n;
            off += n;
            if (wal->policy == VDB_WAL_SYNC_ALWAYS && len >= SLICED_FROM &&
                off - started >= WRITEBACK_BYTES) {
                vdb_fsx_writeback_start(wal->fd, started, off - started);
                started = off;
            }
        }
    }
    vdb_put32le(header + 20, crc);
    return VDB_OK;
}

int vdb_wal_append(vdb_wal *wal, int type, const void *payload, size_t len, uint64_t *lsn_out,
                   vdb_error *err)
{
    vdb_wal_piece one = {payload, len};
    return vdb_wal_append_pieces(wal, type, &one, 1, lsn_out, err);
}

int vdb_wal_append_pieces(vdb_wal *wal, int type, const vdb_wal_piece *pieces, size_t count,
                          uint64_t *lsn_out, vdb_error *err)
{
    unsigned char header[REC_HEADER];
    uint64_t lsn, at;
    size_t len = 0;
    int rc;
    if (wal->read_only)
        return vdb_error_set(err, VDB_EREADONLY, "%s: opened read-only", wal->path);
    for (size_t i = 0; i < count; i++) {
        if (pieces[i].len > VDB_WAL_MAX_RECORD - len)
            return vdb_error_set(err, VDB_ETOOBIG, "WAL record over the %u-byte limit",
                                 VDB_WAL_MAX_RECORD);
        len += pieces[i].len;
    }
    pthread_mutex_lock(&wal->mu);
    rc = wal->failed;
    lsn = wal->last_lsn + 1;
    at = wal->end;
    pthread_mutex_unlock(&wal->mu);
    if (rc)
        return vdb_error_set(err, VDB_EREADONLY, "%s: an earlier write or fsync failed",
                             wal->path);
    vdb_put32le(header, REC_MAGIC);
    vdb_put32le(header + 4, (uint32_t)len);
    vdb_put64le(header + 8, lsn);
    vdb_put16le(header + 16, (uint32_t)type);
    header[18] = header[19] = 0;
    rc = write_payload(wal, pieces, count, len, at + REC_HEADER, header, err);
    if (rc == VDB_OK)
        rc = vdb_fsx_write(wal->fd, header, REC_HEADER, (off_t)at, wal->path, err);
    if (rc != VDB_OK) {
        /* Best effort: cut the partial record so the file ends on a good one;
         * the log is failed either way and recovery would drop it. */
        vdb_fsx_truncate(wal->fd, (off_t)at, wal->path, NULL);
        pthread_mutex_lock(&wal->mu);
        wal->failed = 1;
        pthread_mutex_unlock(&wal->mu);
        vdb_log_error("%s: append failed; the store is read-only until reopened", wal->path);
        return rc;
    }
    pthread_mutex_lock(&wal->mu);
    wal->prev_end = at;
    wal->end = at + REC_HEADER + len;
    wal->last_lsn = lsn;
    pthread_mutex_unlock(&wal->mu);
    *lsn_out = lsn;
    return VDB_OK;
}

int vdb_wal_rollback(vdb_wal *wal, uint64_t lsn, vdb_error *err)
{
    int rc;
    pthread_mutex_lock(&wal->mu);
    /* An fsync in flight may have taken `lsn` as its target: were the record
     * cut and its LSN reused now, that fsync would mark the new record
     * durable without covering it. So wait until it has finished (and has
     * published its durable LSN, which is lowered below). */
    while (wal->syncing)
        pthread_cond_wait(&wal->cond, &wal->mu);
    if (lsn != wal->last_lsn) {
        pthread_mutex_unlock(&wal->mu);
        return vdb_error_set(err, VDB_EINTERNAL, "rollback of LSN %llu, last is %llu",
                             (unsigned long long)lsn, (unsigned long long)wal->last_lsn);
    }
    rc = vdb_fsx_truncate(wal->fd, (off_t)wal->prev_end, wal->path, err);
    if (rc == VDB_OK) {
        wal->end = wal->prev_end;
        wal->last_lsn = lsn - 1;
        if (wal->durable_lsn > wal->last_lsn)
            wal->durable_lsn = wal->last_lsn;
    } else {
        wal->failed = 1;
    }
    pthread_mutex_unlock(&wal->mu);
    return rc;
}

int vdb_wal_commit(vdb_wal *wal, uint64_t lsn, vdb_error *err)
{
    int failed;
    if (wal->policy == VDB_WAL_SYNC_ALWAYS)
        return wait_durable(wal, lsn, err);
    pthread_mutex_lock(&wal->mu);
    failed = wal->failed;
    pthread_mutex_unlock(&wal->mu);
    if (failed)
        return vdb_error_set(err, VDB_EREADONLY, "%s: an earlier write or fsync failed",
                             wal->path);
    return VDB_OK;
}

int vdb_wal_sync(vdb_wal *wal, vdb_error *err)
{
    uint64_t last;
    if (wal->read_only)
        return VDB_OK;
    pthread_mutex_lock(&wal->mu);
    last = wal->last_lsn;
    pthread_mutex_unlock(&wal->mu);
    return wait_durable(wal, last, err);
}

int vdb_wal_reset(vdb_wal *wal, uint64_t last_lsn, vdb_error *err)
{
    int rc;
    pthread_mutex_lock(&wal->mu);
    while (wal->syncing)
        pthread_cond_wait(&wal->cond, &wal->mu);
    rc = vdb_fsx_truncate(wal->fd, HEADER_SIZE, wal->path, err);
    if (rc == VDB_OK)
        rc = vdb_fsx_fsync(wal->fd, wal->path, err);
    if (rc == VDB_OK) {
        wal->end = wal->prev_end = HEADER_SIZE;
        wal->last_lsn = wal->durable_lsn = last_lsn;
    } else {
        wal->failed = 1;
    }
    pthread_mutex_unlock(&wal->mu);
    return rc;
}

void vdb_wal_mark(vdb_wal *wal, uint64_t *lsn, uint64_t *end)
{
    pthread_mutex_lock(&wal->mu);
    *lsn = wal->last_lsn;
    *end = wal->end;
    pthread_mutex_unlock(&wal->mu);
}

/* ---- shrinking while appends go on (see wal.h and SHRINKING above) ---- */

struct vdb_wal_rewrite {
    vdb_wal *wal;
    char *path;      /* "<log>.new" */
    int fd;
    uint64_t from;   /* offset in the log of the first record kept */
    uint64_t copied; /* log offset copied up to */
    unsigned char *buf;
    int old_fd;      /* after commit: the replaced log, closed by _free */
};

void vdb_wal_rewrite_abort(vdb_wal_rewrite *rw)
{
    if (rw == NULL)
        return;
    if (rw->fd >= 0)
        vdb_fsx_close(rw->fd, rw->path, NULL);
    if (rw->path != NULL)
        vdb_fsx_unlink(rw->path, NULL);
    vdb_free(rw->buf);
    vdb_free(rw->path);
    vdb_free(rw);
}

/* Copies log bytes [rw->copied, to) behind the new file's header. The
 * bytes are final (see vdb_wal_mark), so a plain read is a consistent copy
 * while appends write further on. */
static int copy_range(vdb_wal_rewrite *rw, uint64_t to, vdb_error *err)
{
    vdb_wal *wal = rw->wal;
    while (rw->copied < to) {
        size_t len = to - rw->copied > COPY_CHUNK ? COPY_CHUNK : (size_t)(to - rw->copied);
        ssize_t got = vdb_fsx_read(wal->fd, rw->buf, len, (off_t)rw->copied, wal->path, err);
        int rc;
        if (got < 0)
            return (int)got;
        if ((size_t)got != len)
            return vdb_error_set(err, VDB_EIO, "%s: %zd of %zu bytes at offset %llu while "
                                 "shrinking the log", wal->path, got, len,
                                 (unsigned long long)rw->copied);
        rc = vdb_fsx_write(rw->fd, rw->buf, len, (off_t)(HEADER_SIZE + rw->copied - rw->from),
                           rw->path, err);
        if (rc != VDB_OK)
            return rc;
        rw->copied += len;
    }
    return VDB_OK;
}

int vdb_wal_rewrite_begin(vdb_wal *wal, uint64_t from, uint64_t to, vdb_wal_rewrite **out,
                          vdb_error *err)
{
    unsigned char header[HEADER_SIZE];
    vdb_wal_rewrite *rw;
    size_t len = strlen(wal->path) + sizeof(REWRITE_SUFFIX);
    int rc;
    *out = NULL;
    if (wal->read_only || vdb_wal_failed(wal))
        return vdb_error_set(err, VDB_EREADONLY,
                             "%s: the log cannot be rewritten (read-only or failed)", wal->path);
    if (from < HEADER_SIZE || to < from)
        return vdb_error_set(err, VDB_EINVAL, "%s: rewrite range %llu..%llu", wal->path,
                             (unsigned long long)from, (unsigned long long)to);
    if ((rw = vdb_calloc(1, sizeof(*rw))) == NULL || (rw->path = vdb_malloc(len)) == NULL ||
        (rw->buf = vdb_malloc(COPY_CHUNK)) == NULL) {
        /* Freed here, not by vdb_wal_rewrite_abort: rw->path holds no
         * name yet, and abort would unlink whatever its bytes spell. */
        if (rw != NULL) {
            vdb_free(rw->path);
            vdb_free(rw);
        }
        return vdb_error_set(err, VDB_ENOMEM, "%s: no memory to rewrite the log", wal->path);
    }
    snprintf(rw->path, len, "%s%s", wal->path, REWRITE_SUFFIX);
    rw->wal = wal;
    rw->old_fd = -1;
    rw->from = rw->copied = from;
    /* Read-write: it becomes the log, which later rewrites read. */
    rw->fd = vdb_fsx_open(rw->path, O_RDWR | O_CREAT | O_TRUNC, 0644, err);
    if (rw->fd < 0) {
        rc = rw->fd;
        vdb_wal_rewrite_abort(rw);
        return rc;
    }
    header_bytes(header, wal->salt);
    if ((rc = vdb_fsx_write(rw->fd, header, HEADER_SIZE, 0, rw->path, err)) != VDB_OK ||
        (rc = copy_range(rw, to, err)) != VDB_OK ||
        (rc = vdb_fsx_fsync(rw->fd, rw->path, err)) != VDB_OK) {
        vdb_wal_rewrite_abort(rw);
        return rc;
    }
    *out = rw;
    return VDB_OK;
}

int vdb_wal_rewrite_copy(vdb_wal_rewrite *rw, uint64_t to, vdb_error *err)
{
    int rc = copy_range(rw, to, err);
    return rc == VDB_OK ? vdb_fsx_fsync(rw->fd, rw->path, err) : rc;
}

/* The directory holding the log, for the sync that makes the rename durable. */
static int sync_log_dir(const vdb_wal *wal, vdb_error *err)
{
    char dir[PATH_MAX];
    char *slash;
    snprintf(dir, sizeof(dir), "%s", wal->path);
    if ((slash = strrchr(dir, '/')) == NULL)
        return vdb_fsx_dirsync(".", err);
    if (slash == dir)
        slash[1] = '\0';
    else
        *slash = '\0';
    return vdb_fsx_dirsync(dir, err);
}

int vdb_wal_rewrite_commit(vdb_wal *wal, vdb_wal_rewrite *rw, int *renamed, vdb_error *err)
{
    uint64_t end, last;
    int rc, old_fd;
    *renamed = 0;
    pthread_mutex_lock(&wal->mu);
    while (wal->syncing)
        pthread_cond_wait(&wal->cond, &wal->mu);
    if (wal->failed) {
        pthread_mutex_unlock(&wal->mu);
        vdb_wal_rewrite_abort(rw);
        return vdb_error_set(err, VDB_EREADONLY, "%s: an earlier write or fsync failed",
                             wal->path);
    }
    /* Held as "an fsync is running": committers wait on the condition, and
     * no fsync, rollback or reset touches the file being replaced. Appends
     * are the caller's to hold off (writer mutex). */
    wal->syncing = 1;
    end = wal->end;
    last = wal->last_lsn;
    pthread_mutex_unlock(&wal->mu);
    if ((rc = copy_range(rw, end, err)) != VDB_OK ||
        (rc = vdb_fsx_fsync(rw->fd, rw->path, err)) != VDB_OK ||
        (rc = vdb_fsx_rename(rw->path, wal->path, err)) != VDB_OK) {
        /* Not renamed: the old log is intact and stays in use. */
        pthread_mutex_lock(&wal->mu);
        wal->syncing = 0;
        pthread_cond_broadcast(&wal->cond);
        pthread_mutex_unlock(&wal->mu);
        vdb_wal_rewrite_abort(rw);
        return rc;
    }
    *renamed = 1;
    rc = sync_log_dir(wal, err);
    pthread_mutex_lock(&wal->mu);
    old_fd = wal->fd;
    wal->fd = rw->fd;
    wal->end = wal->prev_end = HEADER_SIZE + (end - rw->from);
    wal->syncs++;
    if (rc == VDB_OK) {
        if (last > wal->durable_lsn)
            wal->durable_lsn = last; /* all of it was in the file just synced */
    } else {
        /* The name may still point at the old file after a power cut, and
         * it lacks whatever is appended from now on. */
        wal->failed = 1;
        vdb_log_error("%s: directory sync after the log rewrite failed; the store is "
                      "read-only until reopened", wal->path);
    }
    wal->syncing = 0;
    pthread_cond_broadcast(&wal->cond);
    pthread_mutex_unlock(&wal->mu);
    /* The old log's last reference: closing it frees its blocks, which
     * takes ~0.3 s for a 460 MB log on ext4, so that is left to
     * vdb_wal_rewrite_free, outside the caller's writer mutex. */
    rw->fd = -1;
    rw->old_fd = old_fd;
    return rc;
}

/* Freeing a large file's blocks in one go holds the ext4 journal long
 * enough to stall the writers' WAL fsyncs (~100 ms for 460 MB); the file
 * is unlinked already, so core/fsx gives them back in short, paced steps. */
void vdb_wal_rewrite_free(vdb_wal_rewrite *rw)
{
    if (rw == NULL)
        return;
    if (rw->old_fd >= 0) {
        vdb_fsx_release_blocks(rw->old_fd);
        vdb_fsx_close(rw->old_fd, rw->path, NULL);
    }
    vdb_free(rw->buf);
    vdb_free(rw->path);
    vdb_free(rw);
}

void vdb_wal_set_last_lsn(vdb_wal *wal, uint64_t last_lsn)
{
    pthread_mutex_lock(&wal->mu);
    if (last_lsn > wal->last_lsn)
        wal->last_lsn = wal->durable_lsn = last_lsn;
    pthread_mutex_unlock(&wal->mu);
}

#define GETTER(type, name, field)                 \
    type name(vdb_wal *wal)                       \
    {                                             \
        type value;                               \
        pthread_mutex_lock(&wal->mu);             \
        value = (type)wal->field;                 \
        pthread_mutex_unlock(&wal->mu);           \
        return value;                             \
    }
void vdb_wal_set_test_hook(vdb_wal *wal, vdb_wal_test_hook_fn fn, void *ctx)
{
    pthread_mutex_lock(&wal->mu);
    wal->after_fsync = fn;
    wal->after_fsync_ctx = ctx;
    pthread_mutex_unlock(&wal->mu);
}

GETTER(uint64_t, vdb_wal_last_lsn, last_lsn)
GETTER(uint64_t, vdb_wal_size, end)
GETTER(int, vdb_wal_failed, failed)
GETTER(uint64_t, vdb_wal_syncs, syncs)
