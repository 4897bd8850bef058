/* Power-loss simulation for the I/O layer (tests only; reliability plan D3).
 *
 * While a simulation runs over one directory, fsx reports every open,
 * fsync, rename, unlink and directory fsync in it, and the simulator keeps
 * what a power cut would leave on a disk that honours only fsync:
 *   - a file's content as of its last fsync (later writes are volatile);
 *   - the directory's names as of its last directory fsync (creates,
 *     renames and unlinks since then are volatile).
 * vdb_fsx_sim_image writes exactly that state to another directory, so a
 * test can "cut the power" at any I/O operation (arm an EIO-forever fault
 * there: the simulation freezes at the first injected fault) and recover
 * from the image. Test knobs make fsync or directory fsync no-ops (in the
 * simulation and for real), so a test can prove it would catch a missing
 * sync. Production code never starts a simulation; the hooks then cost one
 * relaxed load each. */
#ifndef VDB_CORE_FSX_SIM_H
#define VDB_CORE_FSX_SIM_H

#include <stdint.h>

#include "err.h"

/* Starts simulating `dir`: its regular files as they are now count as
 * durable. VDB_ENOMEM, VDB_EIO. */
int vdb_fsx_sim_begin(const char *dir, vdb_error *err);

/* Writes the durable state to `out_dir` (created). VDB_EIO when the folder
 * cannot be created or a file not fully written. */
int vdb_fsx_sim_image(const char *out_dir, vdb_error *err);

/* Ends the simulation and frees its state. */
void vdb_fsx_sim_end(void);

/* Test knobs: operations in `mask` (VDB_FSX_FSYNC, VDB_FSX_DIRSYNC) become
 * silent no-ops, as if the code forgot them. 0 restores. */
void vdb_fsx_sim_skip(unsigned mask);
unsigned vdb_fsx_sim_skipped(void);

/* Hooks called by fsx.c after an operation succeeded. */
void vdb_fsx__sim_opened(const char *path, int fd);
void vdb_fsx__sim_synced(int fd);
void vdb_fsx__sim_renamed(const char *from, const char *to);
void vdb_fsx__sim_unlinked(const char *path);
void vdb_fsx__sim_dirsynced(const char *dir);
/* Called when a fault is injected: the simulated power is off from here. */
void vdb_fsx__sim_freeze(void);

#endif
