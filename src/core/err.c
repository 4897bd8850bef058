/* Error table lookups and the message formatter; see err.h. */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int vdb_error_set(vdb_error *err, int code, const char *fmt, ...)
{
    if (err != NULL) {
        va_list ap;
        err->code = code;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
        /* A message goes into one log line, one CLI line and one JSON
         * "detail"; a control character from a file or a name (a pid file's
         * trailing newline) must not split or corrupt any of them. */
        for (char *c = err->msg; *c; c++)
            if ((unsigned char)*c < 0x20 || *c == 0x7f)
                *c = ' ';
    }
    return code;
}

void vdb_error_clear(vdb_error *err)
{
    if (err != NULL) {
        err->code = VDB_OK;
        err->msg[0] = '\0';
    }
}

const char *vdb_err_name(int code)
{
    switch (code) {
#define VDB_ERR_NAME(name, value, status, text) \
    case value:                                 \
        return "VDB_" #name;
        VDB_ERRNO_MAP(VDB_ERR_NAME)
#undef VDB_ERR_NAME
    default:
        return "VDB_EUNKNOWN";
    }
}

const char *vdb_err_text(int code)
{
    switch (code) {
#define VDB_ERR_TEXT(name, value, status, text) \
    case value:                                 \
        return text;
        VDB_ERRNO_MAP(VDB_ERR_TEXT)
#undef VDB_ERR_TEXT
    default:
        return "unknown error";
    }
}

int vdb_err_http_status(int code)
{
    switch (code) {
#define VDB_ERR_STATUS(name, value, status, text) \
    case value:                                   \
        return status;
        VDB_ERRNO_MAP(VDB_ERR_STATUS)
#undef VDB_ERR_STATUS
    default:
        return 500;
    }
}
