/* Lock-free counters and histograms, and the Prometheus text exposition
 * format (version 0.0.4) to publish them.
 *
 * Counters and histograms are plain structs of C11 atomics that callers
 * embed where they need them (the API keeps one histogram per route);
 * observing is a few relaxed atomic adds, safe from any thread. The text
 * writer appends to a growable buffer and emits HELP/TYPE once per family,
 * cumulative buckets ending with +Inf, _sum and _count, and escapes label
 * values, so the output is valid exposition format. */
#ifndef VDB_METRICS_METRICS_H
#define VDB_METRICS_METRICS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* Upper bounds in seconds, the original's defaults (0.001 .. 10 s). */
#define VDB_HIST_BUCKETS 12
extern const double vdb_hist_bounds[VDB_HIST_BUCKETS];

/* Writes bucket i's Prometheus `le` label ("%g" of its bound, "+Inf" for
 * i == VDB_HIST_BUCKETS) into out[n]. Pure; any thread. */
void vdb_hist_le(size_t i, char *out, size_t n);

typedef struct vdb_counter {
    atomic_uint_fast64_t value;
} vdb_counter;

typedef struct vdb_histogram {
    atomic_uint_fast64_t buckets[VDB_HIST_BUCKETS + 1]; /* last one: above every bound */
    atomic_uint_fast64_t count;
    atomic_uint_fast64_t sum_ns;
} vdb_histogram;

static inline void vdb_counter_add(vdb_counter *counter, uint64_t n)
{
    atomic_fetch_add_explicit(&counter->value, n, memory_order_relaxed);
}

static inline uint64_t vdb_counter_get(const vdb_counter *counter)
{
    return atomic_load_explicit(&((vdb_counter *)counter)->value, memory_order_relaxed);
}

/* Records one observation of `seconds` (negative values count as 0). */
void vdb_histogram_observe(vdb_histogram *hist, double seconds);

/* Snapshot: count, sum (seconds) and per-bucket (non-cumulative) counts. */
void vdb_histogram_read(const vdb_histogram *hist, uint64_t *count, double *sum,
                        uint64_t buckets[VDB_HIST_BUCKETS + 1]);

/* Quantile estimate (linear within a bucket), in seconds; 0 when empty. */
double vdb_histogram_quantile(const vdb_histogram *hist, double q);

/* A growable text buffer for the exposition. All appenders ignore calls
 * after an allocation failure and leave buf->failed set. */
typedef struct vdb_prom {
    char *text;
    size_t len, cap;
    int failed;
} vdb_prom;

void vdb_prom_init(vdb_prom *buf);
void vdb_prom_free(vdb_prom *buf);
/* Hands the text to the caller (free with vdb_free); the buffer is reset. */
char *vdb_prom_take(vdb_prom *buf, size_t *len);

/* "# HELP name help\n# TYPE name type\n" (type: counter, gauge, histogram). */
void vdb_prom_family(vdb_prom *buf, const char *name, const char *type, const char *help);
/* One sample; labels are "k1", "v1", "k2", "v2", ..., NULL-terminated
 * (pass NULL for none). Values are escaped. */
void vdb_prom_sample(vdb_prom *buf, const char *name, double value, const char *const *labels);
/* _bucket (cumulative, with +Inf), _sum and _count lines of one series. */
void vdb_prom_histogram(vdb_prom *buf, const char *name, const vdb_histogram *hist,
                        const char *const *labels);

#endif
