"""The demos in examples/ run (short mode) against the real server and pass."""
import os
import subprocess
import sys

import pytest

from conftest import ADMIN_KEY, API_KEY

EXAMPLES = os.path.join(os.path.dirname(__file__), "../../examples")


def run(script, server, *args, key=API_KEY):
    env = dict(os.environ, VDB_URL=server.url, VDB_API_KEY=key, VDB_ADMIN_KEY=ADMIN_KEY)
    return subprocess.run([sys.executable, os.path.join(EXAMPLES, script), "--short", *args],
                          env=env, capture_output=True, text=True, timeout=300)


def test_demo(server):
    r = run("demo.py", server)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "demo OK" in r.stdout and "batch query top-1" in r.stdout


def test_performance_demo(server, tmp_path):
    png = tmp_path / "perf.png"
    r = run("performance_demo.py", server, "--png", str(png))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "mlx_operations=working" in r.stdout and "QPS" in r.stdout
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert "no plot" in r.stdout
    else:
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_enterprise_demo(server):
    r = run("enterprise_demo.py", server, "--user", "ent")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "enterprise demo OK" in r.stdout and "tenant" not in r.stderr


def test_demo_reports_a_wrong_key(server):
    r = run("demo.py", server, key="not-a-key-0000000000")
    assert r.returncode != 0 and "401" in r.stderr
