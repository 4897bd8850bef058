/* /openapi.json and /docs.
 *
 * The paths of the OpenAPI 3.0 document are generated from the route table
 * (router.c), so the document lists exactly the routes that are served; the
 * schemas are written out below once. /docs is a self-contained page: the
 * document is embedded in it and rendered by a small script, no CDN, so it
 * works offline. */
#include "api_int.h"
#include "webassets.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "../core/alloc.h"
#include "../core/limits.h"

_Static_assert(VDB_MAX_DIM == 8192u, "update Vector.maxItems in components_json");

static const char components_json[] =
    "{\"securitySchemes\":{"
    "\"ApiKeyHeader\":{\"type\":\"apiKey\",\"in\":\"header\",\"name\":\"X-API-Key\"},"
    "\"BearerAuth\":{\"type\":\"http\",\"scheme\":\"bearer\"}},"
    "\"responses\":{\"Error\":{\"description\":\"Error envelope (400 malformed, 401 no/bad key, "
    "403 forbidden, 404 unknown store, 409 exists, 413 too large, 415 content type, 422 invalid "
    "field, 503 unavailable, 507 disk full)\",\"content\":{\"application/json\":{\"schema\":"
    "{\"$ref\":\"#/components/schemas/Error\"}}}}},"
    "\"schemas\":{"
    "\"Error\":{\"type\":\"object\",\"required\":[\"detail\",\"error\",\"code\",\"timestamp\"],"
    "\"properties\":{\"detail\":{\"type\":\"string\"},\"error\":{\"type\":\"string\"},"
    "\"code\":{\"type\":\"string\",\"example\":\"HTTP_404\"},\"timestamp\":{\"type\":\"number\"}}},"
    "\"Object\":{\"type\":\"object\",\"additionalProperties\":true},"
    "\"StringList\":{\"type\":\"array\",\"items\":{\"type\":\"string\"}},"
    "\"Health\":{\"type\":\"object\",\"properties\":{\"status\":{\"type\":\"string\"},"
    "\"stores_active\":{\"type\":\"integer\"},\"total_vectors\":{\"type\":\"integer\"},"
    "\"memory_usage_mb\":{\"type\":\"number\"}}},"
    "\"Name\":{\"type\":\"string\",\"pattern\":\"^[A-Za-z0-9_.-]{1,64}$\"},"
    "\"Vector\":{\"type\":\"array\",\"items\":{\"type\":\"number\"},\"minItems\":1,"
    "\"maxItems\":8192},"
    "\"StoreRef\":{\"type\":\"object\",\"required\":[\"user_id\",\"model_id\"],\"properties\":{"
    "\"user_id\":{\"$ref\":\"#/components/schemas/Name\"},"
    "\"model_id\":{\"$ref\":\"#/components/schemas/Name\"}}},"
    "\"AddRequest\":{\"type\":\"object\",\"required\":[\"user_id\",\"model_id\",\"vectors\"],"
    "\"properties\":{\"user_id\":{\"$ref\":\"#/components/schemas/Name\"},"
    "\"model_id\":{\"$ref\":\"#/components/schemas/Name\"},"
    "\"vectors\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/components/schemas/Vector\"}},"
    "\"metadata\":{\"type\":\"array\",\"description\":\"one object per vector; its id field is "
    "the vector's id (upsert)\",\"items\":{\"type\":\"object\",\"additionalProperties\":true}}}},"
    "\"AddResponse\":{\"type\":\"object\",\"properties\":{\"success\":{\"type\":\"boolean\"},"
    "\"vectors_added\":{\"type\":\"integer\"},\"total_vectors\":{\"type\":\"integer\"},"
    "\"processing_time_ms\":{\"type\":\"number\"},\"ids\":{\"type\":\"array\",\"items\":"
    "{\"type\":\"string\"}}}},"
    "\"QueryRequest\":{\"type\":\"object\",\"required\":[\"user_id\",\"model_id\",\"query\"],"
    "\"properties\":{\"user_id\":{\"$ref\":\"#/components/schemas/Name\"},"
    "\"model_id\":{\"$ref\":\"#/components/schemas/Name\"},"
    "\"query\":{\"$ref\":\"#/components/schemas/Vector\"},"
    "\"k\":{\"type\":\"integer\",\"minimum\":1,\"default\":10},"
    "\"ef\":{\"type\":\"integer\",\"minimum\":0},\"exact\":{\"type\":\"boolean\"},"
    "\"explain\":{\"type\":\"boolean\",\"description\":\"return the query plan\"},"
    "\"target_recall\":{\"type\":\"number\",\"minimum\":0,\"exclusiveMinimum\":true,\"maximum\":1,"
    "\"description\":\"declared recall@k this query must meet (default: the store's)\"},"
    "\"filter_metadata\":{\"type\":\"object\",\"nullable\":true,\"additionalProperties\":true}}},"
    "\"QueryItem\":{\"type\":\"object\",\"additionalProperties\":true,\"properties\":{"
    "\"id\":{\"type\":\"string\"},\"metadata\":{\"type\":\"object\",\"additionalProperties\":true},"
    "\"similarity_score\":{\"type\":\"number\"},\"distance\":{\"type\":\"number\"},"
    "\"rank\":{\"type\":\"integer\"},\"index\":{\"type\":\"integer\"}}},"
    "\"QueryResponse\":{\"type\":\"object\",\"properties\":{\"results\":{\"type\":\"array\","
    "\"items\":{\"$ref\":\"#/components/schemas/QueryItem\"}},\"query_time_ms\":{\"type\":"
    "\"number\"},\"total_vectors_searched\":{\"type\":\"integer\"},"
    "\"explain\":{\"type\":\"string\"}}},"
    "\"BatchQueryRequest\":{\"type\":\"object\",\"required\":[\"user_id\",\"model_id\",\"queries\"],"
    "\"properties\":{\"user_id\":{\"$ref\":\"#/components/schemas/Name\"},"
    "\"model_id\":{\"$ref\":\"#/components/schemas/Name\"},"
    "\"queries\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/components/schemas/Vector\"}},"
    "\"k\":{\"type\":\"integer\",\"minimum\":1,\"default\":10},"
    "\"target_recall\":{\"type\":\"number\",\"minimum\":0,\"exclusiveMinimum\":true,\"maximum\":1,"
    "\"description\":\"declared recall@k this query must meet (default: the store's)\"},"
    "\"filter_metadata\":{\"type\":\"object\",\"nullable\":true,\"additionalProperties\":true}}},"
    "\"BatchQueryResponse\":{\"type\":\"object\",\"properties\":{\"results\":{\"type\":\"array\","
    "\"items\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/components/schemas/QueryItem\"}}},"
    "\"total_queries\":{\"type\":\"integer\"},\"avg_query_time_ms\":{\"type\":\"number\"}}},"
    "\"DeleteRequest\":{\"type\":\"object\",\"required\":[\"user_id\",\"model_id\"],"
    "\"properties\":{\"user_id\":{\"$ref\":\"#/components/schemas/Name\"},"
    "\"model_id\":{\"$ref\":\"#/components/schemas/Name\"},\"ids\":{\"type\":\"array\","
    "\"items\":{\"type\":\"string\"}},\"filter_metadata\":{\"type\":\"object\","
    "\"additionalProperties\":true},\"filter\":{\"type\":\"object\",\"additionalProperties\":true}}},"
    "\"DeleteResponse\":{\"type\":\"object\",\"properties\":{\"deleted_count\":{\"type\":"
    "\"integer\"},\"deleted\":{\"type\":\"integer\"},\"remaining_count\":{\"type\":\"integer\"}}},"
    "\"CountResponse\":{\"type\":\"object\",\"properties\":{\"count\":{\"type\":\"integer\"},"
    "\"vectors\":{\"type\":\"integer\"},\"metadata\":{\"type\":\"integer\"}}},"
    "\"CreateStoreRequest\":{\"type\":\"object\",\"required\":[\"user_id\",\"model_id\"],"
    "\"properties\":{\"user_id\":{\"$ref\":\"#/components/schemas/Name\"},"
    "\"model_id\":{\"$ref\":\"#/components/schemas/Name\"},"
    "\"dimension\":{\"type\":\"integer\",\"minimum\":1,\"default\":384},"
    "\"metric\":{\"type\":\"string\",\"enum\":[\"cosine\",\"euclidean\",\"l2\",\"dot\","
    "\"inner_product\",\"dot_product\"]},\"index\":{\"type\":\"string\",\"enum\":[\"auto\","
    "\"flat\",\"hnsw\"]},\"config\":{\"type\":\"object\",\"properties\":{\"M\":{\"type\":"
    "\"integer\"},\"ef_construction\":{\"type\":\"integer\"},\"ef_search\":{\"type\":\"integer\"},"
    "\"hnsw_threshold\":{\"type\":\"integer\"}}},"
    "\"target_recall\":{\"type\":\"number\",\"minimum\":0,\"exclusiveMinimum\":true,\"maximum\":1,"
    "\"default\":0.99,\"description\":\"declared recall@k; 1 = always exact\"},"
    "\"quantization\":{\"type\":\"string\",\"enum\":[\"auto\",\"none\",\"int8\",\"binary\"],"
    "\"default\":\"auto\",\"description\":\"in-memory codes (float re-rank: exact answers "
    "stay exact); auto keeps int8 codes when the store's calibration measures them cheaper\"}}},"
    "\"QuantizationRequest\":{\"type\":\"object\",\"required\":[\"user_id\",\"model_id\","
    "\"quantization\"],\"properties\":{\"user_id\":{\"$ref\":\"#/components/schemas/Name\"},"
    "\"model_id\":{\"$ref\":\"#/components/schemas/Name\"},\"quantization\":{\"type\":"
    "\"string\",\"enum\":[\"auto\",\"none\",\"int8\",\"binary\"]}}},"
    "\"FreezeRequest\":{\"type\":\"object\",\"required\":[\"user_id\",\"frozen\"],"
    "\"properties\":{\"user_id\":{\"$ref\":\"#/components/schemas/Name\"},\"frozen\":{"
    "\"type\":\"boolean\",\"description\":\"true: the tenant's writes get 503 + Retry-After "
    "(persisted) until thawed\"}}},"
    "\"TargetRecallRequest\":{\"type\":\"object\",\"required\":[\"user_id\",\"model_id\","
    "\"target_recall\"],\"properties\":{\"user_id\":{\"$ref\":\"#/components/schemas/Name\"},"
    "\"model_id\":{\"$ref\":\"#/components/schemas/Name\"},\"target_recall\":{\"type\":"
    "\"number\",\"minimum\":0,\"exclusiveMinimum\":true,\"maximum\":1}}},"
    "\"BatchAddRequest\":{\"type\":\"object\",\"required\":[\"user_id\",\"model_id\",\"vectors\"],"
    "\"properties\":{\"user_id\":{\"$ref\":\"#/components/schemas/Name\"},"
    "\"model_id\":{\"$ref\":\"#/components/schemas/Name\"},"
    "\"vectors\":{\"type\":\"array\",\"items\":{\"$ref\":\"#/components/schemas/Vector\"}},"
    "\"metadata\":{\"type\":\"array\",\"items\":{\"type\":\"object\"}},"
    "\"batch_size\":{\"type\":\"integer\",\"minimum\":1,\"default\":1000},"
    "\"enable_streaming\":{\"type\":\"boolean\",\"default\":false}}},"
    "\"KeyCreateRequest\":{\"type\":\"object\",\"required\":[\"user_id\"],\"properties\":{"
    "\"user_id\":{\"$ref\":\"#/components/schemas/Name\"}}},"
    "\"WarmupRequest\":{\"type\":\"object\",\"properties\":{"
    "\"user_id\":{\"$ref\":\"#/components/schemas/Name\"},"
    "\"model_id\":{\"$ref\":\"#/components/schemas/Name\"}}},"
    "\"BenchmarkRequest\":{\"type\":\"object\",\"required\":[\"user_id\",\"model_id\"],"
    "\"properties\":{\"user_id\":{\"$ref\":\"#/components/schemas/Name\"},"
    "\"model_id\":{\"$ref\":\"#/components/schemas/Name\"},"
    "\"num_vectors\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":1000000,\"default\":1000},"
    "\"num_queries\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":10000,\"default\":100},"
    "\"test_size\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":1000000,"
    "\"description\":\"README-era name of num_vectors\"},"
    "\"query_count\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":10000,"
    "\"description\":\"README-era name of num_queries\"},"
    "\"vector_dim\":{\"type\":\"integer\",\"minimum\":1,"
    "\"description\":\"must equal the store's dimension\"},"
    "\"k\":{\"type\":\"integer\",\"minimum\":1,\"default\":10}}},"
    "\"BenchmarkResponse\":{\"type\":\"object\",\"properties\":{\"benchmark_results\":{"
    "\"type\":\"object\",\"properties\":{\"add_vectors_per_s\":{\"type\":\"number\"},"
    "\"qps\":{\"type\":\"number\"},\"p50_ms\":{\"type\":\"number\"},\"p99_ms\":{\"type\":"
    "\"number\"},\"recall_at_k\":{\"type\":\"number\"}}}}},"
    "\"OptimizeResponse\":{\"type\":\"object\",\"properties\":{\"message\":{\"type\":\"string\"},"
    "\"optimization_time_ms\":{\"type\":\"number\"},\"vectors_optimized\":{\"type\":\"integer\"}}}"
    "}}";

