#!/usr/bin/python3
"""Exact-search peers, measured in the same run as `vdb bench`, on the same data.

1. `vdb bench --save DIR` generates the dataset (or --data uses yours) and
   writes data.npy / queries.npy / truth.npy;
2. `vdb bench --data DIR/data.npy --query-file DIR/queries.npy --json` measures
   vdb on exactly those files;
3. numpy (+ its BLAS, OpenBLAS when libopenblas0-pthread is installed) and FAISS
   IndexFlatIP/IndexFlatL2 run the same queries;
4. the hardware limits are measured: memory read bandwidth (BLAS sgemv over a
   256 MiB matrix: the access pattern of a single-query scan) and sgemm
   GFLOP/s (2048^3);
5. prints every figure, the ratios vdb/peer and the fractions of the limits,
   and with --json writes them as one object.

Run with Debian's /usr/bin/python3 (python3-numpy, python3-faiss). For
benchmarks unset OPENBLAS_CORETYPE/OPENBLAS_L2_SIZE (see BENCHMARKS.md).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

try:
    import faiss
except ImportError:  # FAISS is optional: numpy and the limits still run
    faiss = None


def timed(fn, repeat=1):
    best = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        dt = time.perf_counter() - t0
        best = dt if best is None or dt < best else best
    return out, best


def hardware_limits():
    """Memory bandwidth (GB/s) through sgemv, sgemm GFLOP/s."""
    rng = np.random.default_rng(0)
    a = rng.random((64 * 1024, 1024), dtype=np.float32)  # 256 MiB
    x = rng.random(1024, dtype=np.float32)
    a @ x  # fault pages in
    _, dt = timed(lambda: a @ x, repeat=7)
    bandwidth = a.nbytes / dt / 1e9
    del a
    m = rng.random((2048, 2048), dtype=np.float32)
    m @ m
    _, dt = timed(lambda: m @ m, repeat=5)
    gflops = 2 * 2048 ** 3 / dt / 1e9
    return bandwidth, gflops


def prepare(data, queries, metric):
    if metric == "cosine":
        data = data / np.maximum(np.linalg.norm(data, axis=1, keepdims=True), 1e-30)
        queries = queries / np.maximum(np.linalg.norm(queries, axis=1, keepdims=True), 1e-30)
    return np.ascontiguousarray(data, dtype=np.float32), np.ascontiguousarray(queries, dtype=np.float32)


def numpy_scores(data, q, metric, sqnorms):
    s = data @ q.T if q.ndim == 2 else data @ q
    if metric == "euclidean":
        return 2 * s - (sqnorms[:, None] if q.ndim == 2 else sqnorms)  # larger is better
    return s


def topk_rows(scores, k):
    """Top-k along axis 0 (scores: n or n x q), best first."""
    k = min(k, scores.shape[0])
    idx = np.argpartition(-scores, k - 1, axis=0)[:k]
    part = np.take_along_axis(scores, idx, axis=0)
    order = np.argsort(-part, axis=0, kind="stable")
    return np.take_along_axis(idx, order, axis=0)


def bench_numpy(data, queries, k, metric):
    sqnorms = (data * data).sum(axis=1) if metric == "euclidean" else None
    nq = len(queries)
    res = {}

    def single():
        return np.stack([topk_rows(numpy_scores(data, q, metric, sqnorms), k) for q in queries])

    ids, dt = timed(single)
    res["single_qps"] = nq / dt

    def batch():
        out = []
        for start in range(0, len(data), 0x7FFFFFFF):  # one block: data fits in memory
            out.append(topk_rows(numpy_scores(data, queries, metric, sqnorms), k).T)
        return out[0]

    bids, dt = timed(batch)
    res["batch_qps"] = nq / dt
    return res, bids


def bench_faiss(data, queries, k, metric):
    if faiss is None:
        return None, None
    d = data.shape[1]
    index = faiss.IndexFlatL2(d) if metric == "euclidean" else faiss.IndexFlatIP(d)
    _, dt = timed(lambda: index.add(data))
    res = {"add_vectors_per_s": len(data) / dt}
    nq = len(queries)

    def single():
        return np.concatenate([index.search(queries[i:i + 1], k)[1] for i in range(nq)])

    _, dt = timed(single)
    res["single_qps"] = nq / dt
    (_, ids), dt = timed(lambda: index.search(queries, k))
    res["batch_qps"] = nq / dt
    res["index"] = type(index).__name__
    return res, ids


def recall(found, truth, k):
    hits = 0
    total = 0
    for f, t in zip(found, truth):
        t = [x for x in t[:k] if x >= 0]
        hits += len(set(int(x) for x in f[:k]) & set(int(x) for x in t))
        total += len(t)
    return hits / max(total, 1)


def run_vdb(vdb, args, workdir):
    common = ["--k", str(args.k), "--metric", args.metric, "--threads", str(args.threads)]
    if args.data:
        gen = [vdb, "bench", "--data", args.data, "--queries", str(args.queries), "--save", workdir] + common
    else:
        gen = [vdb, "bench", "--n", str(args.n), "--dim", str(args.dim), "--queries",
               str(args.queries), "--seed", str(args.seed), "--save", workdir] + common
    subprocess.run(gen, check=True, stdout=subprocess.DEVNULL)
    cmd = [vdb, "bench", "--data", os.path.join(workdir, "data.npy"), "--query-file",
           os.path.join(workdir, "queries.npy"), "--json"] + common
    out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout
    return json.loads(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vdb", default=os.path.join(os.path.dirname(__file__), "..", "build", "vdb"))
    ap.add_argument("--n", type=int, default=100000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--metric", default="cosine", choices=["cosine", "euclidean", "dot"])
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--data", help="float32 .npy to use instead of generated data")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="vdb-peers-") as workdir:
        vdb = run_vdb(os.path.abspath(args.vdb), args, workdir)
        data = np.load(os.path.join(workdir, "data.npy"))
        queries = np.load(os.path.join(workdir, "queries.npy"))
        truth = np.load(os.path.join(workdir, "truth.npy"))
    data, queries = prepare(data, queries, args.metric)
    np_res, np_ids = bench_numpy(data, queries, args.k, args.metric)
    np_res["recall_of_vdb_truth"] = recall(truth, np_ids, args.k)
    fa_res, fa_ids = bench_faiss(data, queries, args.k, args.metric)
    if fa_res is not None:
        fa_res["recall_at_k"] = recall(fa_ids, np_ids, args.k)
    bandwidth, gflops = hardware_limits()

    n, dim = data.shape
    nq = len(queries)
    report = {
        "data": {"n": n, "dim": dim, "queries": nq, "k": args.k, "metric": args.metric,
                 "source": args.data or "vdb generator seed %d" % args.seed},
        "hardware": {"bandwidth_gbps": bandwidth, "sgemm_gflops": gflops},
        "vdb": vdb, "numpy": np_res, "faiss": fa_res,
    }
    single_limit = bandwidth * 1e9 / (4.0 * n * dim)
    batch_limit = gflops * 1e9 / (2.0 * n * dim)
    ratios = {
        "single_vs_numpy": vdb["single_qps"] / np_res["single_qps"],
        "batch_vs_numpy": vdb["batch_qps"] / np_res["batch_qps"],
        "single_fraction_of_bandwidth": vdb["single_qps"] / single_limit,
        "batch_fraction_of_sgemm": vdb["batch_qps"] / batch_limit,
        "vdb_truth_matches_numpy": np_res["recall_of_vdb_truth"],
    }
    if fa_res is not None:
        ratios["single_vs_faiss"] = vdb["single_qps"] / fa_res["single_qps"]
        ratios["batch_vs_faiss"] = vdb["batch_qps"] / fa_res["batch_qps"]
        ratios["add_vs_faiss"] = vdb["add_vectors_per_s"] / fa_res["add_vectors_per_s"]
    report["ratios"] = ratios
    report["limits_qps"] = {"single": single_limit, "batch": batch_limit}

    if args.json:
        json.dump(report, sys.stdout, indent=1)
        print()
        return
    print("data: %d x %d %s, %d queries, k=%d (%s)" % (n, dim, args.metric, nq, args.k,
                                                       report["data"]["source"]))
    print("hardware: bandwidth %.1f GB/s (sgemv), sgemm %.0f GFLOP/s -> limits: single %.0f QPS, batch %.0f QPS"
          % (bandwidth, gflops, single_limit, batch_limit))
    print("%-26s %12s %12s %12s" % ("", "vdb", "numpy", "faiss"))
    for key in ("add_vectors_per_s", "single_qps", "batch_qps"):
        print("%-26s %12.0f %12s %12s" % (
            key, vdb.get(key, 0), "%.0f" % np_res[key] if key in np_res else "-",
            "%.0f" % fa_res[key] if fa_res and key in fa_res else "-"))
    print("vdb recall@%d %.4f, p50 %.2f ms, p99 %.2f ms (isa %s, blas %s)" % (
        args.k, vdb["recall_at_k"], vdb["p50_ms"], vdb["p99_ms"], vdb["isa"], vdb["blas"]))
    for key, value in ratios.items():
        print("  %-32s %.3f" % (key, value))


if __name__ == "__main__":
    main()
