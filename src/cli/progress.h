/* Progress of long CLI work on stderr: on a terminal a bar redrawn in place
 * (at most 10 times a second; log lines clear it first, so they never land
 * inside it); otherwise one plain line every 5 seconds (VDB_PROGRESS_INTERVAL
 * seconds when set), none at all for work that ends sooner. One progress
 * at a time per process; not thread-safe. */
#ifndef VDB_CLI_PROGRESS_H
#define VDB_CLI_PROGRESS_H

#include <stddef.h>

typedef struct vdb_progress {
    const char *label;
    size_t total;
    size_t done;
    double started;
    double last_draw;
    double interval; /* seconds between draws */
    int tty;         /* stderr is a terminal: draw a bar in place */
    int drawn;       /* a plain line was printed */
} vdb_progress;

void vdb_progress_start(vdb_progress *p, const char *label, size_t total);

/* Sets the amount done so far and redraws when due. */
void vdb_progress_update(vdb_progress *p, size_t done);

/* Draws the final state and ends the line. */
void vdb_progress_finish(vdb_progress *p);

#endif
