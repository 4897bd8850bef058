/* calib.txt and calib.pending: the calibration saved with its store
 * (docs/formats.md); part of the calibration module (calib_int.h). */
#include "calib_int.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "../core/alloc.h"
#include "../core/fsx.h"
#include "../core/log.h"
#include "../index/quant.h"
#include "store_int.h"

/* 6 added the re-check line; a 5 file is read without it. */
#define CALIB_FORMAT "vdb-calib 6"
#define CALIB_FORMAT_5 "vdb-calib 5"
#define CALIB_FILE_MAX (4u << 20) /* the file is ~30 KB; more is not ours */

static int calib_path(const vdb_store *store, char *path, size_t cap)
{
    return vdb_fsx_path(path, cap, store->dir, VDB_CALIB_FILE, NULL);
}

int vdb_calib__save(const vdb_store *store, const vdb_calib *cal, vdb_error *err)
{
    size_t cap = 128 * 1024, len = 0;
    char *text = vdb_malloc(cap);
    int rc;
    if (text == NULL)
        return vdb_error_set(err, VDB_ENOMEM, "no memory to save the calibration");
#define PUT(...) len += (size_t)snprintf(text + len, len < cap ? cap - len : 0, __VA_ARGS__)
    PUT("%s\n%lld %llu %u %u %.17g %.17g %.17g %.17g %.17g\n", CALIB_FORMAT, (long long)cal->when,
        (unsigned long long)cal->live, cal->probes, cal->real_probes, cal->seconds, cal->cpu_seconds,
        cal->scan_ns_row, cal->ids_ns_row, cal->gemm_ns_row);
    for (int s = 0; s < VDB_CALIB_NS; s++)
        for (int k = 0; k < VDB_CALIB_NK; k++) {
            const vdb_calib_curve *c = &cal->curve[s][k];
            PUT("%u %u", c->measured, c->classes);
            for (uint32_t i = 0; i < c->measured; i++) {
                PUT(" %.17g", c->ns[i]);
                for (int k2 = 0; k2 < VDB_CALIB_NCLASS; k2++)
                    PUT(" %llu %llu %u", (unsigned long long)c->hits[k2][i],
                        (unsigned long long)c->total[k2][i], c->probes[k2][i]);
            }
            PUT("\n");
        }
    PUT("%d %d %.17g %.17g %.17g %d\n", cal->path, cal->auto_kind, cal->auto_ns[0],
        cal->auto_ns[1], cal->auto_target, cal->auto_real);
    const vdb_calib_recheck *r = &cal->recheck;
    PUT("%d %lld %llu %u %u %u %d %u %.17g %.17g %.17g %.17g %.17g\n", r->outcome,
        (long long)r->when, (unsigned long long)r->live, r->probes, r->entries, r->moved,
        r->failed_band, r->ef, r->recall, r->recall_lo, r->before, r->seconds, r->cpu_seconds);
#undef PUT
    if (len >= cap) {
        vdb_free(text);
        return vdb_error_set(err, VDB_EINTERNAL, "calibration text too long");
    }
    /* fsx's one atomic replace (temp, fsync, rename, directory fsync), so
     * the fault-injection and crash tests that drive fsx reach this file. */
    rc = vdb_fsx_replace_file(store->dir, VDB_CALIB_FILE, text, len, 0644, err);
    vdb_free(text);
    return rc;
}

/* The re-check line (save); 0 when it is malformed. */
static int load_recheck(FILE *f, vdb_calib_recheck *r)
{
    long long when;
    unsigned long long live;
    if (fscanf(f, "%d %lld %llu %u %u %u %d %u %lg %lg %lg %lg %lg", &r->outcome, &when, &live,
               &r->probes, &r->entries, &r->moved, &r->failed_band, &r->ef, &r->recall,
               &r->recall_lo, &r->before, &r->seconds, &r->cpu_seconds) != 13 ||
        r->outcome < VDB_CALIB_RECHECK_NONE || r->outcome > VDB_CALIB_RECHECK_SCANS ||
        r->failed_band < -1 || r->failed_band >= VDB_CALIB_NS * VDB_CALIB_NK)
        return 0;
    r->when = when;
    r->live = live;
    return 1;
}

