/* Durable-file I/O with deterministic fault injection; see fsx.h.
 *
 * The fault plan is three atomics read on every call; with no plan armed
 * the cost is one relaxed load. The counter only advances for operations in
 * the armed mask, so a test can say "fail the 3rd fsync" regardless of how
 * many writes came before it. Crash faults raise SIGKILL, which no handler
 * can catch: exactly what a kill -9 or power cut does to the process. */
#include "fsx.h"
#include "fsx_sim.h"
#include "alloc.h"
#include "clock.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static _Atomic unsigned fault_mask;
static _Atomic uint64_t fault_nth;
static _Atomic uint64_t fault_seen;
static _Atomic int fault_kind;
static _Atomic int fault_forever;
static _Atomic uint64_t fault_hits;

void vdb_fsx_fault_set(unsigned mask, uint64_t nth, vdb_fsx_fault kind, int forever)
{
    atomic_store(&fault_mask, 0u);
    atomic_store(&fault_seen, 0);
    atomic_store(&fault_kind, (int)kind);
    atomic_store(&fault_forever, forever);
    atomic_store(&fault_nth, nth);
    atomic_store(&fault_mask, nth == 0 ? 0u : mask);
}

uint64_t vdb_fsx_fault_hits(void) { return atomic_load(&fault_hits); }

/* Returns the fault kind to inject for this operation, or 0. */
static int fault_check(unsigned op)
{
    unsigned mask = atomic_load_explicit(&fault_mask, memory_order_relaxed);
    uint64_t n, nth;
    if ((mask & op) == 0)
        return 0;
    n = atomic_fetch_add(&fault_seen, 1) + 1;
    nth = atomic_load(&fault_nth);
    if (n == nth || (n > nth && atomic_load(&fault_forever))) {
        atomic_fetch_add(&fault_hits, 1);
        vdb_fsx__sim_freeze(); /* a simulated power cut ends here */
        return atomic_load(&fault_kind);
    }
    return 0;
}

static void crash_now(void)
{
    raise(SIGKILL);
    _exit(137); /* not reached */
}

/* Injected errno for a non-crash fault. */
static int fault_errno(int kind)
{
    if (kind == VDB_FSX_FAULT_CRASH)
        crash_now();
    return kind == VDB_FSX_FAULT_ENOSPC ? ENOSPC : EIO;
}

static int code_of(int e)
{
    switch (e) {
    case ENOENT:
        return VDB_ENOTFOUND;
    case EEXIST:
        return VDB_EEXIST;
    case ENOSPC:
    case EDQUOT:
    case EFBIG:
        return VDB_ENOSPC;
    case EMFILE: /* resource limits: 503, the request may be retried */
    case ENFILE:
    case ENOMEM:
        return VDB_EBUSY;
    default:
        return VDB_EIO;
    }
}

static int fail(vdb_error *err, int e, const char *op, const char *name)
{
    return vdb_error_set(err, code_of(e), "%s %s: %s", op, name ? name : "?", strerror(e));
}

int vdb_fsx_open(const char *path, int flags, int mode, vdb_error *err)
{
    int kind = fault_check(VDB_FSX_OPEN), fd;
    if (kind != 0)
        return fail(err, fault_errno(kind), "open", path);
    do
        fd = open(path, flags | O_CLOEXEC, mode);
    while (fd < 0 && errno == EINTR);
    if (fd < 0)
        return fail(err, errno, "open", path);
    vdb_fsx__sim_opened(path, fd);
    return fd;
}

int vdb_fsx_close(int fd, const char *name, vdb_error *err)
{
    if (fd >= 0 && close(fd) != 0 && errno != EINTR)
        return fail(err, errno, "close", name);
    return VDB_OK;
}

static ssize_t raw_write(int fd, const void *buf, size_t len, off_t offset)
{
    return offset >= 0 ? pwrite(fd, buf, len, offset) : write(fd, buf, len);
}

