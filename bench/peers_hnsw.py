#!/usr/bin/python3
"""HNSW peers on the same data as `vdb bench --index hnsw`, in one run.

Runs, on the .npy files `vdb bench --save DIR` wrote (data.npy, queries.npy,
truth.npy = exact top-k ids):
  * vdb            `vdb bench --data --query-file --index hnsw --json` (or a
                   JSON file it wrote earlier, --vdb-json)
  * native peers   bench/hnsw_native.cpp, one process: hnswlib 0.8.0 (npm
                   hnswlib-node's header) and USearch (npm usearch's headers,
                   its portable kernels auto-vectorized for this CPU) from bench/.peers (bench/fetch-peers.sh;
                   without it, Debian's hnswlib 0.6.2 header alone), all
                   compiled here with -O3 -march=native (the bar); linked
                   with vdb's libvdb.a (found beside --vdb) it also runs vdb
                   in the same process, the engines' timed passes alternating
  * hnswlib-debian Debian's python3-hnswlib (generic SSE build)
  * faiss-hnsw     Debian's python3-faiss IndexHNSWFlat
with the same M and ef_construction, builds on --threads threads, searches
single-threaded (hnswlib set_num_threads(1), faiss.omp_set_num_threads(1);
each ef timed as the best of three passes, for every peer alike;
the Python peers search the whole query batch in one call so Python's
per-call overhead is not charged to them). Each peer runs in its own process
so its memory (RSS growth over the build) is its own.

Prints the recall/QPS curve of every peer, then for recall@k targets 0.90,
0.95 and 0.99 the QPS at the smallest ef reaching the target and vdb's ratio
to each peer, plus build rate and memory. Recall of the peers counts ids
found in the exact top-k; vdb's own bench counts hits within the k-th exact
distance (identical except at exact distance ties).

Benchmarks only: run under `flock /tmp/vdb-bench.lock` and
`env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE` (see docs/benchmarking.md).

usage: peers_hnsw.py DIR [--vdb build/vdb | --vdb-json FILE] [--metric cosine]
                     [--m 16] [--ef-construction 200] [--threads 2] [--k 10]
                     [--skip faiss,hnswlib-debian,usearch] [--efs fine|E1,E2,...]
"""
import argparse
import json
import os
import subprocess
import sys
import time

EFS = [10, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512]
# --efs fine: the store planner's ladder (src/store/calib.c) up to 512, so
# the store's pick and each peer's oracle ef are read on the same grid.
FINE_EFS = [10, 12, 16, 20, 24, 32, 40, 48, 64, 80, 96, 128, 160, 192, 256, 320, 384, 512]
TARGETS = [0.90, 0.95, 0.99]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def load(dirname, metric):
    import numpy as np
    data = np.load(os.path.join(dirname, "data.npy")).astype(np.float32, copy=False)
    queries = np.load(os.path.join(dirname, "queries.npy")).astype(np.float32, copy=False)
    truth = np.load(os.path.join(dirname, "truth.npy"))
    if metric == "cosine":
        data = data / np.maximum(np.linalg.norm(data, axis=1, keepdims=True), 1e-30)
        queries = queries / np.maximum(np.linalg.norm(queries, axis=1, keepdims=True), 1e-30)
    return np.ascontiguousarray(data, dtype=np.float32), \
        np.ascontiguousarray(queries, dtype=np.float32), truth


def recall(ids, truth):
    hits = wanted = 0
    for got, want in zip(ids, truth):
        want = [w for w in want if w >= 0]
        wanted += len(want)
        hits += len(set(int(g) for g in got) & set(int(w) for w in want))
    return hits / wanted if wanted else 1.0


def best_of(fn, repeats=3):
    """Fastest of `repeats` timed calls (the machine is shared; vdb and the
    native driver do the same) and the last call's result."""
    best = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        el = time.perf_counter() - t0
        best = el if best is None else min(best, el)
    return best, out


