/* Metric names and the conversion from internal distances to the figures the
 * API reports; see index.h. */
#include "index.h"

#include <math.h>
#include <string.h>

int vdb_metric_parse(const char *name)
{
    static const struct { const char *name; vdb_metric metric; } names[] = {
        {"cosine", VDB_METRIC_COSINE},     {"euclidean", VDB_METRIC_L2},
        {"l2", VDB_METRIC_L2},             {"dot", VDB_METRIC_DOT},
        {"inner_product", VDB_METRIC_DOT}, {"dot_product", VDB_METRIC_DOT},
        {"ip", VDB_METRIC_DOT},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(name, names[i].name) == 0)
            return (int)names[i].metric;
    return -1;
}

const char *vdb_metric_name(vdb_metric metric)
{
    switch (metric) {
    case VDB_METRIC_COSINE:
        return "cosine";
    case VDB_METRIC_L2:
        return "euclidean";
    case VDB_METRIC_DOT:
        return "dot";
    }
    return "unknown";
}

void vdb_metric_report(vdb_metric metric, float dist, double *distance, double *similarity)
{
    double d = dist;
    switch (metric) {
    case VDB_METRIC_COSINE:
        *distance = d;
        *similarity = 1.0 - d > 0.0 ? 1.0 - d : 0.0;
        return;
    case VDB_METRIC_L2:
        *distance = d > 0.0 ? sqrt(d) : 0.0;
        *similarity = 1.0 / (1.0 + *distance);
        return;
    case VDB_METRIC_DOT:
        *distance = d;
        *similarity = -d > 0.0 ? -d : 0.0;
        return;
    }
    *distance = d;
    *similarity = 0.0;
}
