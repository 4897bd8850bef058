/* flock-based store lock; see lockfile.h for why flock. */
#include "lockfile.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "../core/alloc.h"
#include "../core/fsx.h"

#define LOCK_NAME ".store.lock"

struct vdb_lockfile {
    int fd;
};

int vdb_lockfile_acquire(const char *dir, vdb_lockfile **out, vdb_error *err)
{
    char path[PATH_MAX], text[32];
    vdb_lockfile *lock = NULL;
    int fd, n, rc;
    *out = NULL;
    if ((rc = vdb_fsx_path(path, sizeof(path), dir, LOCK_NAME, err)) != VDB_OK)
        return rc;
    fd = vdb_fsx_open(path, O_RDWR | O_CREAT | O_NOFOLLOW, 0644, err);
    if (fd < 0)
        return fd;
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        ssize_t got = pread(fd, text, sizeof(text) - 1, 0);
        text[got > 0 ? got : 0] = '\0';
        text[strspn(text, "0123456789")] = '\0'; /* the pid, without its newline */
        if (e == EWOULDBLOCK)
            rc = vdb_error_set(err, VDB_ELOCKED, "%s is held by another process (pid %s)", path,
                               text[0] ? text : "unknown");
        else
            rc = vdb_error_set(err, VDB_EIO, "flock %s: %s", path, strerror(e));
        close(fd);
        return rc;
    }
    /* The pid is only a hint for the message above; failure to write it is
     * harmless, so errors are ignored. */
    n = snprintf(text, sizeof(text), "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) == 0 && pwrite(fd, text, (size_t)n, 0) < 0)
        text[0] = '\0';
    lock = vdb_malloc(sizeof(*lock));
    if (lock == NULL) {
        close(fd);
        return vdb_error_set(err, VDB_ENOMEM, "lockfile: out of memory");
    }
    lock->fd = fd;
    *out = lock;
    return VDB_OK;
}

void vdb_lockfile_release(vdb_lockfile *lock)
{
    if (lock == NULL)
        return;
    flock(lock->fd, LOCK_UN);
    close(lock->fd);
    vdb_free(lock);
}
