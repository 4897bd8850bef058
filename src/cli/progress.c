/* Terminal progress bar; see progress.h. */
#include "progress.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void draw(const vdb_progress *p, double t)
{
    enum { WIDTH = 30 };
    double frac = p->total ? (double)p->done / (double)p->total : 1.0;
    double elapsed = t - p->started;
    double rate = elapsed > 0 ? (double)p->done / elapsed : 0.0;
    double eta = rate > 0 && p->total > p->done ? (double)(p->total - p->done) / rate : 0.0;
    int filled = (int)(frac * WIDTH);
    char bar[WIDTH + 1];
    for (int i = 0; i < WIDTH; i++)
        bar[i] = i < filled ? '#' : '.';
    bar[WIDTH] = '\0';
    fprintf(stderr, "\r%-12s [%s] %5.1f%% %zu/%zu  %.0f/s  eta %.0fs ", p->label, bar,
            frac * 100.0, p->done, p->total, rate, eta);
    fflush(stderr);
}

void vdb_progress_start(vdb_progress *p, const char *label, size_t total)
{
    p->label = label;
    p->total = total;
    p->done = 0;
    p->started = now();
    p->last_draw = 0.0;
    p->enabled = isatty(STDERR_FILENO);
}

void vdb_progress_update(vdb_progress *p, size_t done)
{
    double t;
    p->done = done;
    if (!p->enabled)
        return;
    t = now();
    if (t - p->last_draw >= 0.1) {
        p->last_draw = t;
        draw(p, t);
    }
}

void vdb_progress_finish(vdb_progress *p)
{
    if (!p->enabled)
        return;
    draw(p, now());
    fputc('\n', stderr);
}
