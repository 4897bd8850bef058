/* JSON float-matrix parse rate (issue 12): vdb_floatparse_member alone on
 * an add body as Python's json.dumps prints float32 rows (each value's
 * double at 17 significant digits, "[[-0.30000001192092896, ...], ...]").
 * Best of --repeat parses, timed by this thread's CPU clock (the machine
 * is shared: time spent descheduled is not the parser's) and by the wall
 * clock; the rows are random
 * (clustered like bench/batch_ingest.py's, so values of both signs and
 * magnitudes around 0.01-3).
 *
 *   build/floatparse_bench [--rows 1000] [--dim 384] [--repeat 30]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/floatparse.h"
#include "bench_util.h"
#include "core/rng.h"

int main(int argc, char **argv)
{
    size_t rows = 1000, dim = 384;
    int repeat = 30;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--rows") == 0)
            rows = (size_t)strtoul(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--dim") == 0)
            dim = (size_t)strtoul(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--repeat") == 0)
            repeat = atoi(argv[i + 1]);
        else {
            fprintf(stderr, "usage: %s [--rows N] [--dim D] [--repeat R]\n", argv[0]);
            return 2;
        }
    }
    if (rows == 0 || dim == 0 || repeat <= 0) {
        fprintf(stderr, "rows, dim and repeat must be positive\n");
        return 2;
    }
    size_t cap = 64 + rows * dim * 32, at = 0;
    char *body = malloc(cap);
    if (body == NULL) {
        fprintf(stderr, "out of memory\n");
        return 1;
    }
    vdb_rng rng;
    vdb_rng_seed(&rng, 7);
    at += (size_t)sprintf(body, "{\"user_id\": \"bench\", \"vectors\": [");
    for (size_t r = 0; r < rows; r++) {
        body[at++] = '[';
        double center = vdb_rng_uniform(&rng) * 2 - 1;
        for (size_t c = 0; c < dim; c++) {
            float v = (float)(center + 0.3 * (vdb_rng_uniform(&rng) * 2 - 1));
            at += (size_t)sprintf(body + at, "%.17g%s", (double)v, c + 1 < dim ? ", " : "");
        }
        at += (size_t)sprintf(body + at, "]%s", r + 1 < rows ? ", " : "");
    }
    at += (size_t)sprintf(body + at, "]}");
    double best = 1e30, best_wall = 1e30;
    for (int i = 0; i < repeat; i++) {
        vdb_floatmatrix m;
        vdb_error err = {0};
        struct timespec c0, c1;
        double t0 = now();
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
        if (vdb_floatparse_member(body, at, "vectors", 1, rows, (uint32_t)dim, &m, &err) != VDB_OK) {
            fprintf(stderr, "parse failed: %s\n", err.msg);
            return 1;
        }
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
        double wall = now() - t0;
        double dt = (double)(c1.tv_sec - c0.tv_sec) + (double)(c1.tv_nsec - c0.tv_nsec) * 1e-9;
        vdb_floatmatrix_free(&m);
        if (dt < best)
            best = dt;
        if (wall < best_wall)
            best_wall = wall;
    }
    printf("{\"rows\": %zu, \"dim\": %zu, \"body_bytes\": %zu, \"best_cpu_ms\": %.3f, "
           "\"best_wall_ms\": %.3f, \"MB_per_s\": %.0f, \"ns_per_number\": %.2f}\n",
           rows, dim, at, best * 1e3, best_wall * 1e3, (double)at / best / 1e6,
           best * 1e9 / (double)(rows * dim));
    free(body);
    return 0;
}
