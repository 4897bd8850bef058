/* Leveled logging to stderr with timestamps. Thread-safe (one fprintf per
 * line). The level comes from vdb_log_set_level or LOG_LEVEL. */
#ifndef VDB_CORE_LOG_H
#define VDB_CORE_LOG_H

typedef enum {
    VDB_LOG_DEBUG = 0,
    VDB_LOG_INFO = 1,
    VDB_LOG_WARN = 2,
    VDB_LOG_ERROR = 3,
    VDB_LOG_OFF = 4
} vdb_log_level;

void vdb_log_set_level(vdb_log_level level);

/* Parses "debug", "info", "warning"/"warn", "error", "off" (any case);
 * returns -1 when the name is unknown (no error code). */
int vdb_log_level_parse(const char *name);

void vdb_log(vdb_log_level level, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Installs a function called just before each log line is written (NULL
 * removes it). The CLI's progress bar uses it to clear its half-drawn line
 * so that a log line never lands in the middle of the bar. The hook runs on
 * the logging thread and must only write to stderr. */
void vdb_log_set_line_hook(void (*before)(void));

#define vdb_log_debug(...) vdb_log(VDB_LOG_DEBUG, __VA_ARGS__)
#define vdb_log_info(...) vdb_log(VDB_LOG_INFO, __VA_ARGS__)
#define vdb_log_warn(...) vdb_log(VDB_LOG_WARN, __VA_ARGS__)
#define vdb_log_error(...) vdb_log(VDB_LOG_ERROR, __VA_ARGS__)

#endif
