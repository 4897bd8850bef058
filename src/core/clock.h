/* core/clock — the monotonic clock in milliseconds, for durations (lock
 * holds, pacing, operation ages), never for wall-clock time.
 * Owns nothing; thread-safe; never fails (CLOCK_MONOTONIC always exists
 * on the targets, Linux and macOS). */
#ifndef VDB_CORE_CLOCK_H
#define VDB_CORE_CLOCK_H

#include <time.h>

static inline double vdb_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

#endif
