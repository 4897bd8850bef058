/* Strict HTTP/1.1 request-head, query-string and chunked-body parsing (see
 * httpparse.h for what is refused and why). The head is parsed in place:
 * the caller owns one copy of the bytes and the parsed view points into
 * it, so a request costs no allocation beyond that copy. */
#include "httpparse.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int is_tchar(unsigned char c)
{
    return isalnum(c) || (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = (unsigned char)tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Percent-decodes s in place ('+' as space when plus is set); returns the
 * decoded length. A malformed escape is kept literally, as browsers do. */
static size_t decode(char *s, int plus)
{
    char *out = s;
    for (char *p = s; *p; p++) {
        if (*p == '%' && hexval((unsigned char)p[1]) >= 0 && hexval((unsigned char)p[2]) >= 0) {
            *out++ = (char)(hexval((unsigned char)p[1]) * 16 + hexval((unsigned char)p[2]));
            p += 2;
        } else {
            *out++ = (plus && *p == '+') ? ' ' : *p;
        }
    }
    *out = '\0';
    return (size_t)(out - s);
}

int vdb_httpparse_utf8_ok(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (p < end) {
        unsigned c = *p, need;
        uint32_t cp;
        if (c == 0)
            return 0;
        if (c < 0x80) {
            p++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            need = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            need = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            need = 3;
            cp = c & 0x07;
        } else {
            return 0;
        }
        if ((size_t)(end - p) <= need)
            return 0;
        for (unsigned i = 1; i <= need; i++) {
            if ((p[i] & 0xc0) != 0x80)
                return 0;
            cp = (cp << 6) | (p[i] & 0x3f);
        }
        /* Overlong forms, surrogates and values past U+10FFFF. */
        if ((need == 2 && cp < 0x800) || (need == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return 0;
        p += need + 1;
    }
    return 1;
}

static void parse_query(char *query, vdb_http_head *head)
{
    char *save = NULL;
    for (char *pair = strtok_r(query, "&", &save); pair; pair = strtok_r(NULL, "&", &save)) {
        char *eq = strchr(pair, '=');
        char *value = eq ? eq + 1 : pair + strlen(pair);
        if (eq)
            *eq = '\0';
        size_t name_len = decode(pair, 1);
        size_t value_len = decode(value, 1);
        if (!head->bad_arg && (!vdb_httpparse_utf8_ok(pair, name_len) ||
                               !vdb_httpparse_utf8_ok(value, value_len))) {
            head->bad_arg = 1;
            size_t n = 0;
            for (size_t i = 0; i < name_len && n + 1 < sizeof(head->bad_arg_name); i++)
                head->bad_arg_name[n++] = isprint((unsigned char)pair[i]) ? pair[i] : '?';
            head->bad_arg_name[n] = '\0';
        }
        if (head->nargs < VDB_HTTP_MAX_ARGS) {
            vdb_http_kv *kv = &head->args[head->nargs++];
            kv->name = pair;
            kv->value = value;
            kv->value_len = value_len;
        }
    }
}

static int fail(char *why, size_t size, const char *text)
{
    snprintf(why, size, "%s", text);
    return 400;
}

static int parse_request_line(char *line, vdb_http_head *head, char *why, size_t size)
{
    char *sp1 = strchr(line, ' ');
    char *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
    if (sp1 == NULL || sp2 == NULL || strchr(sp2 + 1, ' ') != NULL)
        return fail(why, size, "malformed request line");
    *sp1 = *sp2 = '\0';
    for (const char *m = line; *m; m++)
        if (!is_tchar((unsigned char)*m))
            return fail(why, size, "malformed method");
    if (line[0] == '\0')
        return fail(why, size, "malformed method");
    const char *version = sp2 + 1;
    if (strncmp(version, "HTTP/1.", 7) != 0 || !isdigit((unsigned char)version[7]) ||
        version[8] != '\0') {
        snprintf(why, size, "unsupported HTTP version");
        return 505;
    }
    head->method = line;
    head->minor = version[7] - '0';
    char *target = sp1 + 1;
    if (target[0] != '/')
        return fail(why, size, "request target must start with '/'");
    for (const char *t = target; *t; t++)
        if ((unsigned char)*t <= 0x20 || (unsigned char)*t == 0x7f)
            return fail(why, size, "control character in the request target");
    char *query = strchr(target, '?');
    if (query != NULL)
        *query++ = '\0';
    size_t path_len = decode(target, 0);
    if (strlen(target) != path_len || !vdb_httpparse_utf8_ok(target, path_len))
        return fail(why, size, "the path holds a NUL byte or invalid UTF-8");
    head->path = target;
    if (query != NULL)
        parse_query(query, head);
    return 0;
}

/* Content-Length: plain decimal digits, at most 18 of them (no sign, no
 * list, no spaces inside). */
static int parse_length(const char *value, int64_t *out)
{
    size_t n = strlen(value);
    if (n == 0 || n > 18)
        return -1;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)value[i]))
            return -1;
        v = v * 10 + (value[i] - '0');
    }
    *out = v;
    return 0;
}

