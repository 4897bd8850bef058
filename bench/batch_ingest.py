#!/usr/bin/python3
"""Ingest rate over HTTP against a running `vdb serve` (fsync per request, the default):

  binary: POST /v1/batch/upload?wait=true with a float32 .npy body (one request, chunked
          server-side, one fsynced WAL record per chunk);
  json:   POST /vectors/add, batches of --batch vectors, one request after another.

Reports vectors/s from the client's wall clock, best of --repeat runs, each into a fresh store.
Usage: bench/batch_ingest.py --url http://127.0.0.1:8000 --key ADMIN_KEY [--n 100000] [--dim 384]
"""
import argparse
import io
import json
import time
import uuid

import numpy as np
import requests


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--n", type=int, default=100000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--batch", type=int, default=1000)
    ap.add_argument("--chunk", type=int, default=10000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--mode", choices=["binary", "json", "both"], default="both")
    a = ap.parse_args()
    s = requests.Session()
    s.headers["X-API-Key"] = a.key
    vecs = np.random.default_rng(1).standard_normal((a.n, a.dim)).astype(np.float32)
    buf = io.BytesIO()
    np.save(buf, vecs)
    npy = buf.getvalue()
    bodies = [json.dumps({"vectors": vecs[i:i + a.batch].tolist()}) for i in range(0, a.n, a.batch)]
    out = {}
    for mode in (["binary", "json"] if a.mode == "both" else [a.mode]):
        best = 0.0
        for _ in range(a.repeat):
            model = "ingest_" + uuid.uuid4().hex[:8]
            t0 = time.perf_counter()
            if mode == "binary":
                r = s.post(f"{a.url}/v1/batch/upload", params={
                    "user_id": "bench", "model_id": model, "wait": "true",
                    "chunk_size": str(a.chunk)}, data=npy,
                    headers={"Content-Type": "application/octet-stream"}, timeout=600)
                r.raise_for_status()
            else:
                for body in bodies:
                    r = s.post(f"{a.url}/vectors/add",
                               data=body.replace("{", '{"user_id":"bench","model_id":"%s",' % model, 1),
                               headers={"Content-Type": "application/json"}, timeout=600)
                    r.raise_for_status()
            rate = a.n / (time.perf_counter() - t0)
            best = max(best, rate)
            s.delete(f"{a.url}/admin/store", params={"user_id": "bench", "model_id": model})
        out[mode] = best
        print(f"{mode}: {a.n} x {a.dim}, best of {a.repeat}: {best:,.0f} vectors/s")
    return out


if __name__ == "__main__":
    main()
