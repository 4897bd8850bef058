"""Connection-exhaustion attackers and a normal client, for the HTTP layer's
availability tests. `Attack` runs in a child process: idle sockets that
never send a byte, slowloris senders (one header line every half second),
slow-body senders (a byte of body every half second) and bursts of sockets
that send half a request and hang up. Sockets the server closes are
reopened, so the pressure stays on.

Run directly for the long variant (`make test-attack`):
    python3 tests/e2e/attack.py [seconds]
It starts its own server, runs the attack of main() and prints the normal
client's latency figures; exit status 1 when p99 >= 100 ms or any error."""
import multiprocessing
import resource
import socket
import sys
import time

import requests  # noqa: E402 (main only)

KEY = "e2e-admin-key-0123456789"


def _raise_fd_limit(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(need, hard), hard))


class Attack:
    def __init__(self, port, source="127.0.0.2", idle=0, slow_header=0, slow_body=0,
                 half_closed=0, key=KEY, rate=500):
        # `source` is one address or a list: sockets take them in turn, so
        # an attack can stay under the server's per-address bound and reach
        # its total connection limit instead.
        self.port, self.key = port, key
        self.sources = [source] if isinstance(source, str) else list(source)
        self._next_source = 0
        self.rate = rate  # new connections per second, as slowhttptest -r
        self.want = {"idle": idle, "slow_header": slow_header, "slow_body": slow_body}
        self.half_closed = half_closed
        self.socks = {k: [] for k in self.want}
        # A separate process, so the attackers' work does not share the
        # measuring client's interpreter lock and inflate its latency.
        self.stop = multiprocessing.Event()
        self._opened = multiprocessing.Value("l", 0)
        _raise_fd_limit(2 * (idle + slow_header + slow_body + half_closed) + 512)

    def _open(self, kind):
        s = socket.socket()
        s.setblocking(False)
        source = self.sources[self._next_source % len(self.sources)]
        self._next_source += 1
        try:
            s.bind((source, 0))
            s.connect_ex(("127.0.0.1", self.port))
        except OSError:
            s.close()
            return None
        with self._opened.get_lock():
            self._opened.value += 1
        return [s, kind, 0]

    def _first_bytes(self, entry):
        s, kind, _ = entry
        try:
            if kind == "slow_header":
                s.send(b"GET /vectors/ping HTTP/1.1\r\nHost: x\r\n")
            elif kind == "slow_body":
                s.send(b"POST /vectors/add HTTP/1.1\r\nHost: x\r\nX-API-Key: " + self.key.encode() +
                       b"\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{")
        except OSError:
            pass
        entry[2] = 1

    def _alive(self, s):
        try:
            s.recv(4096)
            return False  # an answer or EOF: the server has ended it, open another
        except BlockingIOError:
            return True
        except OSError:
            return False

    def _run(self):
        tick = 0
        while not self.stop.is_set():
            budget = max(1, int(self.rate * 0.1))  # opens allowed this 100 ms tick
            for kind, n in self.want.items():
                live = []
                for entry in self.socks[kind]:
                    if self._alive(entry[0]):
                        live.append(entry)
                    else:
                        entry[0].close()
                self.socks[kind] = live
                while len(self.socks[kind]) < n and budget > 0 and not self.stop.is_set():
                    entry = self._open(kind)
                    if entry is None:
                        break
                    budget -= 1
                    self.socks[kind].append(entry)
            time.sleep(0.05)
            for kind in ("slow_header", "slow_body"):
                for entry in self.socks[kind]:
                    try:
                        if entry[2] == 0:
                            self._first_bytes(entry)
                        elif tick % 10 == 0:
                            entry[0].send(b"X-a: b\r\n" if kind == "slow_header" else b"1")
                    except OSError:
                        pass
            if tick % 20 == 0 and self.half_closed:  # a burst of half requests that hang up
                burst = []
                for _ in range(self.half_closed):
                    entry = self._open("half")
                    if entry:
                        burst.append(entry[0])
                time.sleep(0.02)
                for s in burst:
                    try:
                        s.send(b"POST /vectors/add HTTP/1.1\r\nHost: x\r\nContent-Le")
                    except OSError:
                        pass
                    s.close()
            tick += 1
            time.sleep(0.05)
        for socks in self.socks.values():
            for entry in socks:
                entry[0].close()

    @property
    def opened(self):
        return self._opened.value

    def __enter__(self):
        self.proc = multiprocessing.get_context("fork").Process(target=self._run, daemon=True)
        self.proc.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.proc.join(10)
        if self.proc.is_alive():
            self.proc.kill()