static int check_framing(vdb_http_head *head, char *why, size_t size)
{
    const char *te = NULL;
    head->content_length = -1;
    for (size_t i = 0; i < head->nfields; i++) {
        const vdb_http_kv *f = &head->fields[i];
        if (strcasecmp(f->name, "Content-Length") == 0) {
            int64_t v;
            if (parse_length(f->value, &v) != 0)
                return fail(why, size, "Content-Length must be a non-negative decimal number");
            if (head->content_length >= 0 && head->content_length != v)
                return fail(why, size, "conflicting Content-Length headers");
            head->content_length = v;
        } else if (strcasecmp(f->name, "Transfer-Encoding") == 0) {
            if (te != NULL)
                return fail(why, size, "more than one Transfer-Encoding header");
            te = f->value;
        } else if (strcasecmp(f->name, "Connection") == 0) {
            if (strcasestr(f->value, "close") != NULL)
                head->keep_alive = 0;
            else if (strcasestr(f->value, "keep-alive") != NULL)
                head->keep_alive = 1;
        } else if (strcasecmp(f->name, "Expect") == 0) {
            if (strcasecmp(f->value, "100-continue") != 0) {
                snprintf(why, size, "unsupported Expect value");
                return 417;
            }
            head->expect_continue = 1;
        }
    }
    if (te != NULL) {
        if (strcasecmp(te, "chunked") != 0) {
            snprintf(why, size, "Transfer-Encoding '%.40s' is not supported (only chunked)", te);
            return 400;
        }
        if (head->content_length >= 0)
            return fail(why, size, "both Transfer-Encoding and Content-Length");
        if (head->minor == 0)
            return fail(why, size, "chunked transfer coding in an HTTP/1.0 request");
        head->chunked = 1;
    }
    return 0;
}

int vdb_httpparse_head(char *buf, size_t len, vdb_http_head *head, char *why, size_t why_size)
{
    memset(head, 0, sizeof(*head));
    if (memchr(buf, '\0', len) != NULL)
        return fail(why, why_size, "NUL byte in the request head");
    buf[len] = '\0';
    char *line = buf, *eol = strstr(line, "\r\n");
    if (eol == NULL)
        return fail(why, why_size, "malformed request line");
    *eol = '\0';
    int rc = parse_request_line(line, head, why, why_size);
    if (rc != 0)
        return rc;
    head->keep_alive = head->minor >= 1;
    for (line = eol + 2; (eol = strstr(line, "\r\n")) != NULL && eol != line; line = eol + 2) {
        *eol = '\0';
        if (*line == ' ' || *line == '\t')
            return fail(why, why_size, "obsolete header line folding");
        char *colon = strchr(line, ':');
        if (colon == NULL || colon == line)
            return fail(why, why_size, "malformed header field");
        *colon = '\0';
        for (const char *n = line; *n; n++)
            if (!is_tchar((unsigned char)*n))
                return fail(why, why_size, "malformed header field name");
        char *value = colon + 1;
        while (*value == ' ' || *value == '\t')
            value++;
        char *end = value + strlen(value);
        while (end > value && (end[-1] == ' ' || end[-1] == '\t'))
            *--end = '\0';
        for (const char *v = value; *v; v++)
            if (((unsigned char)*v < 0x20 && *v != '\t') || (unsigned char)*v == 0x7f)
                return fail(why, why_size, "control character in a header value");
        if (head->nfields == VDB_HTTP_MAX_FIELDS) {
            snprintf(why, why_size, "more than %d header fields", VDB_HTTP_MAX_FIELDS);
            return 431;
        }
        head->fields[head->nfields].name = line;
        head->fields[head->nfields].value = value;
        head->fields[head->nfields].value_len = (size_t)(end - value);
        head->nfields++;
    }
    return check_framing(head, why, why_size);
}

const char *vdb_httpparse_field(const vdb_http_head *head, const char *name)
{
    for (size_t i = 0; i < head->nfields; i++)
        if (strcasecmp(head->fields[i].name, name) == 0)
            return head->fields[i].value;
    return NULL;
}

