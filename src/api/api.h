/* The REST server: configuration, store registry, auth, metrics and the
 * HTTP transport wired together. `vdb serve` creates one with
 * vdb_api_start and stops it with vdb_api_stop on SIGINT/SIGTERM. */
#ifndef VDB_API_API_H
#define VDB_API_API_H

#include "../core/err.h"
#include "config.h"

typedef struct vdb_api vdb_api;

/* Opens the registry and the key file and starts listening. When an admin
 * key was generated, its plain text is printed once to stdout. */
vdb_api *vdb_api_start(const vdb_config *config, vdb_error *err);

/* The port bound (useful with PORT=0). */
unsigned vdb_api_port(const vdb_api *api);

/* Graceful stop: refuses new requests (503), waits up to grace_ms for
 * in-flight ones, closes every store (each checkpoints and unlocks) and
 * frees. NULL is a no-op. */
void vdb_api_stop(vdb_api *api, unsigned grace_ms);

#endif
