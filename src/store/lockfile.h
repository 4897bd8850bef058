/* The store lock: `.store.lock` in the store directory, held with flock(2)
 * by the one process that has the store open.
 *
 * flock, not fcntl/POSIX record locks: a POSIX lock vanishes when the
 * process closes *any* descriptor of the file (SQLite's howtocorrupt 2.2),
 * while a flock belongs to the open file description and survives other
 * opens and closes. The kernel drops it when the holder dies, so a kill -9
 * leaves no stale lock to clean up. The holder's pid is written into the
 * file only as a hint for the error message. */
#ifndef VDB_STORE_LOCKFILE_H
#define VDB_STORE_LOCKFILE_H

#include "../core/err.h"

typedef struct vdb_lockfile vdb_lockfile;

/* Takes the lock on `<dir>/.store.lock` (creating it), without waiting;
 * *out receives it (NULL on failure). Errors: VDB_ELOCKED naming the file
 * and the holder's pid when known, VDB_ENOTFOUND (no such directory),
 * VDB_ERANGE (path too long), VDB_EIO, VDB_ENOMEM. */
int vdb_lockfile_acquire(const char *dir, vdb_lockfile **out, vdb_error *err);

/* Releases the lock and frees. NULL is a no-op. */
void vdb_lockfile_release(vdb_lockfile *lock);

#endif