const char *vdb_httpparse_arg(const vdb_http_head *head, const char *name)
{
    for (size_t i = 0; i < head->nargs; i++)
        if (strcmp(head->args[i].name, name) == 0)
            return head->args[i].value;
    return NULL;
}

enum { CH_SIZE, CH_EXT, CH_SIZE_LF, CH_DATA, CH_DATA_CR, CH_DATA_LF, CH_TRAILER, CH_TRAILER_LF,
       CH_DONE };

#define CHUNK_LINE_MAX 1024

int vdb_httpparse_chunk(vdb_http_chunker *c, const char *in, size_t len, size_t *used,
                        const char **data, size_t *data_len, const char **why)
{
    size_t i = 0;
    *why = NULL;
    while (i < len) {
        unsigned char ch = (unsigned char)in[i];
        switch (c->state) {
        case CH_SIZE: {
            int v = hexval(ch);
            if (v >= 0) {
                /* 15 hex digits is 2^60 bytes: far past any body limit, and
                 * no overflow is possible below it. */
                if (++c->digits > 15) {
                    *why = "chunk size too large";
                    return VDB_HTTP_CHUNK_BAD;
                }
                c->remaining = c->remaining * 16 + (uint64_t)v;
                i++;
                break;
            }
            if (c->digits == 0) {
                *why = "malformed chunk size";
                return VDB_HTTP_CHUNK_BAD;
            }
            c->state = ch == '\r' ? CH_SIZE_LF : CH_EXT;
            c->line = 0;
            i++;
            if (ch != '\r' && ch != ';' && ch != ' ' && ch != '\t') {
                *why = "malformed chunk size";
                return VDB_HTTP_CHUNK_BAD;
            }
            break;
        }
        case CH_EXT: /* chunk extensions are ignored, but bounded */
            if (++c->line > CHUNK_LINE_MAX || ch == '\n' || ch == 0) {
                *why = "malformed chunk extension";
                return VDB_HTTP_CHUNK_BAD;
            }
            if (ch == '\r')
                c->state = CH_SIZE_LF;
            i++;
            break;
        case CH_SIZE_LF:
            if (ch != '\n') {
                *why = "malformed chunk size line";
                return VDB_HTTP_CHUNK_BAD;
            }
            i++;
            c->state = c->remaining == 0 ? CH_TRAILER : CH_DATA;
            c->line = 0;
            break;
        case CH_DATA: {
            size_t n = len - i;
            if ((uint64_t)n > c->remaining)
                n = (size_t)c->remaining;
            c->remaining -= n;
            if (c->remaining == 0)
                c->state = CH_DATA_CR;
            *data = in + i;
            *data_len = n;
            *used = i + n;
            return VDB_HTTP_CHUNK_DATA;
        }
        case CH_DATA_CR:
        case CH_DATA_LF:
            if (ch != (c->state == CH_DATA_CR ? '\r' : '\n')) {
                *why = "chunk data not followed by CRLF";
                return VDB_HTTP_CHUNK_BAD;
            }
            i++;
            if (c->state == CH_DATA_LF) {
                c->state = CH_SIZE;
                c->digits = 0;
                c->remaining = 0;
            } else {
                c->state = CH_DATA_LF;
            }
            break;
        case CH_TRAILER: /* trailer fields are read and ignored, bounded */
            i++;
            if (ch == '\r') {
                c->state = CH_TRAILER_LF;
            } else if (ch == 0 || ch == '\n' || ++c->line > CHUNK_LINE_MAX) {
                *why = "malformed chunked trailer";
                return VDB_HTTP_CHUNK_BAD;
            }
            break;
        case CH_TRAILER_LF:
            if (ch != '\n') {
                *why = "malformed chunked trailer";
                return VDB_HTTP_CHUNK_BAD;
            }
            i++;
            if (c->line == 0) {
                c->state = CH_DONE;
                *used = i;
                return VDB_HTTP_CHUNK_DONE;
            }
            c->line = 0;
            c->state = CH_TRAILER;
            break;
        default:
            *used = i;
            return VDB_HTTP_CHUNK_DONE;
        }
    }
    *used = i;
    return VDB_HTTP_CHUNK_MORE;
}

/* ---- multipart/form-data ---- */

/* Whether the header line[0..n) is a Content-Disposition whose `name`
 * parameter is exactly `name`, quoted or bare. Other parameters are
 * skipped whole (a quoted value may hold ';'), so filename="x" or a name
 * that merely contains `name` never matches. */