/* Reads calib.txt; 0 when it is absent or unusable (measured again). */
int vdb_calib__load(const vdb_store *store, vdb_calib *cal)
{
    char path[PATH_MAX], head[32];
    long long when;
    unsigned long long live;
    int ok = 0;
    if (calib_path(store, path, sizeof(path)) != VDB_OK)
        return 0;
    /* Read whole through fsx, parsed with stdio over the memory. */
    char *text = NULL;
    size_t size = 0;
    if (vdb_fsx_read_file(path, CALIB_FILE_MAX, &text, &size, NULL) != VDB_OK)
        return 0;
    FILE *f = size > 0 ? fmemopen(text, size, "r") : NULL;
    if (f == NULL) {
        vdb_free(text);
        return 0;
    }
    memset(cal, 0, sizeof(*cal));
    /* The whole first line: an older format (a shorter ladder, no real
     * probe count) is measured again; 5 differs only by the missing
     * re-check line. */
    if (fgets(head, sizeof(head), f) == NULL)
        goto done;
    head[strcspn(head, "\n")] = 0;
    int v5 = strcmp(head, CALIB_FORMAT_5) == 0;
    if (!v5 && strcmp(head, CALIB_FORMAT) != 0)
        goto done;
    if (fscanf(f, "%lld %llu %u %u %lg %lg %lg %lg %lg", &when, &live, &cal->probes,
               &cal->real_probes, &cal->seconds, &cal->cpu_seconds, &cal->scan_ns_row,
               &cal->ids_ns_row, &cal->gemm_ns_row) != 9 ||
        cal->real_probes > cal->probes)
        goto done;
    cal->when = when;
    cal->live = live;
    for (int s = 0; s < VDB_CALIB_NS; s++)
        for (int k = 0; k < VDB_CALIB_NK; k++) {
            vdb_calib_curve *c = &cal->curve[s][k];
            if (fscanf(f, "%u %u", &c->measured, &c->classes) != 2 ||
                c->measured > VDB_CALIB_NEF || c->classes >= (1u << VDB_CALIB_NCLASS))
                goto done;
            for (uint32_t i = 0; i < c->measured; i++) {
                if (fscanf(f, "%lg", &c->ns[i]) != 1)
                    goto done;
                for (int k2 = 0; k2 < VDB_CALIB_NCLASS; k2++) {
                    unsigned long long h, t;
                    unsigned q;
                    if (fscanf(f, "%llu %llu %u", &h, &t, &q) != 3 || h > t || q > t)
                        goto done;
                    c->hits[k2][i] = h;
                    c->total[k2][i] = t;
                    c->probes[k2][i] = q;
                }
            }
        }
    if (fscanf(f, "%d %d %lg %lg %lg %d", &cal->path, &cal->auto_kind, &cal->auto_ns[0],
               &cal->auto_ns[1], &cal->auto_target, &cal->auto_real) != 6 ||
        (cal->auto_real != 0 && cal->auto_real != 1) ||
        (cal->path != VDB_CALIB_PATH_FLOAT && cal->path != VDB_CALIB_PATH_INT8) ||
        cal->auto_kind < -1 || cal->auto_kind > VDB_QUANT_INT8)
        goto done;
    cal->recheck.failed_band = -1;
    if (!v5 && !load_recheck(f, &cal->recheck))
        goto done;
    ok = cal->scan_ns_row > 0 && cal->gemm_ns_row > 0 && cal->ids_ns_row > 0;
done:
    fclose(f);
    vdb_free(text);
    cal->valid = ok;
    return ok;
}

/* calib.pending: a mark (calib_mark) outlives a restart. The flags alone
 * lived in memory, so a store stopped between a compaction (or a rebuild,
 * a quantization change) and the run it asked for reopened with calib.txt
 * as if it still described the store, and planned on curves measured on
 * the graph before it: its declared recall no longer measured. The file
 * holds "stale" or "recheck"; publish removes it once a run that no mark
 * overtook has saved calib.txt. Written through fsx's atomic replace: a
 * compaction, which is what marks, writes a whole snapshot anyway. */
#define CALIB_PENDING_FILE "calib.pending"

int vdb_calib__pending_load(const vdb_store *store)
{
    char path[PATH_MAX], text[16];
    size_t len = 0;
    if (vdb_fsx_path(path, sizeof(path), store->dir, CALIB_PENDING_FILE, NULL) != VDB_OK ||
        vdb_fsx_read_text(path, text, sizeof(text), &len, NULL) != VDB_OK)
        return VDB_CALIB_PENDING_NONE;
    /* Anything else (a torn or foreign file) asks for the full run: the
     * safe reading of "something was pending". */
    return strncmp(text, "recheck", 7) == 0 ? VDB_CALIB_PENDING_RECHECK : VDB_CALIB_PENDING_STALE;
}

/* Under c->pending_lock. Failing leaves the in-memory flag (this process
 * still runs the calibration); only a restart before it would forget. */
void vdb_calib__pending_save(const vdb_store *store, int kind)
{
    static const char stale[] = "stale\n", recheck[] = "recheck\n";
    int full = kind == VDB_CALIB_PENDING_STALE;
    vdb_error err;
    vdb_error_clear(&err);
    if (store->options.read_only)
        return;
    if (vdb_fsx_replace_file(store->dir, CALIB_PENDING_FILE, full ? stale : recheck,
                             full ? sizeof(stale) - 1 : sizeof(recheck) - 1, 0644, &err) != VDB_OK)
        vdb_log_warn("%s: cannot note the pending calibration (a restart before it would "
                     "plan on the old curves): %s", store->dir, err.msg);
}

void vdb_calib__pending_drop(const vdb_store *store)
{
    char path[PATH_MAX];
    if (!store->options.read_only &&
        vdb_fsx_path(path, sizeof(path), store->dir, CALIB_PENDING_FILE, NULL) == VDB_OK)
        vdb_fsx_unlink(path, NULL);
}

