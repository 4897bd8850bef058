/* `vdb query`: top-k search on a store from the command line; prints one
 * JSON object per query (rank, id, distance, similarity_score, metadata, in
 * the API's shape). Queries come from --vector '[...]' or a .npy file. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/alloc.h"
#include "../core/json.h"
#include "../filter/filter.h"
#include "bench.h"
#include "../core/limits.h"
#include "cli.h"
#include "cli_args.h"
#include "cli_store.h"

typedef struct query_opts {
    vdb_cli_target target;
    const char *vector, *file, *filter;
    vdb_query_params params;
} query_opts;

/* Past a few thousand HNSW visits most of the graph; the cap only keeps a
 * typo from meaning hours. */
#define QUERY_MAX_EF 100000u

static const char USAGE[] =
    "usage: vdb query --user U --model M (--vector '[...]' | --query-file F.npy)\n"
    "                 [--k 10] [--filter JSON] [--ef EF] [--exact] [--data-dir DIR]\n";

#define FAIL(...) vdb_cli_usage_error("query", USAGE, __VA_ARGS__)

/* Returns 0 to go on, 1 after --help, 2 on a usage error (printed). */
static int parse(int argc, char **argv, query_opts *o)
{
    unsigned long long n;
    o->params.k = 10;
    for (int i = 1; i < argc; i++) {
        const char *flag = argv[i], *v;
        int step = vdb_cli_common(&o->target, USAGE, argc, argv, &i);
        if (step == VDB_CLI_TOOK)
            continue;
        if (step != VDB_CLI_OWN)
            return step == VDB_CLI_HELP ? 1 : 2;
        if (strcmp(flag, "--exact") == 0) {
            o->params.exact = 1;
            continue;
        }
        if (strcmp(flag, "--vector") != 0 && strcmp(flag, "--query-file") != 0 &&
            strcmp(flag, "--filter") != 0 && strcmp(flag, "--k") != 0 && strcmp(flag, "--ef") != 0)
            return vdb_cli_unknown("query", USAGE, flag);
        if ((v = vdb_cli_value("query", USAGE, argc, argv, &i)) == NULL)
            return 2;
        if (strcmp(flag, "--vector") == 0) {
            o->vector = v;
        } else if (strcmp(flag, "--query-file") == 0) {
            o->file = v;
        } else if (strcmp(flag, "--filter") == 0) {
            o->filter = v;
        } else if (strcmp(flag, "--k") == 0) {
            if (vdb_cli_parse_uint("query", USAGE, "--k", v, 1, VDB_MAX_K, &n))
                return 2;
            o->params.k = (size_t)n;
        } else {
            if (vdb_cli_parse_uint("query", USAGE, "--ef", v, 1, QUERY_MAX_EF, &n))
                return 2;
            o->params.ef = (uint32_t)n;
        }
    }
    if (o->target.user == NULL || o->target.model == NULL)
        return FAIL("%s is required", o->target.user == NULL ? "--user" : "--model");
    if ((o->vector != NULL) == (o->file != NULL))
        return FAIL("give exactly one of --vector and --query-file");
    return 0;
}

static int print_hits(void *ctx, size_t query, const vdb_store_hit *hits, size_t count)
{
    vdb_json *out = vdb_json_object(), *list = vdb_json_array();
    char *text;
    (void)ctx;
    vdb_json_object_set_new(out, "query", vdb_json_int((long long)query));
    for (size_t i = 0; i < count; i++) {
        vdb_json *item = vdb_json_object();
        vdb_json *meta = NULL;
        if (hits[i].meta != NULL)
            (void)vdb_json_parse(hits[i].meta, strlen(hits[i].meta), 0, &meta, NULL);
        vdb_json_object_set_new(item, "rank", vdb_json_int((long long)i + 1));
        vdb_json_object_set_new(item, "id", vdb_json_string(hits[i].id));
        vdb_json_object_set_new(item, "distance", vdb_json_real(hits[i].distance));
        vdb_json_object_set_new(item, "similarity_score", vdb_json_real(hits[i].similarity));
        vdb_json_object_set_new(item, "metadata", meta ? meta : vdb_json_object());
        vdb_json_array_append_new(list, item);
    }
    vdb_json_object_set_new(out, "results", list);
    text = vdb_json_dump(out, VDB_JSON_DUMP_COMPACT);
    printf("%s\n", text ? text : "{}");
    vdb_json_free_text(text);
    vdb_json_decref(out);
    return 0;
}

/* Loads the queries: one from --vector, or every row of --query-file. */
static float *load_queries(const query_opts *o, uint32_t dim, size_t *nq, vdb_error *err)
{
    float *q = NULL;
    size_t cols = 0, len = 0;
    if (o->file != NULL) {
        if (vdb_bench_npy_read(o->file, &q, nq, &cols, err) != VDB_OK)
            return NULL;
    } else {
        vdb_json *arr = NULL;
        (void)vdb_json_parse(o->vector, strlen(o->vector), 0, &arr, err);
        q = arr ? vdb_malloc((size_t)dim * sizeof(float)) : NULL;
        if (q != NULL && vdb_json_to_floats(arr, q, dim, &len, err) != VDB_OK) {
            vdb_free(q);
            q = NULL;
        }
        vdb_json_decref(arr);
        cols = len;
        *nq = 1;
    }
    if (q != NULL && cols != dim) {
        vdb_error_set(err, VDB_EDIM, "query dimension %zu, store dimension %u", cols, dim);
        vdb_free(q);
        return NULL;
    }
    return q;
}

int vdb_cmd_query(int argc, char **argv)
{
    query_opts o = {0};
    vdb_registry *registry = NULL;
    vdb_store_handle *handle = NULL;
    vdb_filter *filter = NULL;
    float *queries = NULL;
    size_t nq = 0;
    vdb_error err;
    int status = 1;
    if ((status = parse(argc, argv, &o)) != 0)
        return status == 1 ? 0 : status;
    status = 1;
    vdb_error_clear(&err);
    if (o.filter != NULL) {
        if (vdb_filter_compile_text(o.filter, strlen(o.filter), &filter, &err) != VDB_OK) {
            fprintf(stderr, "vdb query: filter: %s\n", err.msg);
            goto cleanup;
        }
        o.params.filter = filter;
    }
    if ((registry = vdb_cli_registry(&o.target, 0)) == NULL ||
        (handle = vdb_cli_acquire(registry, &o.target)) == NULL)
        goto cleanup;
    queries = load_queries(&o, vdb_store_get_config(vdb_registry_store(handle))->dim, &nq, &err);
    if (queries == NULL ||
        vdb_store_query(vdb_registry_store(handle), queries, nq, &o.params, print_hits, NULL,
                        &err) != VDB_OK) {
        fprintf(stderr, "vdb query: %s\n", err.msg);
        goto cleanup;
    }
    status = 0;
cleanup:
    vdb_free(queries);
    vdb_filter_free(filter);
    vdb_registry_release(handle);
    vdb_registry_free(registry);
    return status;
}
