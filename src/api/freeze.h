/* Tenant write freeze: the server side of an online tenant move
 * (`vdb cluster move`, docs/scale-out.md).
 *
 * A frozen tenant's write requests (every route that can change a store:
 * vdb_freeze_is_write) are answered 503 with Retry-After, so a client
 * retries them, and after the placement map flips, the retry reaches the
 * tenant's new node. Reads are served as usual. The frozen set lives in
 * <data_dir>/.vdb_frozen.json (rewritten atomically through core/fsx), so
 * a node killed mid-move comes back with the same tenants frozen and
 * cannot accept a write that the move would then lose.
 *
 * Barrier: write requests run inside vdb_freeze_enter/leave (a shared
 * lock). vdb_freeze_set takes that lock exclusively once after changing the
 * set, so when it returns, no write that started before the freeze is
 * still running: everything acknowledged for the tenant is in the store,
 * and everything later is refused. The lock prefers the exclusive side, so
 * a stream of writes cannot starve a freeze.
 *
 * Ownership: vdb_freeze_open returns a handle freed with vdb_freeze_free.
 * Thread-safety: every function is thread-safe. */
#ifndef VDB_API_FREEZE_H
#define VDB_API_FREEZE_H

#include <stddef.h>

#include "../core/err.h"
#include "../core/json.h"

struct vdb_route;
typedef struct vdb_freeze vdb_freeze;

/* Most tenants frozen on one node at once (a move freezes one). */
#define VDB_FREEZE_MAX 1024
/* Seconds a refused writer is told to wait (Retry-After). */
#define VDB_FREEZE_RETRY_S 1

/* Loads <data_dir>/.vdb_frozen.json (absent: nothing frozen) into *out
 * (NULL on failure; freed with vdb_freeze_free). Errors: VDB_ECORRUPT
 * (unreadable or malformed file; the server must not start as if nothing
 * were frozen), VDB_EIO, VDB_ENOMEM. */
int vdb_freeze_open(const char *data_dir, vdb_freeze **out, vdb_error *err);
void vdb_freeze_free(vdb_freeze *freeze); /* NULL is a no-op */

/* 1 when requests of this route may change a store (every non-GET route
 * except the read-only POSTs: queries, benchmarks on scratch stores,
 * warmup, key management, cache clearing and the freeze route itself);
 * else 0. Never fails. */
int vdb_freeze_is_write(const struct vdb_route *route);

/* Write requests bracket their handler with these (shared side of the
 * barrier). */
void vdb_freeze_enter(vdb_freeze *freeze);
void vdb_freeze_leave(vdb_freeze *freeze);

/* 1 when user_id is frozen, else 0; never fails. Lock-free when nothing
 * is frozen. */
int vdb_freeze_has(vdb_freeze *freeze, const char *user_id);

/* Freezes (on = 1) or thaws (on = 0) user_id, persists the set, then waits
 * for in-flight writes (the barrier). Idempotent. Errors: VDB_ERANGE (over
 * VDB_FREEZE_MAX), VDB_EIO/VDB_ENOSPC (the file: the set is left as it
 * was), VDB_ENOMEM. The caller validates user_id. */
int vdb_freeze_set(vdb_freeze *freeze, const char *user_id, int on, vdb_error *err);

/* The frozen tenants as a JSON array of strings (caller owns); NULL when
 * out of memory. */
vdb_json *vdb_freeze_list(vdb_freeze *freeze);

#endif
