#!/usr/bin/python3
"""A small HTTP load generator for machines without wrk: PROCS processes
(no shared GIL), each with CONNS/PROCS keep-alive connections, POSTing
/vectors/query bodies (one JSON document per line of PAYLOAD) for DUR
seconds. Prints "QPS P99 errors=N". It spends CPU of its own, so on a small
box its figures are lower than wrk's; use it to compare setups, not as an
absolute.

    pyload.py URL PAYLOAD KEY DUR CONNS PROCS"""
import http.client
import multiprocessing as mp
import sys
import threading
import time


def worker(host, port, bodies, key, dur, conns, q):
    lat, errs = [], [0]
    end = time.perf_counter() + dur

    def conn(offset):
        c = http.client.HTTPConnection(host, port, timeout=30)
        i = offset
        while time.perf_counter() < end:
            t0 = time.perf_counter()
            c.request("POST", "/vectors/query", bodies[i % len(bodies)],
                      {"Content-Type": "application/json", "X-API-Key": key})
            r = c.getresponse()
            r.read()
            if r.status != 200:
                errs[0] += 1
            lat.append(time.perf_counter() - t0)
            i += 7

    threads = [threading.Thread(target=conn, args=(k * 131,)) for k in range(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    q.put((lat, errs[0]))


def main():
    url, payload, key, dur, conns, procs = sys.argv[1:7]
    host, port = url.split("//")[1].rstrip("/").split(":")
    bodies = open(payload, "rb").read().splitlines()
    dur, conns, procs = float(dur), int(conns), int(procs)
    q = mp.Queue()
    ps = [mp.Process(target=worker, args=(host, int(port), bodies, key, dur,
                                          max(1, conns // procs), q)) for _ in range(procs)]
    for p in ps:
        p.start()
    res = [q.get() for _ in ps]
    for p in ps:
        p.join()
    lat = sorted(x for r in res for x in r[0])
    errs = sum(r[1] for r in res)
    print(f"{len(lat) / dur:.0f} {lat[int(len(lat) * 0.99)] * 1000:.1f}ms errors={errs}")


if __name__ == "__main__":
    main()
