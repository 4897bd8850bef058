/* Error codes and the error record every fallible vdb function can fill.
 *
 * Functions return an int: VDB_OK (0) or a negative VDB_E* code. An optional
 * trailing `vdb_error *err` receives a human-readable message written once, at
 * the failure site, with concrete values. One X-macro table maps each code to
 * its name, description and the HTTP status the API layer answers with (only
 * api/ uses the status). */
#ifndef VDB_CORE_ERR_H
#define VDB_CORE_ERR_H

#include <stddef.h>

/* X(name, value, http_status, text) */
#define VDB_ERRNO_MAP(X)                                                      \
    X(OK, 0, 200, "success")                                                  \
    X(EINVAL, -1, 422, "invalid argument")                                    \
    X(ENOMEM, -2, 503, "out of memory")                                       \
    X(ENOTFOUND, -3, 404, "not found")                                        \
    X(EEXIST, -4, 409, "already exists")                                      \
    X(EIO, -5, 500, "I/O error")                                              \
    X(ECORRUPT, -6, 503, "corrupt data")                                      \
    X(ERANGE, -7, 422, "value out of range")                                  \
    X(EDIM, -8, 422, "dimension mismatch")                                    \
    X(ELOCKED, -9, 503, "resource locked by another process")                 \
    X(ENOSPC, -10, 507, "no space left on device")                            \
    X(EREADONLY, -11, 503, "store is read-only after a write failure")        \
    X(ETOOBIG, -12, 413, "too large")                                         \
    X(EPARSE, -13, 400, "malformed input")                                    \
    X(EAUTH, -14, 401, "not authenticated")                                   \
    X(EFORBIDDEN, -15, 403, "forbidden")                                      \
    X(EUNSUPPORTED, -16, 400, "unsupported")                                  \
    X(EBUSY, -17, 503, "busy")                                                \
    X(EINTERNAL, -18, 500, "internal error")

enum {
#define VDB_ERR_ENUM(name, value, status, text) VDB_##name = value,
    VDB_ERRNO_MAP(VDB_ERR_ENUM)
#undef VDB_ERR_ENUM
};

#define VDB_ERROR_MSG_MAX 256

typedef struct vdb_error {
    int code;
    char msg[VDB_ERROR_MSG_MAX];
} vdb_error;

/* Fills `err` (when not NULL) with `code` and a printf-style message and
 * returns `code`, so a failure site reads `return vdb_error_set(err, ...)`.
 * Never fails: returns exactly the code it was given. */
int vdb_error_set(vdb_error *err, int code, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* Resets `err` to VDB_OK with an empty message. NULL is accepted. */
void vdb_error_clear(vdb_error *err);

/* The code's symbolic name ("VDB_EINVAL"); "VDB_EUNKNOWN" for unknown codes. */
const char *vdb_err_name(int code);

/* A short English description of the code. */
const char *vdb_err_text(int code);

/* The HTTP status the API answers with for this code (500 when unknown);
 * never fails. */
int vdb_err_http_status(int code);

#endif
