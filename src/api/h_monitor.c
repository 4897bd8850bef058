/* /monitoring handlers: liveness, metrics (Prometheus text or the
 * README-era JSON), summary, detailed checks, status and store listing.
 *
 * Per-store series and listings only name stores the caller may see, so a
 * per-user key never learns another tenant's store names. */
#include "api_int.h"
#include "qcache.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "../core/alloc.h"
#include "../core/fsx.h"
#include "../core/log.h"
#include "../store/query.h"

static const char *const error_types[VDB_NERRCODES] = {
    "ok",        "invalid",  "no_memory", "not_found", "exists",    "io",       "corrupt",
    "range",     "dimension", "locked",   "no_space",  "read_only", "too_big",  "parse",
    "auth",      "forbidden", "unsupported", "busy",   "internal",  "other"};

/* ---- system CPU usage ----
 * From /proc/stat: busy share of all CPUs between the previous reading and
 * this one. The previous reading is kept process-wide; when it is missing
 * or under 100 ms old (too short to be meaningful) a 100 ms sample is taken
 * instead, so the figure is always measured, never a default. */
#define CPU_MIN_WINDOW_MS 100.0

typedef struct cpu_sample {
    unsigned long long busy, total;
    double at_ms;
} cpu_sample;

static pthread_mutex_t cpu_lock = PTHREAD_MUTEX_INITIALIZER;
static cpu_sample cpu_prev;

static int cpu_read(cpu_sample *out)
{
    unsigned long long v[8] = {0};
    char text[512]; /* the first line, "cpu ...", is all we read */
    if (vdb_fsx_read_text("/proc/stat", text, sizeof(text), NULL, NULL) != VDB_OK)
        return -1;
    int n = sscanf(text, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
                   &v[4], &v[5], &v[6], &v[7]);
    if (n < 4)
        return -1;
    out->total = 0;
    for (int i = 0; i < 8; i++)
        out->total += v[i];
    out->busy = out->total - v[3] - v[4]; /* minus idle and iowait */
    out->at_ms = vdb_now_ms();
    return 0;
}

/* Percent of CPU time busy, or -1 when /proc/stat cannot be read. */
static double cpu_usage_percent(void)
{
    cpu_sample now, prev;
    pthread_mutex_lock(&cpu_lock);
    prev = cpu_prev;
    pthread_mutex_unlock(&cpu_lock);
    if (prev.total == 0 || vdb_now_ms() - prev.at_ms < CPU_MIN_WINDOW_MS) {
        struct timespec ts = {0, (long)(CPU_MIN_WINDOW_MS * 1e6)};
        if (cpu_read(&prev) != 0)
            return -1;
        nanosleep(&ts, NULL);
    }
    if (cpu_read(&now) != 0)
        return -1;
    pthread_mutex_lock(&cpu_lock);
    cpu_prev = now;
    pthread_mutex_unlock(&cpu_lock);
    if (now.total <= prev.total)
        return 0;
    return 100.0 * (double)(now.busy - prev.busy) / (double)(now.total - prev.total);
}

static uint64_t route_total(const vdb_api *api, size_t slot)
{
    uint64_t n = 0;
    for (size_t s = 0; s < VDB_NSTATUS; s++)
        n += vdb_counter_get(&api->route_status[slot][s]);
    return n;
}

static uint64_t requests_total(const vdb_api *api)
{
    uint64_t n = 0;
    for (size_t slot = 0; slot <= VDB_ROUTES_MAX; slot++)
        n += route_total(api, slot);
    return n;
}

static uint64_t errors_total(const vdb_api *api)
{
    uint64_t n = 0;
    for (size_t i = 1; i < VDB_NERRCODES; i++)
        n += vdb_counter_get(&api->errors[i]);
    return n;
}

static void route_names(const vdb_route *routes, size_t nroutes, size_t slot, const char **method,
                        const char **path)
{
    *method = slot < nroutes ? routes[slot].method : "any";
    *path = slot < nroutes ? routes[slot].path : "unmatched";
}