static int disposition_names(const char *line, size_t n, const char *name)
{
    size_t nlen = strlen(name);
    if (n <= 20 || strncasecmp(line, "Content-Disposition:", 20) != 0)
        return 0;
    const char *end = line + n;
    for (const char *p = memchr(line, ';', n); p != NULL && p < end;) {
        p++;
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        if ((size_t)(end - p) >= 5 && strncasecmp(p, "name=", 5) == 0) {
            const char *v = p + 5;
            size_t vlen = (size_t)(end - v), at = 0;
            if (vlen > 0 && *v == '"')
                v++, vlen--, at = 1;
            if (vlen < nlen + at || memcmp(v, name, nlen) != 0 || (at && v[nlen] != '"'))
                return 0;
            return vlen == nlen + at || v[nlen + at] == ';' || v[nlen + at] == ' ';
        }
        int quoted = 0;
        while (p < end && (quoted || *p != ';')) {
            if (*p == '"')
                quoted = !quoted;
            p++;
        }
    }
    return 0;
}

static int head_names(const char *head, size_t len, const char *name)
{
    const char *end = head + len;
    for (const char *line = head; line < end;) {
        const char *eol = memmem(line, (size_t)(end - line), "\r\n", 2);
        size_t n = eol ? (size_t)(eol - line) : (size_t)(end - line);
        if (disposition_names(line, n, name))
            return 1;
        if (eol == NULL)
            break;
        line = eol + 2;
    }
    return 0;
}

int vdb_httpparse_form_part(const char *content_type, const char *body, size_t len,
                            const char *name, vdb_http_part *part, const char **why)
{
    char delim[160];
    *why = NULL;
    if (content_type == NULL || strncasecmp(content_type, "multipart/form-data", 19) != 0)
        return VDB_HTTP_FORM_NOT_MULTIPART;
    const char *b = strstr(content_type, "boundary=");
    if (b == NULL) {
        *why = "multipart body without a boundary";
        return VDB_HTTP_FORM_BAD;
    }
    b += 9;
    size_t blen = *b == '"' ? strcspn(++b, "\"") : strcspn(b, "; ");
    if (blen == 0 || blen > 150) { /* RFC 2046: at most 70 characters */
        *why = "bad multipart boundary";
        return VDB_HTTP_FORM_BAD;
    }
    /* Every delimiter is CRLF "--" boundary; the first may open the body
     * without the CRLF. Offsets, so nothing points before the body. */
    size_t dlen = (size_t)snprintf(delim, sizeof(delim), "\r\n--%.*s", (int)blen, b);
    size_t at;
    if (len >= dlen - 2 && memcmp(body, delim + 2, dlen - 2) == 0) {
        at = dlen - 2;
    } else {
        const char *first = memmem(body, len, delim, dlen);
        if (first == NULL)
            return VDB_HTTP_FORM_NO_PART;
        at = (size_t)(first - body) + dlen;
    }
    for (;;) {
        const char *head = body + at, *end = body + len;
        const char *start = memmem(head, (size_t)(end - head), "\r\n\r\n", 4);
        if (start == NULL)
            return VDB_HTTP_FORM_NO_PART;
        start += 4;
        const char *next = memmem(start, (size_t)(end - start), delim, dlen);
        if (next == NULL)
            return VDB_HTTP_FORM_NO_PART;
        if (head_names(head, (size_t)(start - 4 - head), name)) {
            part->data = start;
            part->len = (size_t)(next - start);
            part->head = head;
            part->head_len = (size_t)(start - 4 - head);
            return VDB_HTTP_FORM_OK;
        }
        at = (size_t)(next - body) + dlen;
    }
}

const char *vdb_httpparse_part_field(const vdb_http_part *part, const char *field,
                                     size_t *value_len)
{
    size_t flen = strlen(field);
    const char *end = part->head + part->head_len;
    for (const char *line = part->head; line < end;) {
        const char *eol = memmem(line, (size_t)(end - line), "\r\n", 2);
        size_t n = eol ? (size_t)(eol - line) : (size_t)(end - line);
        if (n > flen && line[flen] == ':' && strncasecmp(line, field, flen) == 0) {
            const char *v = line + flen + 1;
            while (v < line + n && (*v == ' ' || *v == '\t'))
                v++;
            *value_len = (size_t)(line + n - v);
            return v;
        }
        if (eol == NULL)
            break;
        line = eol + 2;
    }
    return NULL;
}
