"""Our Python client (clients/python/vdb_client) against the real server."""
import io
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "../../clients/python"))
from vdb_client import (VDBClient, VDBError, AuthenticationError, ForbiddenError,  # noqa: E402
                        NotFoundError, ConflictError, ValidationError, VDBConnectionError,
                        ProgressBar)
from conftest import ADMIN_KEY, API_KEY, free_port  # noqa: E402


@pytest.fixture
def client(server):
    return VDBClient(server.url, ADMIN_KEY)


def test_store_lifecycle_and_vectors(client):
    assert client.health()["status"] == "healthy"
    assert client.performance_health()["mlx_operations"] == "working"
    client.create_store("cl_user", "m", dimension=8)
    with pytest.raises(ConflictError) as e:
        client.create_store("cl_user", "m", dimension=8)
    assert e.value.status == 409 and "exists" in e.value.message
    rng = np.random.default_rng(1)
    vecs = rng.standard_normal((20, 8)).astype(np.float32)
    r = client.add_vectors("cl_user", "m", vecs, [{"id": f"d{i}", "lang": "en" if i % 2 else "de"}
                                                 for i in range(20)])
    assert r["vectors_added"] == 20
    assert client.count("cl_user", "m") == 20 == client.count_vectors("cl_user", "m")
    hits = client.query("cl_user", "m", vecs[3], k=3)
    assert hits[0]["metadata"]["id"] == "d3" and hits[0]["similarity_score"] > 0.999
    hits = client.query("cl_user", "m", vecs[3], k=5, filter_metadata={"lang": "en"})
    assert all(h["metadata"]["lang"] == "en" for h in hits)
    res = client.batch_query("cl_user", "m", vecs[:4].tolist(), k=1)
    assert [r[0]["metadata"]["id"] for r in res] == ["d0", "d1", "d2", "d3"]
    assert client.delete_vectors("cl_user", "m", filter_metadata={"lang": "de"}) == 10
    assert client.count("cl_user", "m") == 10
    stats = client.get_store_stats("cl_user", "m")
    assert stats["vectors"] == 10
    assert any(s.get("model_id") == "m" for s in client.list_stores("cl_user")["stores"])
    client.delete_store("cl_user", "m", force=True)
    assert not client.store_exists("cl_user", "m")


def test_typed_errors_carry_server_message(server, client):
    with pytest.raises(NotFoundError) as e:
        client.count("cl_nobody", "none")
    assert e.value.status == 404 and e.value.code == "HTTP_404" and e.value.message
    assert "cl_nobody" in e.value.message or "not found" in e.value.message.lower()
    client.create_store("cl_err", "m", dimension=4)
    with pytest.raises(ValidationError) as e:
        client.add_vectors("cl_err", "m", [[1, 2, 3]])
    assert e.value.status == 422 and "dimension" in e.value.message.lower()
    with pytest.raises(AuthenticationError):
        VDBClient(server.url, "wrong-key-000000000000").count("cl_err", "m")
    with pytest.raises(ForbiddenError):
        VDBClient(server.url, API_KEY).create_user_key("x")
    with pytest.raises(VDBConnectionError):
        VDBClient(f"http://127.0.0.1:{free_port()}", ADMIN_KEY, timeout=2).health()
    assert issubclass(NotFoundError, VDBError)


def test_chunked_add_with_progress_bar(client):
    client.create_store("cl_bulk", "m", dimension=16)
    vecs = np.random.default_rng(2).standard_normal((2500, 16)).astype(np.float32)
    out = io.StringIO()
    r = client.add_vectors_chunked("cl_bulk", "m", vecs, [{"id": str(i)} for i in range(2500)],
                                   batch_size=1000, stream=out)
    assert r["vectors_added"] == 2500 and r["vectors_per_second"] > 0
    assert client.count("cl_bulk", "m") == 2500
    final = out.getvalue().strip().splitlines()[-1]
    assert "100.0%" in final and "2500/2500" in final
    # a failing chunk stops the upload and reports how much went in
    bad = vecs[:1500].tolist()
    bad[1200] = [0.0] * 15
    with pytest.raises(ValidationError) as e:
        client.add_vectors_chunked("cl_bulk", "m", bad, batch_size=1000, progress=False)
    assert e.value.body["added_before_failure"] == 1000


def test_progress_bar_math():
    out = io.StringIO()
    bar = ProgressBar(200, stream=out)
    bar.update(50)
    assert "25.0%" in bar.render() and "50/200" in bar.render()
    bar.update(150)
    bar.close()
    assert "100.0%" in out.getvalue()


def test_export_import_and_perf_calls(client, tmp_path):
    client.create_store("cl_zip", "m", dimension=4)
    client.add_vectors("cl_zip", "m", [[1, 0, 0, 0], [0, 1, 0, 0]], [{"id": "a"}, {"id": "b"}])
    blob = client.export_zip("cl_zip", "m")
    assert blob[:2] == b"PK"
    client.import_zip("cl_zip", "copy", blob)
    assert client.count("cl_zip", "copy") == 2
    p = tmp_path / "s.zip"
    p.write_bytes(blob)
    client.import_zip("cl_zip", "copy", str(p), overwrite=True)
    assert client.count("cl_zip", "copy") == 2
    assert client.warmup(dimension=64)["warmup_time_seconds"] > 0
    b = client.benchmark("cl_zip", "m", test_size=300, query_count=10)
    assert b["summary"]["vectors_per_second"] > 0
    assert client.optimize_store("cl_zip", "m", True)["optimization_results"]["index_rebuilt"]
    assert "cpu_usage_percent" in client.metrics_summary()["system"]
    assert "performance_indicators" in client.monitoring_status()
    assert "vector_queries_total" in client.metrics("prometheus")
    assert client.test_alert("low_disk")["alert"]["metric"] == "disk_free_percent"


def _has_batch_routes(client):
    try:
        client.get_batch_progress("no-such-operation")
    except NotFoundError as e:
        # a 404 for the operation (not for the route) means the routes exist
        return "operation" in e.message.lower()
    return True


def test_v1_batch_methods(client, tmp_path):
    if not _has_batch_routes(client):
        pytest.skip("this server has no /v1/batch routes")
    client.create_store("cl_v1", "m", dimension=8)
    vecs = np.random.default_rng(3).standard_normal((300, 8)).astype(np.float32)
    r = client.batch_add_vectors("cl_v1", "m", vecs, [{"id": f"v{i}"} for i in range(300)],
                                 batch_size=100)
    assert r["success"] and r["total_processed"] == 300
    assert client.count("cl_v1", "m") == 300
    r = client.batch_add_vectors("cl_v1", "m2", vecs, batch_size=100, enable_streaming=True)
    op = r["operation_id"]
    events = list(client.stream_batch_progress(op))
    assert events and events[-1]["progress_percent"] >= 100
    assert client.wait_for_operation(op, progress=False)["items_processed"] == 300
    assert any(o.get("operation_id") == op for o in client.list_operations()["operations"])
    npy = tmp_path / "v.npy"
    np.save(npy, vecs)
    client.upload_file("cl_v1", "up", str(npy))