static const char zip_upload_json[] =
    "{\"required\":true,\"content\":{\"multipart/form-data\":{\"schema\":{\"type\":\"object\","
    "\"required\":[\"file\"],\"properties\":{\"file\":{\"type\":\"string\",\"format\":\"binary\"}}}},"
    "\"application/zip\":{\"schema\":{\"type\":\"string\",\"format\":\"binary\"}}}}";

static const char *const tags[][2] = {
    {"root", "Service information, health, configuration and documentation"},
    {"vectors", "Adding, searching, counting and deleting vectors"},
    {"admin", "Store lifecycle, backup and key management"},
    {"performance", "Compute status, warmup, benchmark and optimize"},
    {"monitoring", "Health checks, Prometheus metrics and status"},
    {"batch", "Batch API v1: chunked adds, uploads, progress and server-sent events"},
};

/* A fixed JSON text of this file as a node, NULL when memory runs out (the
 * texts are constants, so a parse error is a bug the unit test catches). */
static vdb_json *constant(const char *text, size_t len, unsigned depth)
{
    vdb_json *node = NULL;
    (void)vdb_json_parse(text, len, depth, &node, NULL);
    return node;
}

static vdb_json *schema_ref(const char *name)
{
    char ref[128];
    snprintf(ref, sizeof(ref), "#/components/schemas/%s", name);
    vdb_json *s = vdb_json_object();
    vdb_set(s, "$ref", vdb_json_string(ref));
    return s;
}

