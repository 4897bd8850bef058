#!/usr/bin/python3
"""How long a tenant freeze and a concurrent request take while the
tenant's background batch upload runs, on a 1-worker `vdb serve`
(docs/scale-out.md, "the freeze never holds a worker"). Prints the status
and seconds of the freeze (POST /admin/freeze) and of a GET /health sent
0.2 s after it.

    deploy/cluster/bench_freeze.py VDB_BINARY PORT"""
import io, os, shutil, subprocess, sys, tempfile, threading, time
import numpy as np, requests
binary, port = sys.argv[1], int(sys.argv[2])
d = tempfile.mkdtemp(prefix="vdb-freeze-bench-")
env = dict(os.environ, VECTOR_DB_DATA_DIR=d, PORT=str(port), HOST="127.0.0.1",
           VECTOR_DB_ADMIN_KEY="k", LOG_LEVEL="warning", VDB_HTTP_THREADS="1")
p = subprocess.Popen([binary, "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
url = f"http://127.0.0.1:{port}"
for _ in range(100):
    try:
        requests.get(url + "/health", timeout=1); break
    except Exception: time.sleep(0.1)
H = {"X-API-Key": "k"}
buf = io.BytesIO(); np.save(buf, np.random.rand(50000, 8).astype(np.float32))
r = requests.post(url + "/v1/batch/upload", data={"user_id": "u", "model_id": "m", "chunk_size": "1"},
                  files={"file": ("v.npy", buf.getvalue())}, headers=H, timeout=30)
assert r.status_code == 202, r.text
res = {}
def freeze():
    t = time.time()
    r = requests.post(url + "/admin/freeze", json={"user_id": "u", "frozen": True}, headers=H, timeout=120)
    res["freeze"] = (r.status_code, time.time() - t)
th = threading.Thread(target=freeze); th.start(); time.sleep(0.2)
t = time.time()
try:
    h = requests.get(url + "/health", timeout=60).status_code
except Exception as e:
    h = repr(e)[:40]
res["health"] = (h, time.time() - t)
th.join()
print(binary, res)
p.terminate(); p.wait(60)
shutil.rmtree(d, ignore_errors=True)
