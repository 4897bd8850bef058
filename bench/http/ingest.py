#!/usr/bin/env python3
"""Timed JSON ingest: sends REQUESTS copies of one /vectors/add body over
CONNS keep-alive connections (http.client, one thread each; the body is
pre-encoded bytes, so the client does no JSON work) and prints
vectors/s by the wall clock, with per-request latency percentiles."""
import http.client
import json
import sys
import threading
import time

url_host, url_port, key, body_path, model, requests_total, conns = sys.argv[1:8]
requests_total, conns = int(requests_total), int(conns)
body = open(body_path, "rb").read()
body = body.replace(b'"model_id": "m384"', b'"model_id": "%s"' % model.encode())
per_vector = json.loads(body)["vectors"]
batch = len(per_vector)
del per_vector
latencies, errors, lock = [], [], threading.Lock()
counter = iter(range(requests_total))


def worker():
    c = http.client.HTTPConnection(url_host, int(url_port), timeout=600)
    headers = {"Content-Type": "application/json", "X-API-Key": key}
    while True:
        with lock:
            if next(counter, None) is None:
                break
        t0 = time.perf_counter()
        c.request("POST", "/vectors/add", body=body, headers=headers)
        r = c.getresponse()
        data = r.read()
        dt = time.perf_counter() - t0
        with lock:
            latencies.append(dt)
            if r.status != 200:
                errors.append((r.status, data[:200]))


t0 = time.perf_counter()
threads = [threading.Thread(target=worker) for _ in range(conns)]
for t in threads:
    t.start()
for t in threads:
    t.join()
wall = time.perf_counter() - t0
latencies.sort()
pct = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1e3
print(json.dumps({"model": model, "requests": len(latencies), "batch": batch,
                  "errors": len(errors), "seconds": round(wall, 3),
                  "vectors_per_s": round(len(latencies) * batch / wall),
                  "p50_ms": round(pct(0.5), 1), "p99_ms": round(pct(0.99), 1),
                  "max_ms": round(latencies[-1] * 1e3, 1)}))
if errors:
    print("errors:", errors[:3], file=sys.stderr)
    sys.exit(1)
