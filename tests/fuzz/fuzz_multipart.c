/* The multipart/form-data parser of POST /admin/import_zip (upload_bytes
 * in api/h_zip.c, static there, so the file is included with the header
 * lookup redirected to the fuzz input). Input: the Content-Type header
 * value up to the first '\n', then the body. Properties: no crash or
 * out-of-bounds read; an accepted upload is a slice of the body. */
#define vdb_http_header fuzz_http_header
#include "../../src/api/h_zip.c"
#undef vdb_http_header

#include "fuzz_common.h"

static const char *content_type;

const char *fuzz_http_header(const vdb_http_request *req, const char *name)
{
    (void)req;
    return strcasecmp(name, "Content-Type") == 0 ? content_type : NULL;
}

void fuzz_init(void) {}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t hlen = nl ? (size_t)(nl - data) : size;
    char *type = malloc(hlen + 1);
    size_t blen = nl ? size - hlen - 1 : 0;
    char *body = malloc(blen + 1); /* NUL-terminated, as http.c hands bodies over */
    memcpy(type, data, hlen);
    type[hlen] = '\0';
    if (blen)
        memcpy(body, nl + 1, blen);
    body[blen] = '\0';
    content_type = type;
    vdb_http_request http = {.method = "POST", .path = "/admin/import_zip", .body = body,
                             .body_len = blen};
    vdb_req req;
    memset(&req, 0, sizeof(req));
    req.http = &http;
    const char *out = NULL;
    size_t len = 0;
    if (upload_bytes(&req, &out, &len) == VDB_OK) {
        fuzz_accepted++;
        if (out < body || out + len > body + blen)
            abort();
    }
    free(type);
    free(body);
    return 0;
}

void fuzz_seeds(const char *dir)
{
    static const char form[] =
        "multipart/form-data; boundary=XyZ123\n"
        "--XyZ123\r\nContent-Disposition: form-data; name=\"user_id\"\r\n\r\nu\r\n"
        "--XyZ123\r\nContent-Disposition: form-data; name=\"file\"; filename=\"s.zip\"\r\n"
        "Content-Type: application/zip\r\n\r\nPK\x03\x04zipbytes\r\n--XyZ123--\r\n";
    static const char quoted[] =
        "multipart/form-data; boundary=\"a b\"; charset=utf-8\n"
        "--a b\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nPK\r\n--a b--\r\n";
    static const char raw[] = "application/zip\nPK\x05\x06";
    fuzz_seed(dir, "form.txt", form, sizeof(form) - 1);
    fuzz_seed(dir, "quoted.txt", quoted, sizeof(quoted) - 1);
    fuzz_seed(dir, "raw.txt", raw, sizeof(raw) - 1);
}