static void prom_http(vdb_prom *buf, const vdb_api *api)
{
    size_t nroutes = api->nroutes;
    const vdb_route *routes = api->routes;
    const char *method, *path;
    char status[16];
    vdb_prom_family(buf, "http_requests_total", "counter", "Total HTTP requests");
    for (size_t slot = 0; slot <= VDB_ROUTES_MAX; slot++)
        for (size_t s = 0; s < VDB_NSTATUS; s++) {
            uint64_t n = vdb_counter_get(&api->route_status[slot][s]);
            if (n == 0)
                continue;
            route_names(routes, nroutes, slot, &method, &path);
            snprintf(status, sizeof(status), "%d", vdb_api_statuses[s] ? vdb_api_statuses[s] : 0);
            const char *labels[] = {"method", method, "endpoint", path, "status", status, NULL};
            vdb_prom_sample(buf, "http_requests_total", (double)n, labels);
        }
    vdb_prom_family(buf, "http_request_duration_seconds", "histogram", "HTTP request duration");
    for (size_t slot = 0; slot <= VDB_ROUTES_MAX; slot++) {
        if (route_total(api, slot) == 0)
            continue;
        route_names(routes, nroutes, slot, &method, &path);
        const char *labels[] = {"method", method, "endpoint", path, NULL};
        vdb_prom_histogram(buf, "http_request_duration_seconds", &api->route_hist[slot], labels);
    }
}

typedef struct prom_ctx {
    vdb_req *req;
    vdb_prom *buf;
    int pass; /* 0: vector_store_size, 1: wal bytes */
} prom_ctx;

static void prom_store(void *ctx, vdb_store_handle *handle)
{
    prom_ctx *p = ctx;
    vdb_store_stats stats;
    if (!vdb_req_sees_user(p->req, vdb_registry_user(handle)))
        return;
    vdb_store_get_stats(vdb_registry_store(handle), &stats);
    const char *labels[] = {"user_id", vdb_registry_user(handle), "model_id",
                            vdb_registry_model(handle), NULL};
    double target, lower;
    uint32_t ef;
    if (p->pass >= 2)
        vdb_store_recall_summary(vdb_registry_store(handle), &target, &lower, &ef);
    if (p->pass == 0)
        vdb_prom_sample(p->buf, "vector_store_size", (double)stats.vectors, labels);
    else if (p->pass == 1)
        vdb_prom_sample(p->buf, "vdb_store_wal_bytes", (double)stats.wal_bytes, labels);
    else if (p->pass == 2)
        vdb_prom_sample(p->buf, "vdb_store_target_recall", target, labels);
    else if (p->pass == 3)
        vdb_prom_sample(p->buf, "vdb_store_recall_lower_bound", lower, labels);
    else
        vdb_prom_sample(p->buf, "vdb_store_calibrated_ef", (double)ef, labels);
}

static void prom_cache(vdb_prom *buf, const vdb_api *api)
{
    vdb_qcache_stats st;
    vdb_qcache_get_stats(api->qcache, &st);
    vdb_prom_family(buf, "cache_hits_total", "counter", "Query cache hits");
    vdb_prom_sample(buf, "cache_hits_total", (double)st.hits, NULL);
    vdb_prom_family(buf, "cache_misses_total", "counter", "Query cache misses");
    vdb_prom_sample(buf, "cache_misses_total", (double)st.misses, NULL);
    vdb_prom_family(buf, "vdb_cache_entries", "gauge", "Query results held by the cache");
    vdb_prom_sample(buf, "vdb_cache_entries", (double)st.entries, NULL);
}

/* The transport's connection counters and the rate limiter's refusals. */
static void prom_transport(vdb_prom *buf, const vdb_api *api)
{
    vdb_http_stats st;
    vdb_http_get_stats(api->http, &st);
    vdb_prom_family(buf, "vdb_http_connections_open", "gauge", "Open client connections");
    vdb_prom_sample(buf, "vdb_http_connections_open", (double)st.open, NULL);
    vdb_prom_family(buf, "vdb_http_connections_total", "counter",
                    "Connections by outcome: accepted, refused (per-address bound or full), "
                    "evicted (idle, to make room), timed out, malformed request");
    const struct { const char *name; uint64_t value; } outcomes[] = {
        {"accepted", st.accepted}, {"refused_per_peer", st.rejected_peer},
        {"refused_full", st.rejected_full}, {"evicted_idle", st.evicted},
        {"timed_out", st.timed_out}, {"malformed", st.malformed}};
    for (size_t i = 0; i < sizeof(outcomes) / sizeof(outcomes[0]); i++) {
        const char *labels[] = {"outcome", outcomes[i].name, NULL};
        vdb_prom_sample(buf, "vdb_http_connections_total", (double)outcomes[i].value, labels);
    }
    vdb_prom_family(buf, "vdb_rate_limited_total", "counter",
                    "Requests refused with 429 by the rate limiter, by route class");
    for (size_t i = 0; i < VDB_RATE_NCLASSES; i++) {
        const char *labels[] = {"class", vdb_rate_class_names[i], NULL};
        vdb_prom_sample(buf, "vdb_rate_limited_total",
                        (double)vdb_counter_get(&api->rate_limited[i]), labels);
    }
}

