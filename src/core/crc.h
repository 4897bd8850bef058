/* Checksums for the durable files: CRC32C (Castagnoli) for WAL records,
 * hardware-accelerated with SSE4.2 where the CPU has it, and CRC32 (the
 * IEEE/zlib polynomial) that ZIP entries and the snapshot manifest use, from
 * zlib (buffers of 256 bytes or more folded with PCLMULQDQ where the CPU has
 * it: the same values, ~3.5x faster). Pure functions, thread-safe. Pass the
 * previous result as `crc` to continue a running checksum (0 to start). */
#ifndef VDB_CORE_CRC_H
#define VDB_CORE_CRC_H

#include <stddef.h>
#include <stdint.h>

/* CRC32C and CRC32 of `len` bytes continuing `crc`; never fail. */
uint32_t vdb_crc32c(uint32_t crc, const void *data, size_t len);
uint32_t vdb_crc32(uint32_t crc, const void *data, size_t len);

#endif