static vdb_json *content_for(const char *response)
{
    vdb_json *content = vdb_json_object(), *media = vdb_json_object();
    if (strchr(response, '/') != NULL) {
        vdb_json *schema = vdb_json_object();
        int binary = strcmp(response, "application/zip") == 0;
        vdb_set(schema, "type", vdb_json_string("string"));
        if (binary)
            vdb_set(schema, "format", vdb_json_string("binary"));
        vdb_set(media, "schema", schema);
        vdb_set(content, response, media);
    } else {
        vdb_set(media, "schema", schema_ref(response));
        vdb_set(content, "application/json", media);
    }
    return content;
}

static const char *param_type(const char *name)
{
    if (!strcmp(name, "k") || !strncmp(name, "num_", 4))
        return "integer";
    if (!strcmp(name, "force") || !strcmp(name, "overwrite"))
        return "boolean";
    return "string";
}

static vdb_json *parameters(const char *spec)
{
    vdb_json *list = vdb_json_array();
    char buf[256];
    snprintf(buf, sizeof(buf), "%s", spec);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        size_t n = strlen(tok);
        int required = n > 0 && tok[n - 1] == '!';
        if (required)
            tok[n - 1] = '\0';
        vdb_json *p = vdb_json_object(), *schema = vdb_json_object();
        vdb_set(schema, "type", vdb_json_string(param_type(tok)));
        vdb_set(p, "name", vdb_json_string(tok));
        vdb_set(p, "in", vdb_json_string("query"));
        vdb_set(p, "required", vdb_json_bool(required));
        vdb_set(p, "schema", schema);
        vdb_json_array_append_new(list, p);
    }
    return list;
}

