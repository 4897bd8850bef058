/* stderr logger; see log.h. Each line is formatted into a local buffer and
 * written with one fputs so concurrent lines never interleave. */
#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <strings.h>
#include <time.h>

static _Atomic int current_level = VDB_LOG_INFO;

void vdb_log_set_level(vdb_log_level level)
{
    atomic_store(&current_level, (int)level);
}

int vdb_log_level_parse(const char *name)
{
    static const struct { const char *name; int level; } names[] = {
        {"debug", VDB_LOG_DEBUG}, {"info", VDB_LOG_INFO},
        {"warning", VDB_LOG_WARN}, {"warn", VDB_LOG_WARN},
        {"error", VDB_LOG_ERROR}, {"critical", VDB_LOG_ERROR},
        {"off", VDB_LOG_OFF},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcasecmp(name, names[i].name) == 0)
            return names[i].level;
    return -1;
}

/* Called before each line is written (see vdb_log_set_line_hook). */
static void (*_Atomic line_hook)(void);

void vdb_log(vdb_log_level level, const char *fmt, ...)
{
    void (*before)(void);
    static const char *tags[] = {"DEBUG", "INFO", "WARN", "ERROR"};
    char line[1024];
    char stamp[32];
    struct tm tm_utc;
    time_t now;
    va_list ap;
    int used;

    if ((int)level < atomic_load(&current_level) || level >= VDB_LOG_OFF)
        return;
    now = time(NULL);
    gmtime_r(&now, &tm_utc);
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm_utc);
    used = snprintf(line, sizeof(line), "%s %-5s ", stamp, tags[level]);
    va_start(ap, fmt);
    if (used > 0 && (size_t)used < sizeof(line))
        vsnprintf(line + used, sizeof(line) - (size_t)used, fmt, ap);
    va_end(ap);
    before = atomic_load(&line_hook);
    if (before != NULL)
        before();
    fprintf(stderr, "%s\n", line);
}

void vdb_log_set_line_hook(void (*before)(void))
{
    atomic_store(&line_hook, before);
}
