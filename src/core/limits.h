/* Every externally reachable limit in one place, so the README, the OpenAPI
 * document and the validators agree. Each is enforced before work is done. */
#ifndef VDB_CORE_LIMITS_H
#define VDB_CORE_LIMITS_H

#define VDB_MAX_DIM 8192u            /* vector dimension, 1..VDB_MAX_DIM */
#define VDB_MAX_K 1000u              /* top-k per query over the API */
#define VDB_MAX_BATCH 10000u         /* vectors per add request / queries per batch */
#define VDB_MAX_ID_LEN 256u          /* external vector id, bytes */
#define VDB_MAX_NAME_LEN 64u         /* user_id / model_id, chars [A-Za-z0-9_.-] */
#define VDB_MAX_VECTORS 0xFFFFFFF0u  /* per store: internal ids are u32 */
#define VDB_MAX_META_BYTES (64u * 1024u) /* one vector's metadata JSON */
#define VDB_MAX_JSON_DEPTH 32u       /* nesting of request bodies */
/* Memory one JSON text may take once parsed (jansson's tree), estimated
 * from the text before parsing (vdb_json_parse_cost). A parse tree costs
 * 10-80x its text (an empty object is ~234 bytes for 3 bytes of text), so
 * the body limit alone let one 190 MiB request allocate 4 GiB. */
#define VDB_MAX_JSON_PARSE_BYTES ((size_t)1 << 30)

#endif