int vdb_fsx_write(int fd, const void *buf, size_t len, off_t offset, const char *name,
                  vdb_error *err)
{
    const char *p = buf;
    int kind = fault_check(VDB_FSX_WRITE);
    if (kind == VDB_FSX_FAULT_SHORT || kind == VDB_FSX_FAULT_CRASH) {
        /* A torn write: half the bytes reach the file, the rest never do. */
        size_t half = len / 2;
        if (half > 0 && raw_write(fd, buf, half, offset) < 0)
            return fail(err, errno, "write", name);
        return fail(err, fault_errno(kind), "write", name);
    }
    if (kind != 0)
        return fail(err, fault_errno(kind), "write", name);
    while (len > 0) {
        ssize_t n = raw_write(fd, p, len, offset);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return fail(err, errno, "write", name);
        }
        if (n == 0)
            return fail(err, ENOSPC, "write", name);
        p += n;
        len -= (size_t)n;
        if (offset >= 0)
            offset += n;
    }
    return VDB_OK;
}

ssize_t vdb_fsx_read(int fd, void *buf, size_t len, off_t offset, const char *name,
                     vdb_error *err)
{
    char *p = buf;
    size_t done = 0;
    int kind = fault_check(VDB_FSX_READ);
    if (kind != 0)
        return fail(err, fault_errno(kind), "read", name);
    while (done < len) {
        ssize_t n = offset >= 0 ? pread(fd, p + done, len - done, offset + (off_t)done)
                                : read(fd, p + done, len - done);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return fail(err, errno, "read", name);
        }
        if (n == 0)
            break;
        done += (size_t)n;
    }
    return (ssize_t)done;
}

static int sync_fd(int fd)
{
#if defined(__APPLE__)
    /* fsync on macOS does not reach the platter; F_FULLFSYNC does. */
    if (fcntl(fd, F_FULLFSYNC) == 0)
        return 0;
    return fsync(fd);
#else
    return fdatasync(fd);
#endif
}

int vdb_fsx_fsync(int fd, const char *name, vdb_error *err)
{
    int kind = fault_check(VDB_FSX_FSYNC);
    if (kind != 0)
        return fail(err, fault_errno(kind), "fsync", name);
    if (vdb_fsx_sim_skipped() & VDB_FSX_FSYNC)
        return VDB_OK; /* test knob: the code "forgot" this fsync */
    if (sync_fd(fd) != 0)
        return fail(err, errno, "fsync", name);
    vdb_fsx__sim_synced(fd);
    return VDB_OK;
}

void vdb_fsx_writeback(int fd, uint64_t offset, uint64_t len)
{
#if defined(__linux__)
    (void)sync_file_range(fd, (off64_t)offset, (off64_t)len,
                          SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
                              SYNC_FILE_RANGE_WAIT_AFTER);
#else
    (void)fd;
    (void)offset;
    (void)len;
#endif
}

void vdb_fsx_pacer_init(vdb_fsx_pacer *pacer, int fd, uint64_t offset)
{
    memset(pacer, 0, sizeof(*pacer));
    pacer->fd = fd;
    pacer->done = offset;
    pacer->window = 1u << 20; /* until the disk has been measured */
}

void vdb_fsx_pacer_advance(vdb_fsx_pacer *pacer, uint64_t written)
{
    while (written >= pacer->done + pacer->window) {
        uint64_t len = pacer->window;
        double t0 = vdb_now_ms(), ms, window;
        vdb_fsx_writeback(pacer->fd, pacer->done, len);
        ms = vdb_now_ms() - t0;
        pacer->done += len;
        pacer->wait_ms += ms;
        pacer->windows++;
        /* The rate includes waiting behind other writers' I/O and journal
         * commits: under contention the window shrinks, which is the
         * point. A smoothed rate keeps one outlier from swinging it. */
        if (ms < 0.05)
            ms = 0.05;
        pacer->rate = pacer->rate > 0 ? 0.7 * pacer->rate + 0.3 * ((double)len / ms)
                                      : (double)len / ms;
        window = pacer->rate * VDB_FSX_PACE_TARGET_MS;
        if (window < VDB_FSX_PACE_MIN)
            window = VDB_FSX_PACE_MIN;
        if (window > VDB_FSX_PACE_MAX)
            window = VDB_FSX_PACE_MAX;
        pacer->window = (uint64_t)window & ~(uint64_t)65535; /* whole 64 KiB */
    }
}

#define RELEASE_MIN (1ull << 20)
#define RELEASE_MAX (256ull << 20)