static void add_error(vdb_json *responses, const char *status)
{
    vdb_json *ref = vdb_json_object();
    vdb_set(ref, "$ref", vdb_json_string("#/components/responses/Error"));
    vdb_set(responses, status, ref);
}

static vdb_json *operation(const vdb_route *r)
{
    vdb_json *op = vdb_json_object(), *tagl = vdb_json_array(), *responses = vdb_json_object();
    vdb_json *ok = vdb_json_object();
    vdb_json_array_append_new(tagl, vdb_json_string(r->tag));
    vdb_set(op, "operationId", vdb_json_string(r->op_id));
    vdb_set(op, "tags", tagl);
    vdb_set(op, "summary", vdb_json_string(r->summary));
    char desc[160];
    snprintf(desc, sizeof(desc), "Access: %s.", vdb_access_name(r->access));
    vdb_set(op, "description", vdb_json_string(desc));
    vdb_json *params = r->params != NULL ? parameters(r->params) : NULL;
    const char *brace = strchr(r->path, '{');
    if (brace != NULL) { /* the route's trailing path parameter (router.c) */
        vdb_json *p = vdb_json_object(), *schema = vdb_json_object();
        vdb_set(p, "name", vdb_json_stringn(brace + 1, strcspn(brace + 1, "}")));
        vdb_set(p, "in", vdb_json_string("path"));
        vdb_set(p, "required", vdb_json_bool(1));
        vdb_set(schema, "type", vdb_json_string("string"));
        vdb_set(p, "schema", schema);
        if (params == NULL)
            params = vdb_json_array();
        vdb_json_array_append_new(params, p);
    }
    if (params != NULL)
        vdb_set(op, "parameters", params);
    if (r->request != NULL && strcmp(r->request, "ZipUpload") == 0) {
        vdb_set(op, "requestBody", constant(zip_upload_json, sizeof(zip_upload_json) - 1, 0));
    } else if (r->request != NULL) {
        vdb_json *body = vdb_json_object(), *content = vdb_json_object(), *media = vdb_json_object();
        vdb_set(media, "schema", schema_ref(r->request));
        vdb_set(content, "application/json", media);
        vdb_set(body, "required", vdb_json_bool(strcmp(r->method, "DELETE") != 0 &&
                                                strcmp(r->request, "StoreRef") != 0));
        vdb_set(body, "content", content);
        vdb_set(op, "requestBody", body);
    }
    vdb_set(ok, "description", vdb_json_string("Success"));
    vdb_set(ok, "content", content_for(r->response));
    vdb_set(responses, "200", ok);
    add_error(responses, "400");
    if (r->access != VDB_ACCESS_PUBLIC)
        add_error(responses, "401");
    if (r->access >= VDB_ACCESS_STORES)
        add_error(responses, "403");
    if (r->params != NULL || r->request != NULL) {
        add_error(responses, "404");
        add_error(responses, "422");
    }
    if (r->request != NULL) {
        add_error(responses, "413");
        add_error(responses, "415");
    }
    vdb_set(op, "responses", responses);
    vdb_json *security = vdb_json_array();
    if (r->access != VDB_ACCESS_PUBLIC) {
        vdb_json *a = vdb_json_object(), *b = vdb_json_object();
        vdb_set(a, "ApiKeyHeader", vdb_json_array());
        vdb_set(b, "BearerAuth", vdb_json_array());
        vdb_json_array_append_new(security, a);
        vdb_json_array_append_new(security, b);
    }
    vdb_set(op, "security", security);
    return op;
}