def worker_hnswlib(args):
    import hnswlib
    data, queries, truth = load(args.dir, args.metric)
    n, dim = data.shape
    k = truth.shape[1]
    index = hnswlib.Index(space="ip" if args.metric == "cosine" else "l2", dim=dim)
    rss0 = rss_bytes()
    index.init_index(max_elements=n, ef_construction=args.ef_construction, M=args.m,
                     random_seed=100)
    t0 = time.perf_counter()
    index.add_items(data, list(range(n)), num_threads=args.threads)
    build = time.perf_counter() - t0
    out = {"peer": "hnswlib-debian", "build_seconds": build, "build_vectors_per_s": n / build,
           "rss_delta_bytes": rss_bytes() - rss0, "curve": []}
    index.set_num_threads(1)
    index.set_ef(EFS[0])
    index.knn_query(queries, k=k, num_threads=1)
    for ef in EFS:
        index.set_ef(ef)
        el, (labels, _) = best_of(lambda: index.knn_query(queries, k=k, num_threads=1))
        out["curve"].append({"ef": ef, "recall_at_k": recall(labels, truth),
                             "single_qps": len(queries) / el})
    return out


def worker_faiss(args):
    import faiss
    data, queries, truth = load(args.dir, args.metric)
    n, dim = data.shape
    k = truth.shape[1]
    metric = faiss.METRIC_INNER_PRODUCT if args.metric == "cosine" else faiss.METRIC_L2
    faiss.omp_set_num_threads(args.threads)
    rss0 = rss_bytes()
    index = faiss.IndexHNSWFlat(dim, args.m, metric)
    index.hnsw.efConstruction = args.ef_construction
    t0 = time.perf_counter()
    index.add(data)
    build = time.perf_counter() - t0
    out = {"peer": "faiss-hnsw", "build_seconds": build, "build_vectors_per_s": n / build,
           "rss_delta_bytes": rss_bytes() - rss0, "curve": []}
    faiss.omp_set_num_threads(1)
    index.hnsw.efSearch = EFS[0]
    index.search(queries, k)
    for ef in EFS:
        index.hnsw.efSearch = ef
        el, (_, labels) = best_of(lambda: index.search(queries, k))
        out["curve"].append({"ef": ef, "recall_at_k": recall(labels, truth),
                             "single_qps": len(queries) / el})
    return out


def run_worker(name, args):
    cmd = [sys.executable, os.path.abspath(__file__), args.dir, "--worker", name,
           "--metric", args.metric, "--m", str(args.m),
           "--ef-construction", str(args.ef_construction), "--threads", str(args.threads),
           "--efs", ",".join(map(str, EFS))]
    return json.loads(subprocess.run(cmd, check=True, stdout=subprocess.PIPE).stdout)


PEERS = os.path.join(ROOT, "bench", ".peers", "node_modules")


def native_build_cmd(args, binary):
    """g++ command for the native driver: hnswlib 0.8.0 and USearch from
    bench/.peers (bench/fetch-peers.sh) when present, else Debian's hnswlib
    0.6.2 header alone; linked with vdb's libvdb.a (beside --vdb) when it
    exists, so vdb runs in the same process with alternating passes."""
    src = os.path.join(ROOT, "bench", "hnsw_native.cpp")
    cmd = ["g++", "-O3", "-march=native", "-std=c++17", "-pthread"]
    deps = [src]
    h08 = os.path.join(PEERS, "hnswlib-node", "src")
    if os.path.exists(os.path.join(h08, "hnswlib", "hnswlib.h")):
        cmd += ["-I" + h08, '-DVDB_HNSWLIB_LABEL="hnswlib-0.8.0"']
    else:
        cmd += ['-DVDB_HNSWLIB_LABEL="hnswlib-0.6.2"']
    us = os.path.join(PEERS, "usearch")
    if os.path.exists(os.path.join(us, "include", "usearch", "index_dense.hpp")) \
            and "usearch" not in args.skip:
        cmd += ["-DVDB_WITH_USEARCH", "-I" + os.path.join(us, "include"),
                "-DUSEARCH_USE_NUMKONG=0", "-DUSEARCH_USE_OPENMP=0", "-Wno-unknown-pragmas",
                "-DVDB_USEARCH_REASSOC"]
    lib = os.path.join(os.path.dirname(os.path.abspath(args.vdb)), "libvdb.a")
    interleave = os.path.exists(lib) and not args.no_interleave
    if interleave:
        cmd += ["-DVDB_INTERLEAVE", "-I" + os.path.join(ROOT, "src")]
        deps.append(lib)
    cmd += [src, "-o", binary]
    if interleave:
        cmd += [lib, "-lopenblas", "-ljansson", "-lroaring", "-lm"]
    return cmd, deps