void vdb_fsx_release_blocks(int fd)
{
    struct stat st;
    uint64_t size, step = 16ull << 20;
    if (fstat(fd, &st) != 0)
        return;
    size = (uint64_t)st.st_size;
    while (size > 0) {
        uint64_t cut = size > step ? step : size;
        double t0 = vdb_now_ms(), ms, next;
        if (ftruncate(fd, (off_t)(size - cut)) != 0 || sync_fd(fd) != 0)
            return;
        size -= cut;
        ms = vdb_now_ms() - t0;
        next = (double)step * VDB_FSX_PACE_TARGET_MS / (ms < 0.05 ? 0.05 : ms);
        /* At most double or halve per step: one slow commit (another
         * writer's data in it) should not collapse the step. */
        if (next > 2.0 * (double)step)
            next = 2.0 * (double)step;
        if (next < 0.5 * (double)step)
            next = 0.5 * (double)step;
        step = next < (double)RELEASE_MIN ? RELEASE_MIN
               : next > (double)RELEASE_MAX ? RELEASE_MAX : (uint64_t)next;
    }
}

void vdb_fsx_writeback_start(int fd, uint64_t offset, uint64_t len)
{
#if defined(__linux__)
    (void)sync_file_range(fd, (off64_t)offset, (off64_t)len, SYNC_FILE_RANGE_WRITE);
#else
    (void)fd;
    (void)offset;
    (void)len;
#endif
}

int vdb_fsx_dirsync(const char *dir, vdb_error *err)
{
    int kind = fault_check(VDB_FSX_DIRSYNC), fd, rc = VDB_OK;
    if (kind != 0)
        return fail(err, fault_errno(kind), "fsync directory", dir);
    if (vdb_fsx_sim_skipped() & VDB_FSX_DIRSYNC)
        return VDB_OK; /* test knob */
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return fail(err, errno, "open directory", dir);
    if (fsync(fd) != 0)
        rc = fail(err, errno, "fsync directory", dir);
    close(fd);
    if (rc == VDB_OK)
        vdb_fsx__sim_dirsynced(dir);
    return rc;
}

int vdb_fsx_rename(const char *from, const char *to, vdb_error *err)
{
    int kind = fault_check(VDB_FSX_RENAME);
    if (kind != 0)
        return fail(err, fault_errno(kind), "rename", from);
    if (rename(from, to) != 0)
        return fail(err, errno, "rename", from);
    vdb_fsx__sim_renamed(from, to);
    return VDB_OK;
}

int vdb_fsx_truncate(int fd, off_t len, const char *name, vdb_error *err)
{
    int kind = fault_check(VDB_FSX_TRUNCATE);
    if (kind != 0)
        return fail(err, fault_errno(kind), "truncate", name);
    while (ftruncate(fd, len) != 0) {
        if (errno != EINTR)
            return fail(err, errno, "truncate", name);
    }
    return VDB_OK;
}

int vdb_fsx_unlink(const char *path, vdb_error *err)
{
    int kind = fault_check(VDB_FSX_UNLINK);
    if (kind != 0)
        return fail(err, fault_errno(kind), "unlink", path);
    if (unlink(path) != 0) {
        if (errno != ENOENT)
            return fail(err, errno, "unlink", path);
        return VDB_OK;
    }
    vdb_fsx__sim_unlinked(path);
    return VDB_OK;
}

int vdb_fsx_mkdir(const char *path, int mode, vdb_error *err)
{
    int kind = fault_check(VDB_FSX_MKDIR);
    if (kind != 0)
        return fail(err, fault_errno(kind), "mkdir", path);
    if (mkdir(path, (mode_t)mode) != 0)
        return fail(err, errno, "mkdir", path);
    return VDB_OK;
}

int vdb_fsx_rmdir(const char *path, vdb_error *err)
{
    int kind = fault_check(VDB_FSX_UNLINK);
    if (kind != 0)
        return fail(err, fault_errno(kind), "rmdir", path);
    if (rmdir(path) != 0 && errno != ENOENT)
        return fail(err, errno, "rmdir", path);
    return VDB_OK;
}

/* nftw's callback: files are unlinked and directories (visited after their
 * contents, FTW_DEPTH) removed, each one an UNLINK operation of the fault
 * plan. */
static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)ftw;
    int kind = fault_check(VDB_FSX_UNLINK);
    if (kind != 0) {
        errno = fault_errno(kind);
        return -1;
    }
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

int vdb_fsx_remove_tree(const char *path, vdb_error *err)
{
    if (nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS) != 0 && errno != ENOENT)
        return fail(err, errno, "remove", path);
    return VDB_OK;
}

