/* CPU feature detection for runtime kernel dispatch. */
#ifndef VDB_CORE_CPU_H
#define VDB_CORE_CPU_H

typedef enum {
    VDB_ISA_SCALAR = 0,
    VDB_ISA_AVX2 = 1,   /* AVX2 + FMA */
    VDB_ISA_AVX512 = 2, /* AVX-512 F */
    VDB_ISA_NEON = 3,   /* AArch64 Advanced SIMD */
    VDB_ISA_COUNT = 4
} vdb_isa;

/* 1 when this CPU (and OS) can run code for `isa`, else 0; never fails. */
int vdb_cpu_has(vdb_isa isa);

/* The best ISA this CPU supports, capped by the VDB_ISA environment variable
 * ("scalar", "avx2", "avx512", "neon") when it names a supported one. */
vdb_isa vdb_cpu_best_isa(void);

/* "scalar", "avx2", "avx512", "neon". */
const char *vdb_isa_name(vdb_isa isa);

/* Parses an ISA name: the vdb_isa value, or -1 when unknown (no error code). */
int vdb_isa_parse(const char *name);

/* Number of online CPUs (at least 1); never fails. */
int vdb_cpu_count(void);

#endif