def run_native(args):
    """The native driver (one process: every native peer plus vdb, timed
    passes alternating); returns its engines' results."""
    binary = os.path.join(ROOT, "build", "hnsw_native_peers")
    cmd, deps = native_build_cmd(args, binary)
    stamp = binary + ".cmd"
    old = open(stamp).read() if os.path.exists(stamp) else ""
    if old != " ".join(cmd) or not os.path.exists(binary) or \
            any(os.path.getmtime(binary) < os.path.getmtime(d) for d in deps):
        os.makedirs(os.path.dirname(binary), exist_ok=True)
        print(" ".join(cmd), file=sys.stderr, flush=True)
        subprocess.run(cmd, check=True)
        with open(stamp, "w") as f:
            f.write(" ".join(cmd))
    d = args.dir
    run = [binary, f"{d}/data.npy", f"{d}/queries.npy", f"{d}/truth.npy", args.metric,
           str(args.m), str(args.ef_construction), str(args.threads), ",".join(map(str, EFS))]
    out = json.loads(subprocess.run(run, check=True, stdout=subprocess.PIPE).stdout)
    for e in out["engines"]:
        if e["peer"] == "vdb":
            e["peer"] = "vdb (same process)"
    return out["engines"]


def run_vdb(args):
    if args.vdb_json:
        with open(args.vdb_json) as f:
            text = f.read()
    else:
        d = args.dir
        cmd = [args.vdb, "bench", "--data", f"{d}/data.npy", "--query-file", f"{d}/queries.npy",
               "--metric", args.metric, "--k", str(args.k), "--index", "hnsw",
               "--m", str(args.m), "--ef-construction", str(args.ef_construction),
               "--threads", str(args.threads), "--target-recall", "0.95", "--json"]
        text = subprocess.run(cmd, check=True, stdout=subprocess.PIPE).stdout.decode()
    full = json.loads(text)
    h = full["hnsw"]
    return {"peer": "vdb", "build_seconds": h["build_seconds"],
            "build_vectors_per_s": h["build_vectors_per_s"],
            "index_bytes": h["index_total_bytes"], "curve": h["curve"],
            "deletes_30pct": h.get("deletes_30pct"), "full": h}


def at_target(curve, target):
    for p in curve:
        if p["recall_at_k"] >= target:
            return p
    return None


def report_same_process(engines):
    """Each vdb engine (float traversal, and int8 traversal with float
    re-ranking on the same graph) against every native peer, their passes
    alternating in one process: the ratios least exposed to load drifting
    between runs."""
    mine = [e for e in engines if e["peer"].startswith("vdb")]
    peers = [e for e in engines if not e["peer"].startswith("vdb")]
    if not mine or not peers:
        return
    print("\n== vdb vs native peers, same process, alternating passes ==")
    for v in mine:
        for t in TARGETS:
            a = at_target(v["curve"], t)
            line = "recall>=%.2f  %s %s" % (t, v["peer"], "not reached" if a is None else
                                            "ef %d %.0f QPS" % (a["ef"], a["single_qps"]))
            best = None
            for p in peers:
                b = at_target(p["curve"], t)
                if b is None:
                    line += " | %s not reached" % p["peer"]
                    continue
                best = b["single_qps"] if best is None else max(best, b["single_qps"])
                line += " | %s ef %d %.0f QPS" % (p["peer"], b["ef"], b["single_qps"])
            if a is not None and best:
                line += " | %s / fastest peer x%.2f" % (v["peer"], a["single_qps"] / best)
            print(line)
    v = mine[0]
    for p in peers:
        print("build: vdb %.0f vec/s, %s %.0f vec/s (x%.2f)" % (
            v["build_vectors_per_s"], p["peer"], p["build_vectors_per_s"],
            v["build_vectors_per_s"] / p["build_vectors_per_s"]))
    for e in engines:
        print("memory a search keeps resident (graph + what it reads): %s %.1f MB (%.0f B/vector)"
              % (e["peer"], e["index_bytes"] / 1e6, e["index_bytes"] / max(1, e.get("n", 1))))


