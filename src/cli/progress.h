/* A progress bar for long CLI work, drawn on stderr when it is a terminal
 * (rate-limited to 10 redraws a second) and silent otherwise, so piped and
 * CI output stays clean. */
#ifndef VDB_CLI_PROGRESS_H
#define VDB_CLI_PROGRESS_H

#include <stddef.h>

typedef struct vdb_progress {
    const char *label;
    size_t total;
    size_t done;
    double started;
    double last_draw;
    int enabled;
} vdb_progress;

void vdb_progress_start(vdb_progress *p, const char *label, size_t total);

/* Sets the amount done so far and redraws when due. */
void vdb_progress_update(vdb_progress *p, size_t done);

/* Draws the final state and ends the line. */
void vdb_progress_finish(vdb_progress *p);

#endif
