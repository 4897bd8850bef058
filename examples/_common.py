"""Shared bits of the demos: argument parsing and the client import (the
demos use clients/python/vdb_client from this repository)."""
import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "clients",
                                "python"))
from vdb_client import VDBClient, VDBError  # noqa: E402,F401


def parse_args(description, admin=False):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--url", default=os.environ.get("VDB_URL", "http://127.0.0.1:8000"),
                   help="server URL (default $VDB_URL or http://127.0.0.1:8000)")
    p.add_argument("--key", default=os.environ.get("VDB_API_KEY")
                   or os.environ.get("VECTOR_DB_API_KEY"),
                   help="API key (default $VDB_API_KEY, then $VECTOR_DB_API_KEY)")
    if admin:
        p.add_argument("--admin-key", default=os.environ.get("VDB_ADMIN_KEY")
                       or os.environ.get("VECTOR_DB_ADMIN_KEY"),
                       help="admin key, needed to create per-user keys "
                            "(default $VDB_ADMIN_KEY, then $VECTOR_DB_ADMIN_KEY)")
    p.add_argument("--short", action="store_true", help="small sizes (a few seconds)")
    p.add_argument("--user", default="demo_user", help="user_id to use (default demo_user)")
    return p


def check(cond, what):
    """Demos check what they show; a wrong answer stops with exit code 1."""
    if not cond:
        print(f"CHECK FAILED: {what}", file=sys.stderr)
        sys.exit(1)


def table(rows, headers):
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *rows)]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    print(line.format(*headers))
    print("  ".join("-" * w for w in widths))
    for r in rows:
        print(line.format(*r))
