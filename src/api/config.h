/* Server configuration: one table of settings, filled from (lowest to
 * highest precedence) built-in defaults, a `.env` file in the working
 * directory, a `--config FILE` (same KEY=VALUE format), the process
 * environment, and command-line flags. Every setting, its variable and its
 * default are listed in .env.example, by vdb_config_usage (`vdb serve
 * --help`) and by vdb_config_visit (GET /config). */
#ifndef VDB_API_CONFIG_H
#define VDB_API_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "../core/err.h"

#define VDB_CONFIG_STR 512

typedef struct vdb_config {
    char host[VDB_CONFIG_STR];
    unsigned port;
    char data_dir[VDB_CONFIG_STR];
    unsigned http_threads;      /* MHD worker threads */
    unsigned compute_threads;   /* search pool; 0 = one per CPU */
    char api_key[VDB_CONFIG_STR];   /* VECTOR_DB_API_KEY: full store access */
    char admin_key[VDB_CONFIG_STR]; /* VECTOR_DB_ADMIN_KEY: everything */
    char environment[64];
    char log_level[32];
    int warmup_on_start;
    int enable_hnsw;
    int enable_metrics;
    char fsync[16];             /* always | interval | off */
    unsigned fsync_interval_ms;
    size_t max_body_bytes;
    size_t max_bodies_bytes;
    unsigned max_connections;
    unsigned conn_timeout_s;
    unsigned header_timeout_s;  /* whole request head, from its first byte */
    unsigned max_conn_per_peer; /* connections per client address */
    int rate_limit;             /* token buckets on (see ratelimit.h) */
    unsigned rate_query, rate_add, rate_batch, rate_admin, rate_public; /* requests/s */
    unsigned rate_burst_s;      /* bucket size in seconds of rate */
    unsigned max_batch;         /* vectors per add, queries per batch */
    unsigned max_k;
    unsigned max_dim;
    unsigned hnsw_threshold;
    unsigned max_open_stores; /* 0 = derived from RLIMIT_NOFILE (registry.h) */
    unsigned quarantine_s;
    unsigned query_cache_mb;    /* 0 disables the query result cache */
    char env_file[VDB_CONFIG_STR]; /* the .env that was read, or "" */
} vdb_config;

/* Fills `config` from defaults, ./.env, --config, the environment and argv
 * (argv[0] is the command name). Returns VDB_OK, VDB_EINVAL with a message
 * for a bad value or flag, or 1 when --help was printed. */
int vdb_config_load(vdb_config *config, int argc, char **argv, vdb_error *err);

/* Prints the flags and variables to `out` (a FILE *). */
void vdb_config_usage(void *out);

/* Calls fn once per setting with its variable name and effective value as
 * text; secrets come out masked ("****" plus the last 4 characters). */
typedef void (*vdb_config_visit_fn)(void *ctx, const char *name, const char *value,
                                    const char *help, int is_secret);
void vdb_config_visit(const vdb_config *config, vdb_config_visit_fn fn, void *ctx);

#endif