static void prom_system(vdb_prom *buf, const vdb_api *api)
{
    size_t total, available;
    uint64_t disk_total, disk_free;
    vdb_api_mem_info(&total, &available);
    vdb_api_disk_info(api, &disk_total, &disk_free);
    vdb_prom_family(buf, "system_memory_usage_bytes", "gauge", "System memory in use");
    vdb_prom_sample(buf, "system_memory_usage_bytes", (double)(total - available), NULL);
    vdb_prom_family(buf, "process_resident_memory_bytes", "gauge", "Resident memory of vdb");
    vdb_prom_sample(buf, "process_resident_memory_bytes", (double)vdb_api_rss_bytes(), NULL);
    vdb_prom_family(buf, "system_disk_usage_bytes", "gauge",
                    "Disk space in use on the data directory's file system");
    vdb_prom_sample(buf, "system_disk_usage_bytes", (double)(disk_total - disk_free), NULL);
    vdb_prom_family(buf, "vdb_uptime_seconds", "gauge", "Seconds since the server started");
    vdb_prom_sample(buf, "vdb_uptime_seconds", vdb_api_uptime(api), NULL);
    vdb_prom_family(buf, "vdb_http_in_flight", "gauge", "Requests being handled");
    vdb_prom_sample(buf, "vdb_http_in_flight", (double)vdb_http_in_flight(api->http), NULL);
    prom_transport(buf, api);
    const char *build[] = {"version", VDB_VERSION, NULL};
    vdb_prom_family(buf, "vdb_build_info", "gauge", "vdb build");
    vdb_prom_sample(buf, "vdb_build_info", 1, build);
}

static char *prometheus_text(vdb_req *req, size_t *len)
{
    vdb_api *api = req->api;
    vdb_prom buf;
    vdb_prom_init(&buf);
    prom_http(&buf, api);
    vdb_prom_family(&buf, "vector_queries_total", "counter", "Total vector queries");
    vdb_prom_sample(&buf, "vector_queries_total", (double)vdb_counter_get(&api->queries), NULL);
    vdb_prom_family(&buf, "vector_query_duration_seconds", "histogram", "Vector query duration");
    vdb_prom_histogram(&buf, "vector_query_duration_seconds", &api->query_hist, NULL);
    vdb_prom_family(&buf, "vector_additions_total", "counter", "Total vector additions");
    vdb_prom_sample(&buf, "vector_additions_total", (double)vdb_counter_get(&api->additions), NULL);
    vdb_prom_family(&buf, "vector_add_duration_seconds", "histogram", "Vector add request duration");
    vdb_prom_histogram(&buf, "vector_add_duration_seconds", &api->add_hist, NULL);
    vdb_prom_family(&buf, "vector_deletions_total", "counter", "Total vectors deleted");
    vdb_prom_sample(&buf, "vector_deletions_total", (double)vdb_counter_get(&api->deletions), NULL);
    prom_ctx p = {req, &buf, 0};
    vdb_prom_family(&buf, "vector_store_size", "gauge", "Number of vectors in stores");
    vdb_registry_each_loaded(api->registry, prom_store, &p);
    p.pass = 1;
    vdb_prom_family(&buf, "vdb_store_wal_bytes", "gauge", "Write-ahead log size per store");
    vdb_registry_each_loaded(api->registry, prom_store, &p);
    p.pass = 2;
    vdb_prom_family(&buf, "vdb_store_target_recall", "gauge", "Declared recall@k target per store");
    vdb_registry_each_loaded(api->registry, prom_store, &p);
    p.pass = 3;
    vdb_prom_family(&buf, "vdb_store_recall_lower_bound", "gauge",
                    "Calibrated 95% lower bound on recall@10 at the planner's ef (-1: exact scan)");
    vdb_registry_each_loaded(api->registry, prom_store, &p);
    p.pass = 4;
    vdb_prom_family(&buf, "vdb_store_calibrated_ef", "gauge",
                    "ef the planner uses for k <= 10 unfiltered (0: exact scan)");
    vdb_registry_each_loaded(api->registry, prom_store, &p);
    vdb_prom_family(&buf, "errors_total", "counter", "Total errors by type");
    for (size_t i = 1; i < VDB_NERRCODES; i++) {
        uint64_t n = vdb_counter_get(&api->errors[i]);
        const char *labels[] = {"type", error_types[i], NULL};
        if (n > 0)
            vdb_prom_sample(&buf, "errors_total", (double)n, labels);
    }
    vdb_prom_family(&buf, "vdb_auth_failures_total", "counter", "Requests refused for a bad key");
    vdb_prom_sample(&buf, "vdb_auth_failures_total", (double)vdb_counter_get(&api->auth_failures),
                    NULL);
    prom_cache(&buf, api);
    prom_system(&buf, api);
    if (buf.failed) {
        vdb_prom_free(&buf);
        return NULL;
    }
    return vdb_prom_take(&buf, len);
}

