/* Counters, histograms and the Prometheus text writer (see metrics.h). */
#include "metrics.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "../core/alloc.h"

const double vdb_hist_bounds[VDB_HIST_BUCKETS] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                   0.05,   0.1,   0.25,   0.5,   1.0,  10.0};

void vdb_histogram_observe(vdb_histogram *hist, double seconds)
{
    size_t i = 0;
    if (!(seconds > 0))
        seconds = 0;
    while (i < VDB_HIST_BUCKETS && seconds > vdb_hist_bounds[i])
        i++;
    atomic_fetch_add_explicit(&hist->buckets[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&hist->sum_ns, (uint_fast64_t)(seconds * 1e9), memory_order_relaxed);
    atomic_fetch_add_explicit(&hist->count, 1, memory_order_relaxed);
}

void vdb_hist_le(size_t i, char *out, size_t n)
{
    if (i < VDB_HIST_BUCKETS)
        snprintf(out, n, "%g", vdb_hist_bounds[i]);
    else
        snprintf(out, n, "+Inf");
}

void vdb_histogram_read(const vdb_histogram *hist, uint64_t *count, double *sum,
                        uint64_t buckets[VDB_HIST_BUCKETS + 1])
{
    vdb_histogram *h = (vdb_histogram *)hist;
    uint64_t total = 0;
    for (size_t i = 0; i <= VDB_HIST_BUCKETS; i++) {
        buckets[i] = atomic_load_explicit(&h->buckets[i], memory_order_relaxed);
        total += buckets[i];
    }
    /* count is derived from the buckets so the exposition stays consistent
     * (count == +Inf bucket) even while other threads observe. */
    *count = total;
    *sum = (double)atomic_load_explicit(&h->sum_ns, memory_order_relaxed) / 1e9;
}

double vdb_histogram_quantile(const vdb_histogram *hist, double q)
{
    uint64_t buckets[VDB_HIST_BUCKETS + 1], count;
    double sum, seen = 0;
    vdb_histogram_read(hist, &count, &sum, buckets);
    if (count == 0)
        return 0;
    double target = q * (double)count;
    for (size_t i = 0; i <= VDB_HIST_BUCKETS; i++) {
        if (seen + (double)buckets[i] >= target && buckets[i] > 0) {
            double lo = i == 0 ? 0 : vdb_hist_bounds[i - 1];
            double hi = i < VDB_HIST_BUCKETS ? vdb_hist_bounds[i] : lo * 2;
            return lo + (hi - lo) * ((target - seen) / (double)buckets[i]);
        }
        seen += (double)buckets[i];
    }
    return vdb_hist_bounds[VDB_HIST_BUCKETS - 1];
}

void vdb_prom_init(vdb_prom *buf)
{
    memset(buf, 0, sizeof(*buf));
}

void vdb_prom_free(vdb_prom *buf)
{
    vdb_free(buf->text);
    memset(buf, 0, sizeof(*buf));
}

char *vdb_prom_take(vdb_prom *buf, size_t *len)
{
    char *text = buf->text;
    *len = buf->len;
    memset(buf, 0, sizeof(*buf));
    return text;
}

static void append(vdb_prom *buf, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

static void append(vdb_prom *buf, const char *fmt, ...)
{
    va_list ap;
    if (buf->failed)
        return;
    for (;;) {
        size_t room = buf->cap - buf->len;
        va_start(ap, fmt);
        int n = vsnprintf(buf->text ? buf->text + buf->len : NULL, room, fmt, ap);
        va_end(ap);
        if (n < 0) {
            buf->failed = 1;
            return;
        }
        if ((size_t)n < room) {
            buf->len += (size_t)n;
            return;
        }
        size_t cap = buf->cap ? buf->cap * 2 : 4096;
        while (cap < buf->len + (size_t)n + 1)
            cap *= 2;
        char *grown = vdb_realloc(buf->text, cap);
        if (grown == NULL) {
            buf->failed = 1;
            return;
        }
        buf->text = grown;
        buf->cap = cap;
    }
}

void vdb_prom_family(vdb_prom *buf, const char *name, const char *type, const char *help)
{
    append(buf, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void append_labels(vdb_prom *buf, const char *const *labels, const char *le)
{
    int first = 1;
    if ((labels == NULL || labels[0] == NULL) && le == NULL)
        return;
    append(buf, "{");
    for (size_t i = 0; labels != NULL && labels[i] != NULL && labels[i + 1] != NULL; i += 2) {
        append(buf, "%s%s=\"", first ? "" : ",", labels[i]);
        for (const char *p = labels[i + 1]; *p; p++) {
            if (*p == '\\' || *p == '"')
                append(buf, "\\%c", *p);
            else if (*p == '\n')
                append(buf, "\\n");
            else
                append(buf, "%c", *p);
        }
        append(buf, "\"");
        first = 0;
    }
    if (le != NULL)
        append(buf, "%sle=\"%s\"", first ? "" : ",", le);
    append(buf, "}");
}

static void append_value(vdb_prom *buf, double value)
{
    if (isnan(value))
        append(buf, " NaN\n");
    else if (isinf(value))
        append(buf, value > 0 ? " +Inf\n" : " -Inf\n");
    else if (value == floor(value) && fabs(value) < 1e15)
        append(buf, " %.0f\n", value);
    else
        append(buf, " %.9g\n", value);
}

void vdb_prom_sample(vdb_prom *buf, const char *name, double value, const char *const *labels)
{
    append(buf, "%s", name);
    append_labels(buf, labels, NULL);
    append_value(buf, value);
}

void vdb_prom_histogram(vdb_prom *buf, const char *name, const vdb_histogram *hist,
                        const char *const *labels)
{
    uint64_t buckets[VDB_HIST_BUCKETS + 1], count, cumulative = 0;
    double sum;
    char le[32];
    vdb_histogram_read(hist, &count, &sum, buckets);
    for (size_t i = 0; i <= VDB_HIST_BUCKETS; i++) {
        cumulative += buckets[i];
        vdb_hist_le(i, le, sizeof(le));
        append(buf, "%s_bucket", name);
        append_labels(buf, labels, le);
        append_value(buf, (double)cumulative);
    }
    append(buf, "%s_sum", name);
    append_labels(buf, labels, NULL);
    append_value(buf, sum);
    append(buf, "%s_count", name);
    append_labels(buf, labels, NULL);
    append_value(buf, (double)count);
}
