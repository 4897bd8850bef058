#!/usr/bin/python3
"""Many stores (issue 11 item 2): creates S stores with one vector each
under a descriptor limit, then reports the server's peak descriptors, the
open-store cap and the SIGTERM shutdown time.

  /usr/bin/python3 bench/store_many.py [--vdb build/vdb] [--stores 2000] [--nofile 65536]
"""
import argparse
import os
import signal
import tempfile
import time

import requests

from store_restart import KEY, start


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vdb", default="build/vdb")
    ap.add_argument("--stores", type=int, default=2000)
    ap.add_argument("--nofile", type=int, default=65536)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="vdb-many-") as data:
        proc, url, _ = start(os.path.abspath(a.vdb), data, nofile=a.nofile,
                             extra_env={"VDB_FSYNC": "off"})
        s = requests.Session()
        s.headers["X-API-Key"] = KEY
        base = len(os.listdir(f"/proc/{proc.pid}/fd"))
        peak, errors, t0 = base, 0, time.time()
        for i in range(a.stores):
            body = {"user_id": "many", "model_id": f"m{i:05d}"}
            r1 = s.post(url + "/admin/create_store", json={**body, "dimension": 2})
            r2 = s.post(url + "/vectors/add", json={**body, "vectors": [[1.0, float(i)]]})
            errors += (r1.status_code != 200) + (r2.status_code != 200)
            if i % 100 == 0:
                peak = max(peak, len(os.listdir(f"/proc/{proc.pid}/fd")))
        peak = max(peak, len(os.listdir(f"/proc/{proc.pid}/fd")))
        reg = s.get(url + "/monitoring/status").json()["registry"]
        print(f"{a.stores} stores created in {time.time() - t0:.1f} s, {errors} errors; "
              f"RLIMIT_NOFILE {a.nofile}: cap {reg['max_open_stores']}, open {reg['open_stores']}, "
              f"idle closes {reg['idle_closes']}; fds {base} at start, peak {peak}")
        t0 = time.time()
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait()
        print(f"shutdown (SIGTERM to exit) with {reg['open_stores']} open stores: "
              f"{time.time() - t0:.2f} s, exit {rc}")


if __name__ == "__main__":
    main()