static vdb_json *metric_json(double value, const char *help, const char *type,
                             const vdb_histogram *hist)
{
    vdb_json *m = vdb_json_object();
    vdb_set(m, "value", vdb_json_real(value));
    vdb_set(m, "help", vdb_json_string(help));
    vdb_set(m, "type", vdb_json_string(type));
    if (hist != NULL) {
        uint64_t count, buckets[VDB_HIST_BUCKETS + 1], cumulative = 0;
        double sum;
        char le[32];
        vdb_histogram_read(hist, &count, &sum, buckets);
        vdb_json *stats = vdb_json_object(), *b = vdb_json_object();
        for (size_t i = 0; i <= VDB_HIST_BUCKETS; i++) {
            cumulative += buckets[i];
            vdb_hist_le(i, le, sizeof(le));
            vdb_set(b, le, vdb_json_int((long long)cumulative));
        }
        vdb_set(stats, "count", vdb_json_int((long long)count));
        vdb_set(stats, "sum", vdb_json_real(sum));
        vdb_set(stats, "mean", vdb_json_real(count ? sum / (double)count : 0));
        vdb_set(stats, "buckets", b);
        vdb_set(m, "stats", stats);
    }
    return m;
}

static vdb_json *metrics_json(vdb_req *req)
{
    vdb_api *api = req->api;
    size_t stores, vectors, bytes;
    vdb_api_store_totals(req, &stores, &vectors, &bytes);
    vdb_json *m = vdb_json_object(), *out = vdb_json_object();
    vdb_histogram all;
    memset(&all, 0, sizeof(all));
    vdb_set(m, "http_requests_total",
            metric_json((double)requests_total(api), "Total HTTP requests", "counter", NULL));
    vdb_set(m, "vector_queries_total", metric_json((double)vdb_counter_get(&api->queries),
                                                   "Total vector queries", "counter", NULL));
    vdb_set(m, "vector_query_duration_seconds",
            metric_json(vdb_histogram_quantile(&api->query_hist, 0.5), "Vector query duration",
                        "histogram", &api->query_hist));
    vdb_set(m, "vector_additions_total", metric_json((double)vdb_counter_get(&api->additions),
                                                     "Total vector additions", "counter", NULL));
    vdb_set(m, "vector_store_size",
            metric_json((double)vectors, "Number of vectors in stores", "gauge", NULL));
    vdb_set(m, "errors_total",
            metric_json((double)errors_total(api), "Total errors by type", "counter", NULL));
    vdb_set(m, "process_resident_memory_bytes",
            metric_json((double)vdb_api_rss_bytes(), "Resident memory of vdb", "gauge", NULL));
    vdb_set(out, "metrics", m);
    vdb_set(out, "timestamp", vdb_json_real(vdb_unix_time()));
    vdb_set(out, "format", vdb_json_string("json"));
    vdb_set(out, "service", vdb_json_string("vdb"));
    return out;
}

