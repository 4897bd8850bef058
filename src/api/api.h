/* The REST server: configuration, store registry, auth, metrics and the
 * HTTP transport wired together. `vdb serve` creates one with
 * vdb_api_start and stops it with vdb_api_stop on SIGINT/SIGTERM. */
#ifndef VDB_API_API_H
#define VDB_API_API_H

#include "../core/err.h"
#include "config.h"

typedef struct vdb_api vdb_api;

/* Opens the registry and the key file and starts listening; the server goes
 * to *out (NULL on failure; stopped with vdb_api_stop). When an admin key
 * was generated, its plain text is printed once to stdout. Errors: those of
 * vdb_registry_new, vdb_freeze_open, vdb_auth_open and vdb_http_start
 * (VDB_EINVAL, VDB_EEXIST, VDB_ECORRUPT, VDB_ETOOBIG, VDB_EIO, VDB_ENOSPC),
 * VDB_ENOMEM. */
int vdb_api_start(const vdb_config *config, vdb_api **out, vdb_error *err);

/* The port bound (useful with PORT=0). */
unsigned vdb_api_port(const vdb_api *api);

/* Graceful stop: refuses new requests (503), waits up to grace_ms for
 * in-flight ones, closes every store (each checkpoints and unlocks) and
 * frees. NULL is a no-op. */
void vdb_api_stop(vdb_api *api, unsigned grace_ms);

#endif
