#!/usr/bin/python3
"""Sends one command to HAProxy's runtime API (a UNIX socket) and prints
the answer; exits 1 when HAProxy answers with an error. Used by place.sh
(Debian's haproxy ships no socat dependency).

    runtime.py SOCKET 'show map'"""
import socket
import sys


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: runtime.py SOCKET COMMAND")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(sys.argv[1])
        s.sendall(sys.argv[2].encode() + b"\n")
        out = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
    text = out.decode(errors="replace")
    sys.stdout.write(text)
    # Successful map edits answer an empty line; errors answer text.
    low = text.lower()
    sys.exit(1 if ("unknown" in low or "error" in low or "not found" in low
                   or "failed" in low) else 0)


if __name__ == "__main__":
    main()