static vdb_json *build_document(const vdb_api *api)
{
    size_t n = api->nroutes;
    const vdb_route *routes = api->routes;
    vdb_json *doc = vdb_json_object(), *info = vdb_json_object(), *license = vdb_json_object();
    vdb_json *paths = vdb_json_object(), *taglist = vdb_json_array(), *servers = vdb_json_array();
    vdb_json *server = vdb_json_object();
    char url[96];
    vdb_set(doc, "openapi", vdb_json_string("3.0.3"));
    vdb_set(info, "title", vdb_json_string("vdb vector database API"));
    vdb_set(info, "version", vdb_json_string(VDB_VERSION));
    vdb_set(info, "description",
            vdb_json_string("Multi-tenant vector database serving the MLXVectorDB seed's API. "
                            "Send the key as X-API-Key or Authorization: Bearer."));
    vdb_set(license, "name", vdb_json_string("Apache-2.0"));
    vdb_set(license, "url", vdb_json_string("https://www.apache.org/licenses/LICENSE-2.0"));
    vdb_set(info, "license", license);
    vdb_set(doc, "info", info);
    (void)api;
    snprintf(url, sizeof(url), "/");
    vdb_set(server, "url", vdb_json_string(url));
    vdb_set(server, "description", vdb_json_string("this server"));
    vdb_json_array_append_new(servers, server);
    vdb_set(doc, "servers", servers);
    for (size_t i = 0; i < sizeof(tags) / sizeof(tags[0]); i++) {
        vdb_json *t = vdb_json_object();
        vdb_set(t, "name", vdb_json_string(tags[i][0]));
        vdb_set(t, "description", vdb_json_string(tags[i][1]));
        vdb_json_array_append_new(taglist, t);
    }
    vdb_set(doc, "tags", taglist);
    for (size_t i = 0; i < n; i++) {
        vdb_json *item = vdb_json_object_get(paths, routes[i].path);
        if (item == NULL) {
            item = vdb_json_object();
            vdb_set(paths, routes[i].path, item);
        }
        char method[16];
        size_t j = 0;
        for (; routes[i].method[j] && j < sizeof(method) - 1; j++)
            method[j] = (char)tolower((unsigned char)routes[i].method[j]);
        method[j] = '\0';
        vdb_set(item, method, operation(&routes[i]));
    }
    vdb_set(doc, "paths", paths);
    vdb_set(doc, "components", constant(components_json, sizeof(components_json) - 1, 64));
    return doc;
}

