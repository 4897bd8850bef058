/* CPU feature detection. On x86 we ask the compiler's cpuid helpers (which
 * also check that the OS saves the wider registers); AArch64 always has
 * NEON. Any other architecture runs the scalar kernels. */
#include "cpu.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int vdb_cpu_has(vdb_isa isa)
{
    switch (isa) {
    case VDB_ISA_SCALAR:
        return 1;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    case VDB_ISA_AVX2:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case VDB_ISA_AVX512:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx2") &&
               __builtin_cpu_supports("fma");
#endif
#if defined(__aarch64__)
    case VDB_ISA_NEON:
        return 1;
#endif
    default:
        return 0;
    }
}

const char *vdb_isa_name(vdb_isa isa)
{
    static const char *names[VDB_ISA_COUNT] = {"scalar", "avx2", "avx512", "neon"};
    return (unsigned)isa < VDB_ISA_COUNT ? names[isa] : "unknown";
}

int vdb_isa_parse(const char *name)
{
    for (int i = 0; i < VDB_ISA_COUNT; i++)
        if (strcmp(name, vdb_isa_name((vdb_isa)i)) == 0)
            return i;
    return -1;
}

vdb_isa vdb_cpu_best_isa(void)
{
    static const vdb_isa order[] = {VDB_ISA_AVX512, VDB_ISA_AVX2, VDB_ISA_NEON};
    const char *forced = getenv("VDB_ISA");
    if (forced != NULL) {
        int isa = vdb_isa_parse(forced);
        if (isa >= 0 && vdb_cpu_has((vdb_isa)isa))
            return (vdb_isa)isa;
    }
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
        if (vdb_cpu_has(order[i]))
            return order[i];
    return VDB_ISA_SCALAR;
}

int vdb_cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (int)n;
}
