/* HTTP/1.1 request parsing for the transport (http.c): the request head
 * (request line and header fields), the query string, and chunked bodies.
 *
 * Strict on purpose: whatever a proxy in front of vdb could read
 * differently from vdb is refused (RFC 9112 section 6.3 and 11.2): a NUL or
 * other control byte in the head, obsolete line folding, two different
 * Content-Length values, a Content-Length that is not a plain decimal
 * number, Transfer-Encoding together with Content-Length, any transfer
 * coding other than "chunked", and chunk sizes of more than 15 hex digits.
 *
 * Pure functions on caller-provided memory: no allocation, no I/O, so they
 * are unit-testable and fuzzable on their own. Thread-safe (no state). */
#ifndef VDB_API_HTTPPARSE_H
#define VDB_API_HTTPPARSE_H

#include <stddef.h>
#include <stdint.h>

#define VDB_HTTP_MAX_FIELDS 64 /* header fields per request */
#define VDB_HTTP_MAX_ARGS 32   /* query-string arguments kept per request */

typedef struct vdb_http_kv {
    const char *name;
    const char *value;
    size_t value_len; /* decoded length (a value may hold a decoded NUL) */
} vdb_http_kv;

typedef struct vdb_http_head {
    const char *method;
    const char *path; /* percent-decoded, without the query string */
    int minor;        /* HTTP/1.<minor> */
    vdb_http_kv fields[VDB_HTTP_MAX_FIELDS];
    size_t nfields;
    vdb_http_kv args[VDB_HTTP_MAX_ARGS];
    size_t nargs;
    int64_t content_length; /* -1: none declared */
    int chunked;
    int keep_alive;
    int expect_continue;
    int bad_arg;            /* an argument holds NUL or invalid UTF-8 */
    char bad_arg_name[64];  /* its name, printable ("?" for bytes that are not) */
} vdb_http_head;

/* Parses the head in buf[0..len) (ending with the blank line), in place:
 * buf is modified (fields NUL-terminated, escapes decoded) and `head`
 * points into it. Returns 0, or the HTTP status to answer (400 malformed,
 * 501 unknown method token is not used: any token is passed on, 505
 * unsupported version) with a reason in why: an HTTP status, not an error
 * code; never fails otherwise. */
int vdb_httpparse_head(char *buf, size_t len, vdb_http_head *head, char *why, size_t why_size);

/* Case-insensitive field lookup: the first value, or NULL. */
const char *vdb_httpparse_field(const vdb_http_head *head, const char *name);

/* Query argument lookup: the first value, or NULL. */
const char *vdb_httpparse_arg(const vdb_http_head *head, const char *name);

/* 1 when s[0..len) is well-formed UTF-8 with no NUL, else 0; never fails. */
int vdb_httpparse_utf8_ok(const char *s, size_t len);

/* Chunked transfer decoding, fed with whatever bytes have arrived. */
typedef struct vdb_http_chunker {
    int state;
    uint64_t remaining;
    unsigned digits;
    unsigned line;   /* bytes in the current size or trailer line */
} vdb_http_chunker;

enum {
    VDB_HTTP_CHUNK_MORE = 0, /* all input used; feed more */
    VDB_HTTP_CHUNK_DATA = 1, /* data, data_len: body bytes */
    VDB_HTTP_CHUNK_DONE = 2, /* last chunk and trailers read */
    VDB_HTTP_CHUNK_BAD = -1  /* malformed (why says how) */
};

/* Consumes from in[0..len); *used says how many bytes. Call again with the
 * rest while it returns DATA. Returns a VDB_HTTP_CHUNK_* state, not an
 * error code (BAD: malformed, why says how). */
int vdb_httpparse_chunk(vdb_http_chunker *chunker, const char *in, size_t len, size_t *used,
                        const char **data, size_t *data_len, const char **why);

/* multipart/form-data (RFC 7578), read in place from a whole body: the one
 * reader for every upload handler (libmicrohttpd's post processor went with
 * libmicrohttpd; see http.h). */
typedef struct vdb_http_part {
    const char *data; /* the part's bytes, borrowed from the body */
    size_t len;
    const char *head; /* its header lines, CRLF-separated, not NUL-terminated */
    size_t head_len;
} vdb_http_part;

enum {
    VDB_HTTP_FORM_OK = 0,
    VDB_HTTP_FORM_NOT_MULTIPART = 1, /* no Content-Type, or not multipart/form-data */
    VDB_HTTP_FORM_NO_PART = 2,       /* no part with that name */
    VDB_HTTP_FORM_BAD = -1           /* missing or oversized boundary (why says which) */
};

/* Finds the part whose Content-Disposition parameter `name` equals `name`
 * (quoted or a bare token; `filename=` does not count) in body[0..len)
 * sent with Content-Type `content_type` (may be NULL). Parts are delimited
 * by CRLF "--boundary"; a truncated part is not returned. Returns a
 * VDB_HTTP_FORM_* result, not an error code (BAD: why says which). */
int vdb_httpparse_form_part(const char *content_type, const char *body, size_t len,
                            const char *name, vdb_http_part *part, const char **why);

/* The value of header `field` in a part's head, case-insensitive, leading
 * blanks skipped, up to the end of its line: *value and *value_len, or
 * NULL when the part has no such header. */
const char *vdb_httpparse_part_field(const vdb_http_part *part, const char *field,
                                     size_t *value_len);

#endif
