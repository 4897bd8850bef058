#!/usr/bin/python3
"""Writes RUN_DIR/keys.map (SHA-256 hex of each per-user key -> its
user_id) from node1's key file, the cluster's master copy, and, when
HAProxy runs, swaps its live copy of the map in one step (runtime API
`prepare map` / `add map @V` / `commit map @V`, no reload). HAProxy routes
a request that names no tenant by its key's tenant through this map
(haproxy.cfg). The key file holds only unsalted SHA-256 hashes of the
keys, so the map holds no key either. Called by keys.sh and start.sh.

    keymap.py RUN_DIR"""
import json
import os
import re
import socket
import sys

NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
HEX = re.compile(r"^[0-9a-f]{64}$")


def runtime(sock, command):
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(sock)
        s.sendall(command.encode() + b"\n")
        out = b""
        while chunk := s.recv(65536):
            out += chunk
    return out.decode(errors="replace")


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: keymap.py RUN_DIR")
    run = os.path.abspath(sys.argv[1])
    path = os.path.join(run, "keys.map")
    entries = []
    try:
        with open(os.path.join(run, "node1", ".vdb_auth.json")) as f:
            keys = json.load(f).get("keys", [])
    except FileNotFoundError:
        keys = []
    for k in keys:
        sha, user = str(k.get("sha256", "")).lower(), str(k.get("user_id", ""))
        if HEX.match(sha) and NAME.match(user):
            entries.append((sha, user))
    tmp = f"{path}.tmp.{os.getpid()}"
    with open(tmp, "w") as f:
        f.writelines(f"{sha} {user}\n" for sha, user in entries)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    sock = os.path.join(run, "haproxy.sock")
    try:
        answer = runtime(sock, f"prepare map {path}")
    except (FileNotFoundError, ConnectionRefusedError):
        return  # HAProxy is not running: it loads the file when it starts
    m = re.search(r"New version created: (\d+)", answer)
    if not m:
        sys.exit(f"keymap.py: prepare map: {answer.strip()}")
    version = m.group(1)
    for sha, user in entries:
        answer = runtime(sock, f"add map @{version} {path} {sha} {user}")
        if answer.strip():
            sys.exit(f"keymap.py: add map: {answer.strip()}")
    answer = runtime(sock, f"commit map @{version} {path}")
    if answer.strip():
        sys.exit(f"keymap.py: commit map: {answer.strip()}")


if __name__ == "__main__":
    main()