int vdb_h_openapi(vdb_req *req)
{
    return vdb_reply_json(req, 200, build_document(req->api));
}

static const char docs_head[] =
    "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
    "<title>vdb API reference</title><style>"
    "body{font-family:system-ui,sans-serif;margin:0;color:#222}"
    "header{background:#1d3557;color:#fff;padding:16px 24px}header h1{margin:0;font-size:22px}"
    "main{padding:8px 24px;max-width:1100px}h2{border-bottom:1px solid #ccc;padding-top:12px}"
    ".op{border:1px solid #ddd;border-radius:6px;margin:8px 0}"
    ".op summary{cursor:pointer;padding:8px;display:flex;gap:12px;align-items:center}"
    ".m{font-weight:bold;border-radius:4px;padding:2px 8px;color:#fff;min-width:56px;text-align:center}"
    ".GET{background:#2a9d8f}.POST{background:#e76f51}.DELETE{background:#9b2226}"
    ".path{font-family:monospace;font-size:15px}.auth{margin-left:auto;font-size:12px;color:#555}"
    ".body{padding:0 12px 12px}pre{background:#f6f8fa;padding:8px;overflow:auto;font-size:12px}"
    "table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:4px 8px;text-align:left}"
    "</style></head><body><header><h1 id=\"title\">vdb API</h1><div id=\"desc\"></div></header>"
    "<main id=\"root\"></main><script id=\"spec\" type=\"application/json\">";

