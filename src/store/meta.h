/* metadata.jsonl: one line per vector row, in row order, each a JSON object
 * {"id":"<id>","metadata":<the metadata JSON object, or null>}.
 *
 * The metadata text is written verbatim (the store validated it as a JSON
 * object with no raw line breaks when it was added), so a round trip is
 * byte-exact. Python reads each line with json.loads. The reader parses
 * vdb's own lines with a fast scanner and anything else (other spacing or
 * key order) through the JSON adapter; a line that is neither is
 * VDB_ECORRUPT naming the file, line and byte offset. */
#ifndef VDB_STORE_META_H
#define VDB_STORE_META_H

#include <stddef.h>
#include <stdint.h>

#include "../core/err.h"

/* Row source for the writer: id (required) and metadata (NULL = none). */
typedef void (*vdb_meta_row_fn)(void *ctx, size_t i, const char **id, const char **meta);

/* Writes `rows` lines to a new file at `path`, fsyncs and closes it. The
 * CRC32 and size of the file go to *crc_out / *size_out (for the snapshot
 * manifest). Errors: VDB_EIO, VDB_ENOSPC, VDB_ENOMEM. */
int vdb_meta_write(const char *path, size_t rows, vdb_meta_row_fn row, void *ctx,
                   uint32_t *crc_out, uint64_t *size_out, vdb_error *err);

/* Receives line i's id and metadata (NULL = none); both NUL-terminated and
 * borrowed until vdb_meta_read returns (callers batch rows). A nonzero return stops the read with that code. */
typedef int (*vdb_meta_line_fn)(void *ctx, size_t i, const char *id, const char *meta,
                                vdb_error *err);

/* Reads the whole file, checks it against the manifest (exactly `rows`
 * lines, `size` bytes and CRC32 `crc`, unless `check` is 0) and calls
 * `line` per row. Errors: VDB_ENOTFOUND, VDB_ECORRUPT, VDB_EIO, VDB_ENOMEM. */
int vdb_meta_read(const char *path, size_t rows, int check, uint64_t size, uint32_t crc,
                  vdb_meta_line_fn line, void *ctx, vdb_error *err);

/* 1 when s[0..len) is valid UTF-8 without NUL bytes, else 0; never fails. */
int vdb_meta_valid_utf8(const char *s, size_t len);

#endif