int vdb_fsx_mkdirs(const char *path, int mode, vdb_error *err)
{
    char buf[4096];
    struct stat st;
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof(buf))
        return vdb_error_set(err, VDB_EINVAL, "directory path empty or too long");
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        char saved = buf[i];
        buf[i] = '\0';
        if (stat(buf, &st) != 0) {
            int rc = vdb_fsx_mkdir(buf, mode, err);
            /* EEXIST: created meanwhile by another process: fine. */
            if (rc != VDB_OK && !(rc == VDB_EEXIST && stat(buf, &st) == 0 && S_ISDIR(st.st_mode)))
                return rc;
        } else if (!S_ISDIR(st.st_mode)) {
            return vdb_error_set(err, VDB_EEXIST, "%s exists and is not a directory", buf);
        }
        buf[i] = saved;
    }
    return VDB_OK;
}

int vdb_fsx_size(int fd, uint64_t *size, const char *name, vdb_error *err)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return fail(err, errno, "stat", name);
    *size = (uint64_t)st.st_size;
    return VDB_OK;
}

int vdb_fsx_path(char *out, size_t cap, const char *dir, const char *name, vdb_error *err)
{
    int n = snprintf(out, cap, "%s/%s", dir, name);
    if (n < 0 || (size_t)n >= cap)
        return vdb_error_set(err, VDB_ERANGE, "path %s/%s is too long", dir, name);
    return VDB_OK;
}

int vdb_fsx_replace_file(const char *dir, const char *name, const void *data, size_t len,
                         int mode, vdb_error *err)
{
    char path[4096], tmp[4100];
    int rc = vdb_fsx_path(path, sizeof(path), dir, name, err);
    if (rc != VDB_OK)
        return rc;
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    int fd = vdb_fsx_open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, mode, err);
    if (fd < 0)
        return fd;
    rc = vdb_fsx_write(fd, data, len, 0, name, err);
    if (rc == VDB_OK)
        rc = vdb_fsx_fsync(fd, name, err);
    if (rc == VDB_OK)
        rc = vdb_fsx_close(fd, name, err);
    else
        vdb_fsx_close(fd, name, NULL);
    if (rc == VDB_OK)
        rc = vdb_fsx_rename(tmp, path, err);
    if (rc != VDB_OK) {
        int saved = errno;
        vdb_fsx_unlink(tmp, NULL);
        errno = saved;
        return rc;
    }
    return vdb_fsx_dirsync(dir, err);
}

int vdb_fsx_read_text(const char *path, char *buf, size_t cap, size_t *len, vdb_error *err)
{
    if (cap == 0)
        return vdb_error_set(err, VDB_EINVAL, "no room to read %s", path);
    int fd = vdb_fsx_open(path, O_RDONLY, 0, err);
    if (fd < 0)
        return fd;
    /* One positioned read from 0 until EOF or the buffer is full: /proc
     * files report size 0, so nothing here may trust fstat. */
    ssize_t got = vdb_fsx_read(fd, buf, cap - 1, 0, path, err);
    vdb_fsx_close(fd, path, NULL);
    if (got < 0)
        return (int)got;
    buf[got] = '\0';
    if (len != NULL)
        *len = (size_t)got;
    return VDB_OK;
}

int vdb_fsx_read_file(const char *path, size_t max, char **out, size_t *len, vdb_error *err)
{
    uint64_t size = 0;
    char *buf = NULL;
    int fd = vdb_fsx_open(path, O_RDONLY, 0, err);
    if (fd < 0)
        return fd;
    int rc = vdb_fsx_size(fd, &size, path, err);
    if (rc == VDB_OK && size > max)
        rc = vdb_error_set(err, VDB_ETOOBIG, "%s: %llu bytes, over the limit of %zu", path,
                           (unsigned long long)size, max);
    if (rc == VDB_OK && (buf = vdb_malloc((size_t)size + 1)) == NULL)
        rc = vdb_error_set(err, VDB_ENOMEM, "out of memory reading %s", path);
    if (rc == VDB_OK) {
        ssize_t got = vdb_fsx_read(fd, buf, (size_t)size, 0, path, err);
        if (got < 0)
            rc = (int)got;
        else
            size = (uint64_t)got; /* the file may have shrunk since the fstat */
    }
    vdb_fsx_close(fd, path, NULL);
    if (rc != VDB_OK) {
        vdb_free(buf);
        return rc;
    }
    buf[size] = '\0';
    *out = buf;
    *len = (size_t)size;
    return VDB_OK;
}