static const char docs_tail[] =
    "</script><script>"
    "var spec=JSON.parse(document.getElementById('spec').textContent);"
    "function esc(s){return String(s).replace(/[&<>\"]/g,function(c){return{'&':'&amp;','<':'&lt;',"
    "'>':'&gt;','\"':'&quot;'}[c];});}"
    "function resolve(s,d){if(!s||d>6)return s;if(s.$ref){var p=s.$ref.split('/').slice(1),o=spec;"
    "p.forEach(function(k){o=o[k];});return resolve(o,d+1);}var c={};for(var k in s){var v=s[k];"
    "if(k==='properties'){c[k]={};for(var q in v)c[k][q]=resolve(v[q],d+1);}else if(k==='items')"
    "c[k]=resolve(v,d+1);else c[k]=v;}return c;}"
    "document.getElementById('title').textContent=spec.info.title+' '+spec.info.version;"
    "document.getElementById('desc').textContent=spec.info.description;"
    "var root=document.getElementById('root'),byTag={};"
    "Object.keys(spec.paths).forEach(function(p){var item=spec.paths[p];Object.keys(item)"
    ".forEach(function(m){var op=item[m],t=op.tags[0];(byTag[t]=byTag[t]||[]).push([m,p,op]);});});"
    "spec.tags.forEach(function(tag){var ops=byTag[tag.name]||[];var h='<h2>'+esc(tag.name)+"
    "'</h2><p>'+esc(tag.description)+'</p>';ops.forEach(function(e){var m=e[0].toUpperCase(),"
    "op=e[2];h+='<details class=\"op\"><summary><span class=\"m '+m+'\">'+m+'</span><span "
    "class=\"path\">'+esc(e[1])+'</span><span>'+esc(op.summary)+'</span><span class=\"auth\">'+"
    "esc(op.description)+'</span></summary><div class=\"body\">';if(op.parameters){h+='<h4>Query "
    "parameters</h4><table><tr><th>name</th><th>type</th><th>required</th></tr>';"
    "op.parameters.forEach(function(p){h+='<tr><td>'+esc(p.name)+'</td><td>'+esc(p.schema.type)+"
    "'</td><td>'+(p.required?'yes':'no')+'</td></tr>';});h+='</table>';}if(op.requestBody){var "
    "bt=Object.keys(op.requestBody.content)[0],c=op.requestBody.content[bt];h+='<h4>Request body "
    "('+esc(bt)+')</h4><pre>'+esc(JSON.stringify(resolve(c.schema,0),null,2))+'</pre>';}h+='<h4>Responses</h4>';"
    "Object.keys(op.responses).forEach(function(code){var r=resolve(op.responses[code],0);"
    "h+='<div><b>'+esc(code)+'</b> '+esc(r.description||'');var ct=r.content?Object.keys(r.content)"
    "[0]:null;if(code==='200'&&ct){h+=' ('+esc(ct)+')<pre>'+esc(JSON.stringify(resolve(r.content"
    "[ct].schema,0),null,2))+'</pre>';}h+='</div>';});h+='</div></details>';});"
    "var s=document.createElement('section');s.innerHTML=h;root.appendChild(s);});"
    "</script></body></html>";

static int docs_builtin(vdb_req *req)
{
    vdb_json *doc = build_document(req->api);
    char *json = doc ? vdb_json_dump(doc, VDB_JSON_DUMP_COMPACT) : NULL;
    vdb_json_decref(doc);
    if (json == NULL)
        return vdb_error_set(&req->err, VDB_ENOMEM, "out of memory");
    size_t jlen = strlen(json), cap = sizeof(docs_head) + 2 * jlen + sizeof(docs_tail);
    char *html = vdb_malloc(cap);
    if (html == NULL) {
        vdb_json_free_text(json);
        return vdb_error_set(&req->err, VDB_ENOMEM, "out of memory");
    }
    size_t len = 0;
    memcpy(html, docs_head, sizeof(docs_head) - 1);
    len = sizeof(docs_head) - 1;
    for (size_t i = 0; i < jlen; i++) {
        /* "</" inside a script element would end it: escape as "<\/". */
        html[len++] = json[i];
        if (json[i] == '<' && json[i + 1] == '/')
            html[len++] = '\\';
    }
    memcpy(html + len, docs_tail, sizeof(docs_tail) - 1);
    len += sizeof(docs_tail) - 1;
    vdb_json_free_text(json);
    return vdb_reply_text(req, 200, "text/html; charset=utf-8", html, len);
}

