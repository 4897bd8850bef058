/* Configuration loading (see config.h). The settings are one table of
 * {variable, type, offset, default, help}, so adding a setting is one line
 * and the flag parser, the .env reader, /config and the usage text agree. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../core/alloc.h"
#include "../core/cpu.h"
#include "../core/fsx.h"
#include "../core/limits.h"

typedef enum { T_STR, T_UINT, T_SIZE, T_BOOL } setting_type;

typedef struct setting {
    const char *var;    /* environment / .env name */
    const char *flag;   /* command-line flag or NULL */
    setting_type type;
    size_t offset;
    size_t size;        /* for T_STR */
    const char *def;
    int secret;
    const char *help;
} setting;

#define S(var, flag, field, def, secret, help) \
    {var, flag, T_STR, offsetof(vdb_config, field), sizeof(((vdb_config *)0)->field), def, secret, help}
#define U(var, flag, field, def, help) \
    {var, flag, T_UINT, offsetof(vdb_config, field), 0, def, 0, help}
#define Z(var, flag, field, def, help) \
    {var, flag, T_SIZE, offsetof(vdb_config, field), 0, def, 0, help}
#define B(var, flag, field, def, help) \
    {var, flag, T_BOOL, offsetof(vdb_config, field), 0, def, 0, help}

static const setting settings[] = {
    S("HOST", "--host", host, "127.0.0.1", 0, "bind address (the original used 0.0.0.0)"),
    U("PORT", "--port", port, "8000", "TCP port (0 = any free port)"),
    S("VECTOR_DB_DATA_DIR", "--data-dir", data_dir, "~/.team_mind_data/vector_stores", 0,
      "data directory: user_<user_id>/<model_id>/ per store"),
    U("VDB_HTTP_THREADS", "--threads", http_threads, "0", "HTTP worker threads (0 = 2 per CPU, at least 4)"),
    U("VDB_THREADS", NULL, compute_threads, "0", "search threads (0 = one per CPU)"),
    S("VECTOR_DB_API_KEY", NULL, api_key, "", 1, "key with access to every store (not key management)"),
    S("VECTOR_DB_ADMIN_KEY", NULL, admin_key, "", 1,
      "admin key; when unset one is generated at first start, stored hashed and printed once"),
    S("ENVIRONMENT", NULL, environment, "development", 0, "development or production"),
    S("LOG_LEVEL", NULL, log_level, "info", 0, "debug, info, warning, error"),
    B("MLX_WARMUP_ON_STARTUP", NULL, warmup_on_start, "false", "warm up (open) every store at start"),
    B("ENABLE_HNSW", NULL, enable_hnsw, "true", "HNSW index above VDB_HNSW_THRESHOLD vectors"),
    B("ENABLE_METRICS", NULL, enable_metrics, "true", "serve /monitoring/metrics"),
    S("VDB_FSYNC", NULL, fsync, "always", 0, "WAL fsync policy: always, interval, off"),
    U("VDB_FSYNC_INTERVAL_MS", NULL, fsync_interval_ms, "1000", "bound on loss for VDB_FSYNC=interval"),
    Z("VDB_MAX_BODY_BYTES", NULL, max_body_bytes, "268435456", "request body limit (413 above)"),
    Z("VDB_MAX_BODIES_BYTES", NULL, max_bodies_bytes, "1073741824",
      "request bodies buffered at once over all connections (503 + Retry-After above; 0 = no bound)"),
    U("VDB_MAX_CONNECTIONS", NULL, max_connections, "1024", "concurrent connections"),
    U("VDB_CONN_TIMEOUT_S", NULL, conn_timeout_s, "30", "idle keep-alive connection timeout, seconds"),
    U("VDB_HEADER_TIMEOUT_S", NULL, header_timeout_s, "10",
      "whole request head deadline from its first byte; also the grace before bodies and answers must move 16 KiB/s"),
    U("VDB_MAX_CONN_PER_PEER", NULL, max_conn_per_peer, "256", "concurrent connections per client address"),
    B("VDB_RATE_LIMIT", NULL, rate_limit, "true", "token-bucket rate limits per key (per address on public routes)"),
    U("VDB_RATE_QUERY", NULL, rate_query, "100000", "query requests/s per key (0 = unlimited)"),
    U("VDB_RATE_ADD", NULL, rate_add, "20000", "add/delete/create requests/s per key (0 = unlimited)"),
    U("VDB_RATE_BATCH", NULL, rate_batch, "2000", "batch, import, export, benchmark requests/s per key (0 = unlimited)"),
    U("VDB_RATE_ADMIN", NULL, rate_admin, "1000", "admin, performance, monitoring requests/s per key (0 = unlimited)"),
    U("VDB_RATE_PUBLIC", NULL, rate_public, "5000", "keyless routes: requests/s per client address (0 = unlimited)"),
    U("VDB_RATE_BURST_S", NULL, rate_burst_s, "1", "bucket size, in seconds of the rate"),
    U("VDB_MAX_BATCH", NULL, max_batch, "10000", "vectors per add / queries per batch"),
    U("VDB_MAX_K", NULL, max_k, "1000", "largest k per query"),
    U("VDB_MAX_DIM", NULL, max_dim, "4096", "largest dimension of a new store"),
    U("VDB_HNSW_THRESHOLD", NULL, hnsw_threshold, "10000", "live vectors above which HNSW is used"),
    U("VDB_QUERY_CACHE_MB", NULL, query_cache_mb, "64", "query result cache size in MiB (0 = off)"),
    U("VDB_MAX_OPEN_STORES", NULL, max_open_stores, "0",
      "stores kept open, idle ones closed LRU (0 = from the fd limit: (limit - min(256, limit/2)) / 4)"),
    U("VDB_QUARANTINE_S", NULL, quarantine_s, "30", "seconds a store whose open failed is refused before a retry"),
};
#define NSETTINGS (sizeof(settings) / sizeof(settings[0]))

