/* Web assets embedded into the binary: Swagger UI for /docs and ReDoc for
 * /redoc, fetched from npm by scripts/build-web-assets.sh at build time
 * and linked in from the generated build/web/docs_assets.c.
 *
 * Ownership: the table and the bytes are static, read-only data.
 * Thread-safety: immutable; safe from any thread.
 * When the build could not fetch them, vdb_web_nassets is 0 and /docs
 * serves the built-in self-contained page instead (openapi.c). */
#ifndef VDB_API_WEBASSETS_H
#define VDB_API_WEBASSETS_H

#include <stddef.h>

typedef struct vdb_web_asset {
    const char *path;         /* URL path, e.g. "/docs/swagger-ui.css" */
    const char *content_type;
    const unsigned char *begin, *end; /* the file's bytes: [begin, end) */
} vdb_web_asset;

extern const vdb_web_asset vdb_web_assets[]; /* ends with a NULL path */
extern const unsigned vdb_web_nassets;

#endif
