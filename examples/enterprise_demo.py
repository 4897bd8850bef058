#!/usr/bin/env python3
"""Enterprise demo against a running vdb server: per-user keys and tenant
isolation, health and metrics (JSON summary and Prometheus), status with
performance indicators, a test alert, export/import of a store, and the
benchmark endpoint.

    python3 examples/enterprise_demo.py --url URL --admin-key ADMIN_KEY [--short]

The admin key creates two per-user keys; everything tenant-scoped is then
done with those keys, and the keys are revoked at the end.
"""
import random
import sys

from _common import VDBClient, VDBError, check, parse_args, table


def main():
    args = parse_args(__doc__.splitlines()[0], admin=True).parse_args()
    check(args.admin_key, "an admin key (--admin-key or $VDB_ADMIN_KEY) is needed")
    admin = VDBClient(args.url, args.admin_key)
    dim, n = (16, 200) if args.short else (384, 5000)
    users = [args.user + "_acme", args.user + "_globex"]

    h = admin._get("/monitoring/health")
    print(f"health: {h['status']} version {h['version']} at {h['timestamp']:.0f}")
    d = admin.health_detailed()
    print(f"detailed: {d['overall_status']}; checks: " +
          ", ".join(f"{k}={v['status']}" for k, v in d["checks"].items()))
    cfg = admin.config()
    print(f"config: server {cfg['server']['host']}:{cfg['server']['port']}, "
          f"features {sorted(k for k, v in cfg['features'].items() if v is True)}, "
          f"max batch {cfg['limits']['max_batch']}")

    # per-user keys
    keys = {}
    for u in users:
        try:
            admin.revoke_user_keys(u)
        except VDBError:
            pass
        keys[u] = admin.create_user_key(u)["api_key"]
    a, b = (VDBClient(args.url, keys[u]) for u in users)
    print(f"created per-user keys for {users[0]} and {users[1]}")
    rnd = random.Random(3)
    for cl, u in ((a, users[0]), (b, users[1])):
        try:
            cl.delete_store(u, "kb", force=True)
        except VDBError:
            pass
        cl.create_store(u, "kb", dimension=dim)
        vecs = [[rnd.gauss(0, 1) for _ in range(dim)] for _ in range(n)]
        cl.add_vectors_chunked(u, "kb", vecs, [{"id": f"{u}-{i}"} for i in range(n)],
                               batch_size=1000, progress=False)
        for i in range(0, 20):
            cl.query(u, "kb", vecs[i], k=5)
    try:
        b.count(users[0], "kb")
        check(False, "a per-user key must not see another tenant's store")
    except VDBError as e:
        print(f"{users[1]}'s key asking for {users[0]}'s store: {e.status} ({e.message})")
        check(e.status == 404, "tenant isolation answers 404")
    check(all(s["user_id"] == users[1] for s in b.list_stores()["stores"]),
          "list_stores shows only the tenant's own stores")

    # metrics
    s = admin.metrics_summary()
    rows = [("requests", s["requests"]["total"]),
            ("queries", s["vector_operations"]["queries_total"]),
            ("additions", s["vector_operations"]["additions_total"]),
            ("cache hit rate %", f"{s['cache']['hit_rate_percent']:.1f}"),
            ("cpu usage %", f"{s['system']['cpu_usage_percent']:.1f}"),
            ("memory in use GB", f"{s['system']['memory_usage_gb']:.2f}"),
            ("errors", s["errors"]["total"])]
    print()
    table(rows, ("metric", "value"))
    check(s["vector_operations"]["additions_total"] >= 2 * n, "additions counted")
    prom = admin.metrics("prometheus")
    check("vector_queries_total" in prom, "Prometheus text has vector_queries_total")
    print(f"\nPrometheus exposition: {len(prom.splitlines())} lines")
    st = admin.monitoring_status()
    print(f"status: {st['status']}, health {st['health']['overall_status']}, indicators " +
          ", ".join(f"{k}={v}" for k, v in st["performance_indicators"].items()))
    for t in ("test", "high_cpu", "low_disk", "error_spike"):
        al = admin.test_alert(t)["alert"]
        print(f"alert {t:12s} metric {al['metric']:26s} value {al['value']:.3f} "
              f"threshold {al['threshold']} -> {'FIRING' if al['firing'] else 'ok'}")

    # export / import with a tenant key
    blob = a.export_zip(users[0], "kb")
    try:
        a.delete_store(users[0], "kb_restored", force=True)
    except VDBError:
        pass
    a.import_zip(users[0], "kb_restored", blob)
    check(a.count(users[0], "kb_restored") == n, "import restores every vector")
    print(f"\nexported {users[0]}/kb ({len(blob):,} bytes) and imported it as kb_restored: "
          f"{a.count(users[0], 'kb_restored')} vectors")

    bench = a.benchmark(users[0], "kb", test_size=min(n, 2000), query_count=50)
    print(f"benchmark: add {bench['summary']['vectors_per_second']:,.0f} vectors/s, "
          f"query {bench['summary']['queries_per_second']:,.0f} QPS, "
          f"recall@10 {bench['summary']['recall_at_k']:.3f}")

    for cl, u in ((a, users[0]), (b, users[1])):
        cl.delete_store(u, "kb", force=True)
    a.delete_store(users[0], "kb_restored", force=True)
    for u in users:
        admin.revoke_user_keys(u)
    print("enterprise demo OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