static int set_value(vdb_config *config, const setting *s, const char *value, const char *source,
                     vdb_error *err)
{
    char *field = (char *)config + s->offset;
    char *end = NULL;
    switch (s->type) {
    case T_STR:
        if (strlen(value) >= s->size)
            return vdb_error_set(err, VDB_EINVAL, "%s (%s) is too long", s->var, source);
        memcpy(field, value, strlen(value) + 1);
        return VDB_OK;
    case T_UINT:
    case T_SIZE: {
        errno = 0;
        unsigned long long n = strtoull(value, &end, 10);
        if (errno != 0 || end == value || *end != '\0' || value[0] == '-' ||
            (s->type == T_UINT && n > 0xFFFFFFFFull))
            return vdb_error_set(err, VDB_EINVAL, "%s (%s): '%s' is not a non-negative integer",
                                 s->var, source, value);
        if (s->type == T_UINT)
            *(unsigned *)field = (unsigned)n;
        else
            *(size_t *)field = (size_t)n;
        return VDB_OK;
    }
    case T_BOOL:
        if (!strcasecmp(value, "1") || !strcasecmp(value, "true") || !strcasecmp(value, "yes") ||
            !strcasecmp(value, "on"))
            *(int *)field = 1;
        else if (!strcasecmp(value, "0") || !strcasecmp(value, "false") ||
                 !strcasecmp(value, "no") || !strcasecmp(value, "off") || value[0] == '\0')
            *(int *)field = 0;
        else
            return vdb_error_set(err, VDB_EINVAL, "%s (%s): '%s' is not a boolean", s->var,
                                 source, value);
        return VDB_OK;
    }
    return VDB_EINVAL;
}

