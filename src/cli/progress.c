/* Progress reporting for long CLI work; see progress.h.
 *
 * On a terminal: a bar redrawn in place at most 10 times a second. A log
 * line written meanwhile (the store logs index builds and checkpoints)
 * would land in the middle of the bar, so the bar installs a log hook that
 * erases its line first; the next update draws it again below the log.
 * Elsewhere (a pipe, CI, a file): one plain line every few seconds, so long
 * jobs still show they are alive without filling logs with carriage
 * returns. */
#include "progress.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "../core/log.h"

/* Seconds between plain lines when stderr is not a terminal. */
#define PLAIN_INTERVAL_DEFAULT 5.0

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The hook clears the terminal line the bar is on (ESC [ K erases it). */
static void clear_bar_line(void)
{
    fputs("\r\033[K", stderr);
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
    if (!p->tty) {
        fprintf(stderr, "%s: %zu/%zu (%.1f%%)  %.0f/s  eta %.0fs\n", p->label, p->done, p->total,
                frac * 100.0, rate, eta);
        fflush(stderr);
        return;
    }
    for (int i = 0; i < WIDTH; i++)
        bar[i] = i < filled ? '#' : '.';
    bar[WIDTH] = '\0';
    fprintf(stderr, "\r%-12s [%s] %5.1f%% %zu/%zu  %.0f/s  eta %.0fs ", p->label, bar,
            frac * 100.0, p->done, p->total, rate, eta);
    fflush(stderr);
}

void vdb_progress_start(vdb_progress *p, const char *label, size_t total)
{
    const char *interval = getenv("VDB_PROGRESS_INTERVAL");
    p->label = label;
    p->total = total;
    p->done = 0;
    p->started = now();
    p->last_draw = p->started;
    p->tty = isatty(STDERR_FILENO);
    p->interval = p->tty ? 0.1 : PLAIN_INTERVAL_DEFAULT;
    if (!p->tty && interval != NULL && atof(interval) > 0)
        p->interval = atof(interval);
    p->drawn = 0;
    if (p->tty)
        vdb_log_set_line_hook(clear_bar_line);
}

void vdb_progress_update(vdb_progress *p, size_t done)
{
    double t;
    p->done = done;
    t = now();
    if (t - p->last_draw >= p->interval) {
        p->last_draw = t;
        p->drawn = 1;
        draw(p, t);
    }
}

void vdb_progress_finish(vdb_progress *p)
{
    if (p->tty) {
        vdb_log_set_line_hook(NULL);
        draw(p, now());
        fputc('\n', stderr);
    } else if (p->drawn) {
        draw(p, now()); /* the last plain line says it reached the end */
    }
}