def measure(port, seconds, key=KEY, source="127.0.0.1"):
    """A normal client without keep-alive: a new connection per request
    (from `source`). Returns (latencies in seconds, error count)."""
    lat, errors = [], 0
    request = (b"GET /vectors/ping HTTP/1.1\r\nHost: x\r\nX-API-Key: " + key.encode() +
               b"\r\nConnection: close\r\n\r\n")
    end = time.time() + seconds
    while time.time() < end:
        t0 = time.time()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=10,
                                          source_address=(source, 0)) as s:
                s.sendall(request)
                data = b""
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    data += chunk
            if not data.startswith(b"HTTP/1.1 200 "):
                errors += 1
        except OSError:
            errors += 1
        lat.append(time.time() - t0)
        time.sleep(0.01)
    return lat, errors


def main():
    """1,500 idle sockets (127.0.0.2), 1,100 slowloris and 300 slow-body
    connections (slowhttptest when installed, from 127.0.0.1, as in the
    issue; else the Python attackers from 127.0.0.3) and bursts of 500
    half-closed sockets (127.0.0.4); the normal client runs from 127.0.0.9."""
    import shutil
    import subprocess
    import tempfile
    sys.path.insert(0, __file__.rsplit("/", 1)[0])
    from conftest import Server
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 60
    _raise_fd_limit(8192)
    with tempfile.TemporaryDirectory() as tmp:
        srv = Server(tmp).start()
        tools = []
        try:
            base_lat, _ = measure(srv.port, 3, source="127.0.0.9")
            length = str(int(seconds + 10))
            if shutil.which("slowhttptest"):
                url = f"http://127.0.0.1:{srv.port}"
                for args in (["-H", "-c", "1100", "-i", "5", "-r", "500", "-u", url + "/vectors/ping"],
                             ["-B", "-c", "300", "-i", "5", "-r", "200", "-s", "100000",
                              "-t", "POST", "-u", url + "/vectors/add"]):
                    tools.append(subprocess.Popen(["slowhttptest", *args, "-l", length, "-p", "3"],
                                                  stdout=subprocess.DEVNULL,
                                                  stderr=subprocess.DEVNULL))
                slow = dict()
                print("slowloris and slow body: slowhttptest -c 1100 -H -i 5 -r 500 and "
                      "-c 300 -B -i 5 -r 200 (from 127.0.0.1)")
            else:
                slow = dict(slow_header=1100, slow_body=300)
                print("slowloris and slow body: Python attackers (slowhttptest not installed)")
            with Attack(srv.port, "127.0.0.2", idle=1500) as a1, \
                 Attack(srv.port, "127.0.0.3", **slow) as a2, \
                 Attack(srv.port, "127.0.0.4", half_closed=500) as a3:
                time.sleep(3)
                lat, errors = measure(srv.port, seconds, source="127.0.0.9")
                opened = a1.opened + a2.opened + a3.opened

            def pct(sample, q):
                return sample[max(0, int(len(sample) * q) - 1)] * 1e3
            for name, sample in (("baseline", base_lat), ("under attack", lat)):
                sample.sort()
                print(f"{name}: {len(sample)} requests, p50 {pct(sample, 0.5):.1f} ms, "
                      f"p99 {pct(sample, 0.99):.1f} ms, max {sample[-1] * 1e3:.1f} ms")
            print(f"errors under attack: {errors}; Python attacker sockets opened: {opened}")
            metrics = requests.get(srv.url + "/monitoring/metrics", headers={"X-API-Key": KEY}).text
            print("\n".join(l for l in metrics.splitlines() if l.startswith("vdb_http_connections")))
            sys.exit(1 if errors or pct(lat, 0.99) >= 100 else 0)
        finally:
            for t in tools:
                t.terminate()
                t.wait()
            srv.stop()


if __name__ == "__main__":
    main()
