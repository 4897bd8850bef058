/* Layouts shared by quant.c (codes, approximate scan) and quant_exact.c
 * (the bounded scan whose answers equal the float scan). Not part of the
 * API; see quant.h for the contract. */
#ifndef VDB_INDEX_QUANT_INT_H
#define VDB_INDEX_QUANT_INT_H

#include <stddef.h>
#include <stdint.h>

#include "../kernel/qdist.h"
#include "quant.h"

#define SCAN_BLOCK 512u
/* Bits of the binary scan's query weights (unsigned, one plane each). */
#define QUERY_PLANES VDB_HNSW_QPLANES

struct vdb_quant {
    vdb_quant_kind kind;
    vdb_metric metric;
    uint32_t dim;
    uint32_t n;        /* rows encoded */
    uint32_t cap;      /* rows the arrays have room for */
    int trained;
    size_t words;      /* binary: 64-bit words per row */
    float *center;     /* dim */
    float *scale;      /* dim (int8: step; binary: magnitude of one sign) */
    double center_norm; /* |mu| */
    double max_dev;     /* largest |x - mu| of an encoded row (an upper bound) */
    int8_t *codes;     /* cap * dim (int8) */
    float *row_term;   /* cap: |x - mu|^2 (L2), binary non-L2: <mu, x - mu> */
    float *row_gamma;  /* cap (int8): |c|, the code vector's norm */
    float *row_rho;    /* cap: |x - mu - decoded code|, the row's residual norm */
    uint64_t *bits;    /* cap * words (binary) */
    const vdb_qdist_ops *ops;
};

/* One candidate of the bounded scan: a lower bound on its distance. */
typedef struct vdb_quant__cand {
    float lo;
    uint32_t id;
} vdb_quant__cand;

struct vdb_quant_scratch {
    size_t max_candidates;
    uint32_t dim;
    int8_t *qcode;     /* dim */
    uint64_t *qbits;   /* QUERY_PLANES * words: bit planes of the query weights */
    uint64_t *zero;    /* words, all zero: popcount of a code as its Hamming to 0 */
    float *weights;    /* dim */
    int32_t *iscore;   /* SCAN_BLOCK */
    uint32_t *bscore;  /* (QUERY_PLANES + 1) * SCAN_BLOCK */
    vdb_hit *heap;     /* max_candidates */
    uint32_t *ids;     /* max_candidates */
    /* The bounded scan's growing candidate list (quant_exact.c). */
    vdb_quant__cand *cand;
    uint32_t *cand_ids;
    size_t cand_cap;
};

/* The binary query's quantization (quant.c). */
typedef struct vdb_quant__bquery {
    float step, lo, wsum;
    uint32_t plane_pop[QUERY_PLANES];
} vdb_quant__bquery;

/* Prepares s->qcode from the query; returns alpha (weights ~ alpha*qcode). */
float vdb_quant__prepare_int8(const vdb_quant *q, const float *query, vdb_quant_scratch *s);
/* Prepares s->qbits and *bq from the query. */
void vdb_quant__prepare_binary(const vdb_quant *q, const float *query, vdb_quant_scratch *s,
                               vdb_quant__bquery *bq);
/* Binary rows [r0, r0+m): ip[i] estimates <q - mu, sigma (2b - 1)>. */
void vdb_quant__binary_ips(const vdb_quant *q, const vdb_quant__bquery *bq, vdb_quant_scratch *s,
                           uint32_t r0, uint32_t m, float *ip);

#endif