/* ---- Swagger UI / ReDoc (webassets.h) ---- */

/* The asset served at `path`, or NULL. */
static const vdb_web_asset *vdb_web_asset_find(const char *path)
{
    for (unsigned i = 0; i < vdb_web_nassets; i++)
        if (strcmp(vdb_web_assets[i].path, path) == 0)
            return &vdb_web_assets[i];
    return NULL;
}

/* Swagger UI against this server's /openapi.json. validatorUrl null keeps
 * the page offline (the default badge calls validator.swagger.io);
 * persistAuthorization keeps the key entered under "Authorize" across
 * reloads (in the browser's local storage only). */
static const char swagger_page[] =
    "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
    "<title>vdb API - Swagger UI</title>"
    "<link rel=\"stylesheet\" href=\"/docs/swagger-ui.css\"></head><body>"
    "<div id=\"swagger-ui\"></div>"
    "<script src=\"/docs/swagger-ui-bundle.js\"></script>"
    "<script src=\"/docs/swagger-init.js\"></script></body></html>";

static const char swagger_init[] =
    "window.ui = SwaggerUIBundle({url: '/openapi.json', dom_id: '#swagger-ui',"
    " deepLinking: true, persistAuthorization: true, validatorUrl: null,"
    " tryItOutEnabled: false, displayRequestDuration: true});\n";

static const char redoc_page[] =
    "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
    "<title>vdb API - ReDoc</title></head><body>"
    "<redoc spec-url=\"/openapi.json\"></redoc>"
    "<script src=\"/docs/redoc.standalone.js\"></script></body></html>";

static int reply_copy(vdb_req *req, const char *content_type, const void *data, size_t len)
{
    char *body = vdb_malloc(len ? len : 1);
    if (body == NULL)
        return vdb_error_set(&req->err, VDB_ENOMEM, "out of memory");
    memcpy(body, data, len);
    return vdb_reply_text(req, 200, content_type, body, len);
}

int vdb_h_docs(vdb_req *req)
{
    const char *ui = vdb_http_query(req->http, "ui");
    /* ?ui=builtin always gives the self-contained page; it is also what
     * /docs serves when the build had no Swagger UI. */
    if ((ui != NULL && strcmp(ui, "builtin") == 0) ||
        vdb_web_asset_find("/docs/swagger-ui-bundle.js") == NULL)
        return docs_builtin(req);
    return reply_copy(req, "text/html; charset=utf-8", swagger_page, sizeof(swagger_page) - 1);
}

int vdb_h_redoc(vdb_req *req)
{
    if (vdb_web_asset_find("/docs/redoc.standalone.js") == NULL)
        return vdb_error_set(&req->err, VDB_ENOTFOUND,
                             "ReDoc is not built into this server (npm was unavailable at build "
                             "time); see /docs");
    return reply_copy(req, "text/html; charset=utf-8", redoc_page, sizeof(redoc_page) - 1);
}

int vdb_h_docs_asset(vdb_req *req)
{
    const char *path = req->http->path;
    if (strcmp(path, "/docs/swagger-init.js") == 0 &&
        vdb_web_asset_find("/docs/swagger-ui-bundle.js") != NULL)
        return reply_copy(req, "text/javascript; charset=utf-8", swagger_init,
                          sizeof(swagger_init) - 1);
    const vdb_web_asset *a = vdb_web_asset_find(path);
    if (a == NULL)
        return vdb_error_set(&req->err, VDB_ENOTFOUND,
                             "%s is not built into this server (npm was unavailable at build "
                             "time)", path);
    return reply_copy(req, a->content_type, a->begin, (size_t)(a->end - a->begin));
}