def report(results):
    print("\n== recall@k / single-thread QPS by ef ==")
    print("%6s" % "ef" + "".join("  %24s" % r["peer"] for r in results))
    for ef in EFS:
        row = "%6d" % ef
        for r in results:
            p = next((p for p in r["curve"] if p["ef"] == ef), None)
            row += "  %24s" % ("-" if p is None else "%.4f %9.0f" % (p["recall_at_k"],
                                                                   p["single_qps"]))
        print(row)
    vdb = next((r for r in results if r["peer"].startswith("vdb")), results[0])
    print("\n== at recall targets (smallest ef reaching it; %s/peer QPS ratio) ==" % vdb["peer"])
    for t in TARGETS:
        mine = at_target(vdb["curve"], t)
        line = "recall>=%.2f  %s: %s" % (t, vdb["peer"], "not reached" if mine is None else
                                         "ef %d %.0f QPS" % (mine["ef"], mine["single_qps"]))
        for r in results:
            if r is vdb:
                continue
            p = at_target(r["curve"], t)
            if p is None:
                line += " | %s: not reached" % r["peer"]
                continue
            ratio = "" if mine is None else " (x%.2f)" % (mine["single_qps"] / p["single_qps"])
            line += " | %s: ef %d %.0f QPS%s" % (r["peer"], p["ef"], p["single_qps"], ratio)
        print(line)
    print("\n== build (vectors/s) and memory ==")
    for r in results:
        mem = r.get("index_bytes") or r.get("index_bytes_est")
        extra = ""
        if r.get("rss_delta_bytes") is not None:
            extra = ", RSS growth over build %.1f MB" % (r["rss_delta_bytes"] / 1e6)
        ratio = vdb["build_vectors_per_s"] / r["build_vectors_per_s"]
        print("%-18s build %8.0f vec/s (vdb x%.2f)  memory %s%s" % (
            r["peer"], r["build_vectors_per_s"], ratio,
            "%.1f MB (graph + vectors)" % (mem / 1e6) if mem else "-", extra))
    if vdb.get("deletes_30pct"):
        d = vdb["deletes_30pct"]
        print("\nvdb after deleting 30%%: recall %.4f at ef %d before optimize, %.4f after "
              "(rebuild %.1f s)" % (d["recall_before_optimize"], d["ef"],
                                    d["recall_after_optimize"], d["optimize_seconds"]))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dir")
    ap.add_argument("--vdb", default=os.path.join(ROOT, "build", "vdb"))
    ap.add_argument("--vdb-json")
    ap.add_argument("--metric", default="cosine", choices=["cosine", "l2"])
    ap.add_argument("--m", type=int, default=16)
    ap.add_argument("--ef-construction", type=int, default=200)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--skip", default="")
    ap.add_argument("--efs", help="comma-separated efs to sweep, or 'fine' (the store "
                    "planner's ladder); default %s" % ",".join(map(str, EFS)))
    ap.add_argument("--no-interleave", action="store_true",
                    help="do not link vdb into the native driver")
    ap.add_argument("--json-out")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.efs:
        EFS[:] = FINE_EFS if args.efs == "fine" else [int(e) for e in args.efs.split(",")]
    if args.worker:
        fn = {"hnswlib": worker_hnswlib, "faiss": worker_faiss}[args.worker]
        print(json.dumps(fn(args)))
        return
    skip = set(filter(None, args.skip.split(",")))
    results, native = [], []
    for name, fn in [("vdb", run_vdb), ("hnswlib-native", run_native),
                     ("hnswlib-debian", lambda a: run_worker("hnswlib", a)),
                     ("faiss", lambda a: run_worker("faiss", a))]:
        if name in skip:
            continue
        print("running %s ..." % name, file=sys.stderr, flush=True)
        got = fn(args)
        if name == "hnswlib-native":
            native = got
            results.extend(got)
        else:
            results.append(got)
    if not results:
        return
    report(results)
    report_same_process(native)
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
