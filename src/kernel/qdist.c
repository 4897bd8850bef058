/* Quantized-kernel dispatch: chooses a table once per process; see qdist.h.
 * The features these kernels need beyond the float kernels' (VNNI, BW,
 * VPOPCNTDQ, POPCNT, the AArch64 dot product) are probed here rather than
 * in core/cpu.c because nothing else uses them; the VDB_ISA cap of the
 * float kernels applies too, so VDB_ISA=scalar or avx2 tests every path on
 * one machine. */
#include "qdist.h"

#include <pthread.h>
#include <string.h>

#include "../core/cpu.h"

#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1ul << 20)
#endif
#endif

static const char *const names[VDB_QDIST_COUNT] = {"scalar", "avx2", "avx512vnni", "neon-dot"};

const char *vdb_qdist_isa_name(vdb_qdist_isa isa)
{
    return (unsigned)isa < VDB_QDIST_COUNT ? names[isa] : "unknown";
}

int vdb_qdist_isa_parse(const char *name)
{
    for (int i = 0; i < VDB_QDIST_COUNT; i++)
        if (strcmp(name, names[i]) == 0)
            return i;
    return -1;
}

static int cpu_runs(vdb_qdist_isa isa)
{
    switch (isa) {
    case VDB_QDIST_SCALAR:
        return 1;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    case VDB_QDIST_AVX2:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("popcnt");
    case VDB_QDIST_AVX512VNNI:
        __builtin_cpu_init();
        return vdb_cpu_has(VDB_ISA_AVX512) && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512vnni") &&
               __builtin_cpu_supports("avx512vpopcntdq");
#endif
#if defined(__aarch64__) && defined(__linux__)
    case VDB_QDIST_NEON_DOT:
        return (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
#endif
    default:
        return 0;
    }
}

const vdb_qdist_ops *vdb_qdist_for(vdb_qdist_isa isa)
{
    if (!cpu_runs(isa))
        return NULL;
    switch (isa) {
    case VDB_QDIST_SCALAR:
        return &vdb_qdist_ops_scalar;
#if defined(__x86_64__)
    case VDB_QDIST_AVX2:
        return &vdb_qdist_ops_avx2;
    case VDB_QDIST_AVX512VNNI:
        return &vdb_qdist_ops_avx512vnni;
#endif
#if defined(__aarch64__)
    case VDB_QDIST_NEON_DOT:
        return &vdb_qdist_ops_neon_dot;
#endif
    default:
        return NULL;
    }
}

static const vdb_qdist_ops *chosen;
static pthread_once_t chosen_once = PTHREAD_ONCE_INIT;

static void choose(void)
{
    /* Walk down from the float kernels' choice (which honours VDB_ISA). */
    static const vdb_qdist_isa order[] = {VDB_QDIST_AVX512VNNI, VDB_QDIST_AVX2,
                                          VDB_QDIST_NEON_DOT, VDB_QDIST_SCALAR};
    vdb_isa cap = vdb_cpu_best_isa();
    chosen = &vdb_qdist_ops_scalar;
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        vdb_qdist_isa isa = order[i];
        if (isa == VDB_QDIST_AVX512VNNI && cap != VDB_ISA_AVX512)
            continue;
        if (isa == VDB_QDIST_AVX2 && cap != VDB_ISA_AVX512 && cap != VDB_ISA_AVX2)
            continue;
        if (isa == VDB_QDIST_NEON_DOT && cap != VDB_ISA_NEON)
            continue;
        const vdb_qdist_ops *ops = vdb_qdist_for(isa);
        if (ops != NULL) {
            chosen = ops;
            return;
        }
    }
}

const vdb_qdist_ops *vdb_qdist(void)
{
    pthread_once(&chosen_once, choose);
    return chosen;
}