static const setting *find_var(const char *name)
{
    for (size_t i = 0; i < NSETTINGS; i++)
        if (strcmp(settings[i].var, name) == 0)
            return &settings[i];
    return NULL;
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

/* A .env holds a few dozen settings; anything bigger is not one. */
#define ENV_FILE_MAX (1u << 20)

/* Reads KEY=VALUE lines; unknown keys are ignored (the original's .env has
 * more), quotes around the value are removed. A missing file is fine when
 * `required` is 0. */
static int load_env_file(vdb_config *config, const char *path, int required, vdb_error *err)
{
    char *text = NULL, *next;
    size_t len;
    vdb_error read_err;
    int rc = vdb_fsx_read_file(path, ENV_FILE_MAX, &text, &len, &read_err);
    if (rc != VDB_OK) {
        if (required)
            return vdb_error_set(err, VDB_EINVAL, "cannot read config file: %s", read_err.msg);
        return VDB_OK;
    }
    for (char *line = text; rc == VDB_OK && line != NULL; line = next) {
        if ((next = strchr(line, '\n')) != NULL)
            *next++ = '\0';
        char *s = trim(line);
        if (*s == '#' || *s == '\0')
            continue;
        if (strncmp(s, "export ", 7) == 0)
            s = trim(s + 7);
        char *eq = strchr(s, '=');
        if (eq == NULL)
            continue;
        *eq = '\0';
        char *key = trim(s), *value = trim(eq + 1);
        size_t n = strlen(value);
        if (n >= 2 && (value[0] == '"' || value[0] == '\'') && value[n - 1] == value[0]) {
            value[n - 1] = '\0';
            value++;
        } else {
            char *hash = strstr(value, " #");
            if (hash != NULL)
                *hash = '\0', value = trim(value);
        }
        const setting *st = find_var(key);
        if (st != NULL)
            rc = set_value(config, st, value, path, err);
    }
    vdb_free(text);
    if (rc == VDB_OK && !required)
        snprintf(config->env_file, sizeof(config->env_file), "%s", path);
    return rc;
}

static int expand_home(vdb_config *config, vdb_error *err)
{
    if (config->data_dir[0] != '~' || (config->data_dir[1] != '/' && config->data_dir[1] != 0))
        return VDB_OK;
    const char *home = getenv("HOME");
    char expanded[VDB_CONFIG_STR];
    int n = snprintf(expanded, sizeof(expanded), "%s%s", home ? home : ".", config->data_dir + 1);
    if (n < 0 || (size_t)n >= sizeof(expanded))
        return vdb_error_set(err, VDB_EINVAL, "data directory path too long");
    memcpy(config->data_dir, expanded, (size_t)n + 1);
    return VDB_OK;
}

void vdb_config_usage(void *out)
{
    FILE *f = out;
    fprintf(f, "usage: vdb serve [--host ADDR] [--port N] [--data-dir DIR] [--threads N] "
               "[--config FILE]\n\nSettings (flag, variable, default):\n");
    for (size_t i = 0; i < NSETTINGS; i++)
        fprintf(f, "  %-12s %-24s %-10s %s\n", settings[i].flag ? settings[i].flag : "",
                settings[i].var, settings[i].def[0] ? settings[i].def : "(unset)",
                settings[i].help);
    fprintf(f, "\nPrecedence: flags > environment > --config FILE > ./.env > defaults.\n");
}

static int apply_flags(vdb_config *config, int argc, char **argv, int pass_config,
                       vdb_error *err)
{
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const char *value = NULL;
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0)
            return 1;
        if (i + 1 >= argc)
            return vdb_error_set(err, VDB_EINVAL, "flag %s needs a value", arg);
        value = argv[++i];
        if (strcmp(arg, "--config") == 0) {
            if (pass_config) {
                int rc = load_env_file(config, value, 1, err);
                if (rc != VDB_OK)
                    return rc;
            }
            continue;
        }
        const setting *found = NULL;
        for (size_t s = 0; s < NSETTINGS && !found; s++)
            if (settings[s].flag && strcmp(settings[s].flag, arg) == 0)
                found = &settings[s];
        if (found == NULL)
            return vdb_error_set(err, VDB_EINVAL, "unknown flag %s (see vdb serve --help)", arg);
        if (!pass_config) {
            int rc = set_value(config, found, value, arg, err);
            if (rc != VDB_OK)
                return rc;
        }
    }
    return VDB_OK;
}

