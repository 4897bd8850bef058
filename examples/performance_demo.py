#!/usr/bin/env python3
"""Performance demo against a running vdb server: compute health, warmup,
add rate, single-query QPS and latency, batch-query throughput, the
server-side benchmark and optimize; printed as a table and, when
python3-matplotlib is installed, plotted to a PNG.

    python3 examples/performance_demo.py --url URL --key KEY [--short] [--png perf.png]

All figures are measured over HTTP from this client (except the
"server benchmark" rows, which the server measures in-process on a
scratch store).
"""
import os
import random
import sys
import time

from _common import VDBClient, VDBError, check, parse_args, table


def percentile(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def main():
    p = parse_args(__doc__.splitlines()[0])
    p.add_argument("--png", default="performance_demo.png", help="plot file (matplotlib)")
    args = p.parse_args()
    c = VDBClient(args.url, args.key, timeout=300)
    user, model = args.user, "demo_perf"
    dim = 64 if args.short else 384
    n = 2000 if args.short else 50000
    nq = 50 if args.short else 500
    batch = 500 if args.short else 1000

    h = c.performance_health()
    print(f"performance health: status={h['status']} mlx_operations={h['mlx_operations']} "
          f"cache_status={h['cache_status']} (backend {h['compute']['blas']}, "
          f"{h['compute']['isa']})")
    check(h["status"] == "healthy" and h["mlx_operations"] == "working", "compute self-test")
    w = c.warmup(dimension=dim)
    print(f"warmup for {dim}-d: {w['warmup_time_seconds'] * 1e3:.1f} ms")

    try:
        c.delete_store(user, model, force=True)
    except VDBError:
        pass
    c.create_store(user, model, dimension=dim)
    rnd = random.Random(11)
    vectors = [[rnd.gauss(0, 1) for _ in range(dim)] for _ in range(n)]
    meta = [{"id": f"p{i}"} for i in range(n)]

    rows = []
    t = time.perf_counter()
    r = c.add_vectors_chunked(user, model, vectors, meta, batch_size=batch)
    add_s = time.perf_counter() - t
    check(r["vectors_added"] == n and c.count(user, model) == n, "all vectors added")
    rows.append(("add (HTTP, %d/request)" % batch, f"{n / add_s:,.0f} vectors/s", f"{add_s:.2f} s"))

    lat = []
    t = time.perf_counter()
    for i in range(nq):
        s = time.perf_counter()
        hits = c.query(user, model, vectors[(i * 37) % n], k=10)
        lat.append((time.perf_counter() - s) * 1e3)
        check(hits and hits[0]["metadata"]["id"] == f"p{(i * 37) % n}", "self is nearest")
    q_s = time.perf_counter() - t
    rows.append(("single query k=10", f"{nq / q_s:,.0f} QPS",
                 f"p50 {percentile(lat, 50):.2f} ms, p99 {percentile(lat, 99):.2f} ms"))

    queries = [vectors[(i * 53) % n] for i in range(nq)]
    t = time.perf_counter()
    res = c.batch_query(user, model, queries, k=10)
    b_s = time.perf_counter() - t
    check(len(res) == nq, "batch answers every query")
    rows.append((f"batch query ({nq} in one request)", f"{nq / b_s:,.0f} QPS", f"{b_s * 1e3:.1f} ms"))

    bench = c.benchmark(user, model, test_size=min(n, 5000), query_count=min(nq, 200))
    s = bench["summary"]
    rows.append(("server benchmark: add", f"{s['vectors_per_second']:,.0f} vectors/s",
                 "scratch store, fsync off"))
    rows.append(("server benchmark: query", f"{s['queries_per_second']:,.0f} QPS",
                 f"recall@10 {s['recall_at_k']:.3f}"))
    rows.append(("server benchmark: batch", f"{s['batch_queries_per_second']:,.0f} QPS", ""))
    cp = bench["cache_performance"]
    rows.append(("query cache", f"{cp['speedup_factor']:.1f}x faster on a hit",
                 f"{cp['uncached_avg_ms']:.3f} -> {cp['cached_avg_ms']:.4f} ms"))

    o = c.optimize_store(user, model, force_rebuild_index=True)
    rows.append(("optimize (rebuild index)", f"{o['optimization_results']['time_seconds']:.3f} s",
                 f"{o['optimization_results']['vectors_optimized']} vectors"))
    stats = c.performance_stats(user, model)
    check("operations" in stats, "performance stats")

    print()
    table(rows, ("measurement", "result", "detail"))
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("\n(matplotlib not installed: no plot; apt-get install python3-matplotlib)")
    else:
        fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
        ax1.hist(lat, bins=30)
        ax1.set_xlabel("single query latency (ms)")
        ax1.set_ylabel("queries")
        ax2.bar(["single", "batch", "server"], [nq / q_s, nq / b_s, s["queries_per_second"]])
        ax2.set_ylabel("queries per second")
        fig.suptitle(f"vdb: {n} x {dim}-d, k=10")
        fig.tight_layout()
        fig.savefig(args.png)
        print(f"\nplot written to {os.path.abspath(args.png)}")
    c.delete_store(user, model, force=True)
    print("performance demo OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