int vdb_h_mon_metrics(vdb_req *req)
{
    const char *format = vdb_http_query(req->http, "format");
    const char *accept = vdb_http_header(req->http, "Accept");
    if (!req->api->config.enable_metrics)
        return vdb_error_set(&req->err, VDB_ENOTFOUND, "metrics are disabled (ENABLE_METRICS)");
    int json = format ? strcmp(format, "json") == 0
                      : (accept != NULL && strcmp(accept, "application/json") == 0);
    if (format != NULL && !json && strcmp(format, "prometheus") != 0)
        return vdb_error_set(&req->err, VDB_EINVAL, "format must be json or prometheus");
    if (json)
        return vdb_reply_json(req, 200, metrics_json(req));
    size_t len = 0;
    char *text = prometheus_text(req, &len);
    if (text == NULL)
        return vdb_error_set(&req->err, VDB_ENOMEM, "out of memory");
    return vdb_reply_text(req, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
}

int vdb_h_mon_health(vdb_req *req)
{
    vdb_json *out = vdb_json_object();
    vdb_set(out, "status", vdb_json_string("healthy"));
    vdb_set(out, "uptime_seconds", vdb_json_real(vdb_api_uptime(req->api)));
    vdb_set(out, "version", vdb_json_string(VDB_VERSION));
    vdb_set(out, "service", vdb_json_string("vdb"));
    vdb_set(out, "timestamp", vdb_json_real(vdb_unix_time()));
    return vdb_reply_json(req, 200, out);
}

int vdb_h_mon_summary(vdb_req *req)
{
    vdb_api *api = req->api;
    size_t total, available;
    uint64_t disk_total, disk_free, count, buckets[VDB_HIST_BUCKETS + 1];
    double sum_all = 0, qsum;
    uint64_t nreq = 0;
    for (size_t slot = 0; slot <= VDB_ROUTES_MAX; slot++) {
        double s;
        vdb_histogram_read(&api->route_hist[slot], &count, &s, buckets);
        sum_all += s;
        nreq += count;
    }
    vdb_histogram_read(&api->query_hist, &count, &qsum, buckets);
    vdb_api_mem_info(&total, &available);
    vdb_api_disk_info(api, &disk_total, &disk_free);
    vdb_json *s = vdb_json_object(), *r = vdb_json_object(), *v = vdb_json_object();
    vdb_json *sys = vdb_json_object(), *e = vdb_json_object(), *out = vdb_json_object();
    vdb_set(r, "total", vdb_json_int((long long)nreq));
    vdb_set(r, "avg_duration", vdb_json_real(nreq ? sum_all / (double)nreq : 0));
    vdb_set(v, "queries_total", vdb_json_int((long long)vdb_counter_get(&api->queries)));
    vdb_set(v, "additions_total", vdb_json_int((long long)vdb_counter_get(&api->additions)));
    vdb_set(v, "avg_query_duration", vdb_json_real(count ? qsum / (double)count : 0));
    double cpu = cpu_usage_percent();
    vdb_qcache_stats qc;
    vdb_qcache_get_stats(api->qcache, &qc);
    vdb_json *cache = vdb_json_object();
    uint64_t lookups = qc.hits + qc.misses;
    vdb_set(cache, "hits", vdb_json_int((long long)qc.hits));
    vdb_set(cache, "misses", vdb_json_int((long long)qc.misses));
    vdb_set(cache, "entries", vdb_json_int((long long)qc.entries));
    vdb_set(cache, "memory_usage_mb", vdb_json_real((double)qc.bytes / 1048576.0));
    vdb_set(cache, "hit_rate_percent",
            vdb_json_real(lookups ? 100.0 * (double)qc.hits / (double)lookups : 0));
    vdb_set(sys, "cpu_usage_percent", cpu < 0 ? vdb_json_null() : vdb_json_real(cpu));
    vdb_set(sys, "memory_usage_gb", vdb_json_real((double)(total - available) / 1073741824.0));
    vdb_set(sys, "disk_usage_gb", vdb_json_real((double)(disk_total - disk_free) / 1073741824.0));
    vdb_set(sys, "process_rss_mb", vdb_json_real((double)vdb_api_rss_bytes() / 1048576.0));
    vdb_set(e, "total", vdb_json_int((long long)errors_total(api)));
    vdb_set(s, "requests", r);
    vdb_set(s, "vector_operations", v);
    vdb_set(s, "cache", cache);
    vdb_set(s, "system", sys);
    vdb_set(s, "errors", e);
    vdb_set(out, "summary", s);
    vdb_set(out, "timestamp", vdb_json_real(vdb_unix_time()));
    return vdb_reply_json(req, 200, out);
}

static vdb_json *check(const char *status, const char *message)
{
    vdb_json *c = vdb_json_object();
    vdb_set(c, "status", vdb_json_string(status));
    vdb_set(c, "message", vdb_json_string(message));
    return c;
}

typedef struct ro_ctx {
    vdb_req *req;
    size_t read_only;
} ro_ctx;

static void count_read_only(void *ctx, vdb_store_handle *handle)
{
    ro_ctx *c = ctx;
    vdb_store_stats stats;
    if (!vdb_req_sees_user(c->req, vdb_registry_user(handle)))
        return;
    vdb_store_get_stats(vdb_registry_store(handle), &stats);
    c->read_only += stats.read_only != 0;
}

/* The named checks of /monitoring/health/detailed; *overall is
 * "healthy", "warning" or "unhealthy". */
static vdb_json *health_checks(vdb_req *req, const char **overall)
{
    size_t total, available;
    uint64_t disk_total, disk_free;
    char msg[160];
    *overall = "healthy";
    vdb_api_mem_info(&total, &available);
    vdb_api_disk_info(req->api, &disk_total, &disk_free);
    vdb_json *checks = vdb_json_object();
    double free_pct = disk_total ? 100.0 * (double)disk_free / (double)disk_total : 100;
    const char *disk = free_pct < 5 ? "unhealthy" : free_pct < 10 ? "warning" : "healthy";
    snprintf(msg, sizeof(msg), "%.1f%% free on the data directory's file system", free_pct);
    vdb_set(checks, "disk_space", check(disk, msg));
    double used_pct = total ? 100.0 * (double)(total - available) / (double)total : 0;
    const char *mem = used_pct > 95 ? "unhealthy" : used_pct > 85 ? "warning" : "healthy";
    snprintf(msg, sizeof(msg), "%.1f%% of system memory in use", used_pct);
    vdb_set(checks, "memory_usage", check(mem, msg));
    ro_ctx ro = {req, 0};
    vdb_registry_each_loaded(req->api->registry, count_read_only, &ro);
    snprintf(msg, sizeof(msg), "%zu open stores read-only after a write failure", ro.read_only);
    vdb_set(checks, "stores", check(ro.read_only ? "warning" : "healthy", msg));
    if (!strcmp(disk, "unhealthy") || !strcmp(mem, "unhealthy"))
        *overall = "unhealthy";
    else if (strcmp(disk, "healthy") || strcmp(mem, "healthy") || ro.read_only)
        *overall = "warning";
    return checks;
}

int vdb_h_mon_health_detailed(vdb_req *req)
{
    const char *overall;
    vdb_json *checks = health_checks(req, &overall);
    vdb_json *out = vdb_json_object();
    vdb_set(out, "overall_status", vdb_json_string(overall));
    vdb_set(out, "status", vdb_json_string(overall));
    vdb_set(out, "checks", checks);
    vdb_set(out, "timestamp", vdb_json_real(vdb_unix_time()));
    return vdb_reply_json(req, 200, out);
}

typedef struct stores_ctx {
    vdb_req *req;
    vdb_json *list;
    int detailed;
} stores_ctx;

static int store_entry(void *ctx, const char *user_id, const char *model_id)
{
    stores_ctx *c = ctx;
    vdb_json *entry;
    if (!vdb_req_sees_user(c->req, user_id))
        return 0;
    entry = vdb_api_store_entry(c->req, user_id, model_id);
    if (entry != NULL && vdb_json_object_get(entry, "memory_usage_mb") != NULL)
        vdb_json_object_set(entry, "memory_mb", vdb_json_object_get(entry, "memory_usage_mb"));
    if (entry != NULL)
        vdb_json_array_append_new(c->list, entry);
    return 0;
}

int vdb_h_mon_stores(vdb_req *req)
{
    stores_ctx c = {req, vdb_json_array(), 0};
    int rc = vdb_registry_list(req->api->registry, NULL, store_entry, &c, &req->err);
    if (rc != VDB_OK) {
        vdb_json_decref(c.list);
        return rc;
    }
    vdb_json *out = vdb_json_object();
    vdb_set(out, "total_stores", vdb_json_int((long long)vdb_json_array_size(c.list)));
    vdb_set(out, "stores", c.list);
    return vdb_reply_json(req, 200, out);
}

/* README-era performance indicators, each a real comparison against a
 * documented threshold (docs/server.md):
 *   response_time_ok     p99 of all HTTP requests under 1 s
 *   cache_performance_ok cache hit rate >= 10 % once 100 lookups were made
 *                        (fewer lookups say nothing yet, so it is ok)
 *   error_rate_ok        under 5 % of requests answered with an error
 *   resource_usage_ok    memory in use <= 90 % and disk free >= 10 %
 * The figures they were computed from are returned beside them. */
#define IND_P99_SECONDS 1.0
#define IND_MIN_LOOKUPS 100
#define IND_MIN_HIT_RATE 0.10
#define IND_MAX_ERROR_RATE 0.05
#define IND_MAX_MEM_PCT 90.0
#define IND_MIN_DISK_FREE_PCT 10.0

static vdb_json *indicators(vdb_req *req, vdb_json *ind, int *all_ok_out)
{
    vdb_api *api = req->api;
    vdb_qcache_stats qc;
    size_t total, available;
    uint64_t disk_total, disk_free;
    /* p99 over every route: merge the per-route histograms' buckets. */
    uint64_t buckets[VDB_HIST_BUCKETS + 1], merged[VDB_HIST_BUCKETS + 1] = {0}, n = 0, count;
    double sum;
    for (size_t slot = 0; slot <= VDB_ROUTES_MAX; slot++) {
        vdb_histogram_read(&api->route_hist[slot], &count, &sum, buckets);
        n += count;
        for (size_t i = 0; i <= VDB_HIST_BUCKETS; i++)
            merged[i] += buckets[i];
    }
    double p99 = 0;
    uint64_t seen = 0, want = n - n / 100;
    for (size_t i = 0; n && i <= VDB_HIST_BUCKETS; i++) {
        seen += merged[i];
        if (seen >= want) {
            p99 = i < VDB_HIST_BUCKETS ? vdb_hist_bounds[i] : 1e9;
            break;
        }
    }
    vdb_qcache_get_stats(api->qcache, &qc);
    uint64_t lookups = qc.hits + qc.misses, reqs = requests_total(api), errs = errors_total(api);
    double hit_rate = lookups ? (double)qc.hits / (double)lookups : 0;
    double err_rate = reqs ? (double)errs / (double)reqs : 0;
    vdb_api_mem_info(&total, &available);
    vdb_api_disk_info(api, &disk_total, &disk_free);
    double mem_pct = total ? 100.0 * (double)(total - available) / (double)total : 0;
    double disk_free_pct = disk_total ? 100.0 * (double)disk_free / (double)disk_total : 100;
    vdb_set(ind, "response_time_ok", vdb_json_bool(p99 < IND_P99_SECONDS));
    vdb_set(ind, "cache_performance_ok",
            vdb_json_bool(lookups < IND_MIN_LOOKUPS || hit_rate >= IND_MIN_HIT_RATE));
    vdb_set(ind, "error_rate_ok", vdb_json_bool(err_rate < IND_MAX_ERROR_RATE));
    vdb_set(ind, "resource_usage_ok",
            vdb_json_bool(mem_pct <= IND_MAX_MEM_PCT && disk_free_pct >= IND_MIN_DISK_FREE_PCT));
    int all_ok = p99 < IND_P99_SECONDS &&
                 (lookups < IND_MIN_LOOKUPS || hit_rate >= IND_MIN_HIT_RATE) &&
                 err_rate < IND_MAX_ERROR_RATE && mem_pct <= IND_MAX_MEM_PCT &&
                 disk_free_pct >= IND_MIN_DISK_FREE_PCT;
    *all_ok_out = all_ok;
    vdb_json *fig = vdb_json_object();
    vdb_set(fig, "request_p99_upper_bound_seconds", vdb_json_real(p99));
    vdb_set(fig, "requests", vdb_json_int((long long)n));
    vdb_set(fig, "cache_hit_rate", vdb_json_real(hit_rate));
    vdb_set(fig, "cache_lookups", vdb_json_int((long long)lookups));
    vdb_set(fig, "error_rate", vdb_json_real(err_rate));
    vdb_set(fig, "memory_used_percent", vdb_json_real(mem_pct));
    vdb_set(fig, "disk_free_percent", vdb_json_real(disk_free_pct));
    return fig;
}

int vdb_h_mon_status(vdb_req *req)
{
    size_t total, available;
    uint64_t disk_total, disk_free;
    stores_ctx c = {req, vdb_json_array(), 1};
    int rc = vdb_registry_list(req->api->registry, NULL, store_entry, &c, &req->err);
    if (rc != VDB_OK) {
        vdb_json_decref(c.list);
        return rc;
    }
    vdb_api_mem_info(&total, &available);
    vdb_api_disk_info(req->api, &disk_total, &disk_free);
    vdb_json *res = vdb_json_object(), *http = vdb_json_object(), *out = vdb_json_object();
    vdb_set(res, "process_rss_mb", vdb_json_real((double)vdb_api_rss_bytes() / 1048576.0));
    vdb_set(res, "memory_available_gb", vdb_json_real((double)available / 1073741824.0));
    vdb_set(res, "disk_free_gb", vdb_json_real((double)disk_free / 1073741824.0));
    vdb_set(http, "in_flight", vdb_json_int(vdb_http_in_flight(req->api->http)));
    vdb_set(http, "requests_total", vdb_json_int((long long)requests_total(req->api)));
    vdb_set(http, "errors_total", vdb_json_int((long long)errors_total(req->api)));
    vdb_set(out, "service", vdb_json_string("vdb"));
    vdb_set(out, "version", vdb_json_string(VDB_VERSION));
    const char *overall;
    vdb_json *health = vdb_json_object(), *ind = vdb_json_object();
    vdb_set(health, "checks", health_checks(req, &overall));
    vdb_set(health, "overall_status", vdb_json_string(overall));
    vdb_set(health, "timestamp", vdb_json_real(vdb_unix_time()));
    int all_ok = 0;
    vdb_json *figures = indicators(req, ind, &all_ok);
    /* "degraded" only for a failing health check: the indicators are
     * advisory (a client's own 4xx count toward the error rate). */
    vdb_set(out, "status", vdb_json_string(strcmp(overall, "unhealthy") ? "healthy" : "degraded"));
    vdb_set(out, "all_indicators_ok", vdb_json_bool(all_ok));
    vdb_set(out, "health", health);
    vdb_set(out, "performance_indicators", ind);
    vdb_set(out, "performance_figures", figures);
    vdb_set(out, "uptime_seconds", vdb_json_real(vdb_api_uptime(req->api)));
    vdb_set(out, "environment", vdb_json_string(req->api->config.environment));
    vdb_set(out, "stores", c.list);
    vdb_set(out, "resources", res);
    vdb_set(out, "http", http);
    vdb_set(out, "cache", vdb_api_cache_json(req->api));
    /* Open stores against their cap, and quarantined failed opens. */
    vdb_registry_stat rs;
    vdb_registry_stats(req->api->registry, &rs);
    vdb_json *reg = vdb_json_object();
    vdb_set(reg, "open_stores", vdb_json_int((long long)rs.open));
    vdb_set(reg, "max_open_stores", vdb_json_int((long long)rs.max_open));
    vdb_set(reg, "quarantined", vdb_json_int((long long)rs.quarantined));
    vdb_set(reg, "idle_closes", vdb_json_int((long long)rs.evictions));
    vdb_set(out, "registry", reg);
    vdb_set(out, "timestamp", vdb_json_real(vdb_unix_time()));
    return vdb_reply_json(req, 200, out);
}

/* POST /monitoring/alerts/test?alert_type=test|high_cpu|low_disk|error_spike
 * (README era). Evaluates the named alert rule against the live figure,
 * logs the test alert at warn level (where an operator's log shipping
 * would pick it up) and says whether the rule would fire right now. vdb
 * sends no notifications itself; the log line is the alert. */
#define ALERT_CPU_PCT 90.0
#define ALERT_DISK_FREE_PCT 10.0
#define ALERT_ERROR_RATE 0.05

int vdb_h_mon_alert_test(vdb_req *req)
{
    const char *type = NULL;
    int rc = vdb_req_str(req, "alert_type", 0, &type);
    if (rc != VDB_OK)
        return rc;
    if (type == NULL)
        type = "test";
    double value = 0, threshold = 0;
    int firing;
    const char *metric, *severity;
    if (!strcmp(type, "test")) {
        metric = "none", severity = "info", firing = 1;
    } else if (!strcmp(type, "high_cpu")) {
        value = cpu_usage_percent();
        if (value < 0)
            return vdb_error_set(&req->err, VDB_EIO, "cannot read /proc/stat for the CPU figure");
        metric = "system_cpu_usage_percent", severity = "warning", threshold = ALERT_CPU_PCT;
        firing = value > threshold;
    } else if (!strcmp(type, "low_disk")) {
        uint64_t disk_total, disk_free;
        vdb_api_disk_info(req->api, &disk_total, &disk_free);
        value = disk_total ? 100.0 * (double)disk_free / (double)disk_total : 100;
        metric = "disk_free_percent", severity = "critical", threshold = ALERT_DISK_FREE_PCT;
        firing = value < threshold;
    } else if (!strcmp(type, "error_spike")) {
        uint64_t reqs = requests_total(req->api);
        value = reqs ? (double)errors_total(req->api) / (double)reqs : 0;
        metric = "error_rate", severity = "warning", threshold = ALERT_ERROR_RATE;
        firing = value > threshold;
    } else {
        return vdb_error_set(&req->err, VDB_EINVAL,
                             "alert_type must be test, high_cpu, low_disk or error_spike");
    }
    vdb_log_warn("test alert %s (%s): %s = %g, threshold %g, %s", type, severity, metric, value,
                 threshold, firing ? "firing" : "not firing");
    vdb_json *alert = vdb_json_object(), *out = vdb_json_object();
    vdb_set(alert, "name", vdb_json_string(type));
    vdb_set(alert, "severity", vdb_json_string(severity));
    vdb_set(alert, "metric", vdb_json_string(metric));
    vdb_set(alert, "value", vdb_json_real(value));
    vdb_set(alert, "threshold", vdb_json_real(threshold));
    vdb_set(alert, "firing", vdb_json_bool(firing));
    vdb_set(out, "status", vdb_json_string("test_alert_sent"));
    vdb_set(out, "alert_type", vdb_json_string(type));
    vdb_set(out, "message", vdb_json_string("test alert logged at warn level"));
    vdb_set(out, "alert", alert);
    vdb_set(out, "timestamp", vdb_json_real(vdb_unix_time()));
    return vdb_reply_json(req, 200, out);
}