int vdb_config_load(vdb_config *config, int argc, char **argv, vdb_error *err)
{
    int rc;
    memset(config, 0, sizeof(*config));
    for (size_t i = 0; i < NSETTINGS; i++)
        if ((rc = set_value(config, &settings[i], settings[i].def, "default", err)) != VDB_OK)
            return rc;
    if ((rc = load_env_file(config, ".env", 0, err)) != VDB_OK)
        return rc;
    if ((rc = apply_flags(config, argc, argv, 1, err)) != VDB_OK)
        return rc;
    for (size_t i = 0; i < NSETTINGS; i++) {
        const char *value = getenv(settings[i].var);
        if (value != NULL && (rc = set_value(config, &settings[i], value, "environment", err)))
            return rc;
    }
    if ((rc = apply_flags(config, argc, argv, 0, err)) != VDB_OK)
        return rc;
    if (config->http_threads == 0) {
        unsigned n = 2u * (unsigned)vdb_cpu_count();
        config->http_threads = n < 4 ? 4 : n;
    }
    if (config->max_dim == 0 || config->max_dim > VDB_MAX_DIM)
        return vdb_error_set(err, VDB_EINVAL, "VDB_MAX_DIM must be 1..%u", VDB_MAX_DIM);
    if (config->max_k == 0 || config->max_k > 100000)
        return vdb_error_set(err, VDB_EINVAL, "VDB_MAX_K must be 1..100000");
    if (config->max_batch == 0 || config->max_batch > 1000000)
        return vdb_error_set(err, VDB_EINVAL, "VDB_MAX_BATCH must be 1..1000000");
    if (config->header_timeout_s == 0 || config->header_timeout_s > 3600)
        return vdb_error_set(err, VDB_EINVAL, "VDB_HEADER_TIMEOUT_S must be 1..3600");
    if (config->max_conn_per_peer == 0)
        return vdb_error_set(err, VDB_EINVAL, "VDB_MAX_CONN_PER_PEER must be at least 1");
    if (config->rate_burst_s == 0 || config->rate_burst_s > 3600)
        return vdb_error_set(err, VDB_EINVAL, "VDB_RATE_BURST_S must be 1..3600");
    if (config->max_connections == 0 || config->port > 65535)
        return vdb_error_set(err, VDB_EINVAL, "bad PORT or VDB_MAX_CONNECTIONS");
    if (strcmp(config->fsync, "always") && strcmp(config->fsync, "interval") &&
        strcmp(config->fsync, "off"))
        return vdb_error_set(err, VDB_EINVAL, "VDB_FSYNC must be always, interval or off");
    return expand_home(config, err);
}

static void format_value(const vdb_config *config, const setting *s, char *out, size_t size)
{
    const char *field = (const char *)config + s->offset;
    switch (s->type) {
    case T_STR:
        if (s->secret && field[0] != '\0') {
            size_t n = strlen(field);
            snprintf(out, size, "****%s", n > 8 ? field + n - 4 : "");
        } else {
            snprintf(out, size, "%s", field);
        }
        break;
    case T_UINT:
        snprintf(out, size, "%u", *(const unsigned *)field);
        break;
    case T_SIZE:
        snprintf(out, size, "%zu", *(const size_t *)field);
        break;
    case T_BOOL:
        snprintf(out, size, "%s", *(const int *)field ? "true" : "false");
        break;
    }
}

void vdb_config_visit(const vdb_config *config, vdb_config_visit_fn fn, void *ctx)
{
    char value[VDB_CONFIG_STR + 16];
    for (size_t i = 0; i < NSETTINGS; i++) {
        format_value(config, &settings[i], value, sizeof(value));
        fn(ctx, settings[i].var, value, settings[i].help, settings[i].secret);
    }
}
