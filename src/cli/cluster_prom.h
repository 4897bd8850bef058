/* Merging the Prometheus text expositions of several vdb nodes into one
 * (`vdb cluster aggregate`, GET /monitoring/metrics through HAProxy).
 *
 * Each metric family appears once: its # HELP and # TYPE lines from the
 * first node that has them, then every node's samples of it, each with a
 * node="NAME" label added first. Concatenating the texts instead would
 * repeat TYPE lines and split families, which Prometheus rejects.
 *
 * Ownership: vdb_cluster_prom_new returns a handle freed with
 * vdb_cluster_prom_free. Not thread-safe: one handle per request. */
#ifndef VDB_CLI_CLUSTER_PROM_H
#define VDB_CLI_CLUSTER_PROM_H

#include <stddef.h>

#include "../core/err.h"

typedef struct vdb_cluster_prom vdb_cluster_prom;

/* NULL when out of memory. */
vdb_cluster_prom *vdb_cluster_prom_new(void);
void vdb_cluster_prom_free(vdb_cluster_prom *merge); /* NULL is a no-op */

/* Adds one node's exposition (text, len bytes; need not end in a newline).
 * Returns VDB_OK or VDB_ENOMEM (out of memory, or over 512 metric
 * families; the handle is then unusable). Lines that
 * are neither HELP/TYPE comments nor samples are dropped. */
int vdb_cluster_prom_add(vdb_cluster_prom *merge, const char *text, size_t len, const char *node);

/* The merged text, opened by a comment naming how many nodes answered and
 * which did not (`missing`, a comma-separated list or ""). Caller frees
 * with vdb_free; *len gets its length. NULL when out of memory. */
char *vdb_cluster_prom_text(const vdb_cluster_prom *merge, size_t answered, const char *missing,
                            size_t *len);

#endif
