"""README-era performance and monitoring shapes (issue 12): the fields the
original's performance_demo.py and enterprise_demo.py read, served beside
today's, with values that come from measurement."""
import numpy as np
import pytest

from conftest import assert_error


def make_store(admin, uid, mid, dim=16, n=0):
    r = admin.post("/admin/create_store", json={"user_id": uid, "model_id": mid, "dimension": dim})
    assert r.status_code == 200, r.text
    if n:
        rng = np.random.default_rng(5)
        r = admin.post("/vectors/add", json={"user_id": uid, "model_id": mid,
                                             "vectors": rng.standard_normal((n, dim)).tolist(),
                                             "metadata": [{"id": f"v{i}"} for i in range(n)]})
        assert r.status_code == 200, r.text


def test_performance_health_readme_fields(anon):
    d = anon.get("/performance/health").json()
    # today's fields stay
    assert d["status"] == "healthy" and "compute" in d and "stores_loaded" in d
    assert d["mlx_operations"] == "working"
    assert d["cache_status"] in ("active", "disabled")
    assert isinstance(d["cache_entries"], int) and d["cache_entries"] >= 0
    # measured: the self-test's error is a real small number, and it took time
    assert 0 <= d["compute"]["selftest_max_relative_error"] < 1e-3
    assert d["compute"]["selftest_ms"] > 0
    assert "sgemm" in d["tested_operations"] and d["timestamp"] > 1.7e9


def test_cache_status_follows_configuration(fresh_dir):
    from conftest import Server
    srv = Server(fresh_dir, env={"VDB_QUERY_CACHE_MB": "0"}).start()
    try:
        import requests
        d = requests.get(srv.url + "/performance/health", timeout=30).json()
        assert d["cache_status"] == "disabled" and d["cache_entries"] == 0
    finally:
        srv.stop()


def test_warmup_dimension(admin):
    r = admin.post("/performance/warmup?dimension=384")
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["status"] == "warmup_completed" and d["dimension"] == 384
    assert 0 < d["warmup_time_seconds"] < 60
    assert d["warmup_time_ms"] == pytest.approx(d["warmup_time_seconds"] * 1e3)
    assert "sgemm" in d["operations_tested"]
    for bad in ("0", "-3", "abc", "1000000"):
        assert_error(admin.post("/performance/warmup?dimension=" + bad), 422)
    # without a dimension it is today's store warmup
    r = admin.post("/performance/warmup", json={})
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["status"] == "warmed" and "dimension" not in d


def test_benchmark_readme_request_and_sections(admin):
    make_store(admin, "cmp_bench", "m", dim=32)
    body = {"user_id": "cmp_bench", "model_id": "m", "test_size": 600, "query_count": 40,
            "vector_dim": 32}
    r = admin.post("/performance/benchmark", json=body)
    assert r.status_code == 200, r.text
    res = r.json()["benchmark_results"]
    assert res["num_vectors"] == 600 and res["num_queries"] == 40
    for sec in ("data_generation", "vector_addition", "single_query", "batch_query",
                "cache_performance", "summary"):
        assert isinstance(res[sec], dict), sec
    assert res["vector_addition"]["vectors_added"] == 600
    assert res["vector_addition"]["vectors_per_second"] > 0
    assert res["data_generation"]["vectors_generated"] == 640
    assert res["single_query"]["queries"] == 40 and res["single_query"]["queries_per_second"] > 0
    assert res["single_query"]["p50_latency_ms"] <= res["single_query"]["p99_latency_ms"]
    assert res["batch_query"]["queries"] == 40 and res["batch_query"]["queries_per_second"] > 0
    cp = res["cache_performance"]
    # the second lookup of each query is a real hit in the scratch cache
    assert cp["queries"] == 32 and cp["cache_hits"] == 32 and cp["cache_misses"] == 32
    assert cp["served_from_cache"] == 32 and cp["hit_rate_percent"] == pytest.approx(50)
    assert cp["cached_avg_ms"] < cp["uncached_avg_ms"]
    s = res["summary"]
    assert s["vectors_per_second"] == pytest.approx(res["vector_addition"]["vectors_per_second"])
    assert 0.5 <= s["recall_at_k"] <= 1.0
    assert s["total_time_seconds"] >= res["vector_addition"]["time_seconds"]
    # numbers differ between runs: they are measured, not canned
    r2 = admin.post("/performance/benchmark", json=body).json()["benchmark_results"]
    assert r2["vector_addition"]["time_seconds"] != res["vector_addition"]["time_seconds"]
    # the caller's store is untouched
    assert admin.get("/vectors/count?user_id=cmp_bench&model_id=m").json()["count"] == 0
    # a vector_dim that does not match the store is refused
    assert_error(admin.post("/performance/benchmark", json={**body, "vector_dim": 64}), 422)
    assert_error(admin.post("/performance/benchmark",
                            json={**body, "model_id": "absent"}), 404)


def test_optimize_force_rebuild(admin):
    make_store(admin, "cmp_opt", "m", dim=8, n=50)
    admin.post("/vectors/delete", json={"user_id": "cmp_opt", "model_id": "m",
                                        "filter_metadata": {"id": "v1"}})
    r = admin.post("/performance/optimize?user_id=cmp_opt&model_id=m&force_rebuild_index=true")
    assert r.status_code == 200, r.text
    d = r.json()
    o = d["optimization_results"]
    assert o["force_rebuild_index"] is True and o["index_rebuilt"] is True
    assert o["vectors_optimized"] == 49 == d["vectors_optimized"]
    assert o["rows_after"] == 49 and o["tombstones_removed"] == o["rows_before"] - 49
    assert o["time_seconds"] >= 0 and d["total_time_seconds"] == o["time_seconds"]
    # A flat 50-row store has no graph to calibrate: nothing goes on after.
    assert o["calibrating"] is False
    assert d["user_id"] == "cmp_opt" and d["model_id"] == "m"
    assert_error(admin.post("/performance/optimize?user_id=cmp_opt&model_id=m"
                            "&force_rebuild_index=maybe"), 422)


def test_metrics_summary_cache_and_cpu(admin):
    make_store(admin, "cmp_sum", "m", dim=4, n=3)
    q = {"user_id": "cmp_sum", "model_id": "m", "query": [1, 0, 0, 0], "k": 2}
    before = admin.get("/monitoring/metrics/summary").json()["summary"]["cache"]
    admin.post("/vectors/query", json=q)
    admin.post("/vectors/query", json=q)
    d = admin.get("/monitoring/metrics/summary").json()
    s = d["summary"]
    c = s["cache"]
    assert c["misses"] >= before["misses"] + 1 and c["hits"] >= before["hits"] + 1
    assert 0 < c["hit_rate_percent"] <= 100 and c["memory_usage_mb"] > 0
    cpu = s["system"]["cpu_usage_percent"]
    assert isinstance(cpu, float) and 0 <= cpu <= 100
    assert {"requests", "vector_operations", "system", "errors"} <= set(s)


def test_monitoring_status_readme_fields(admin):
    d = admin.get("/monitoring/status").json()
    assert d["status"] in ("healthy", "degraded") and "stores" in d and "resources" in d
    h = d["health"]
    assert h["overall_status"] in ("healthy", "warning", "unhealthy")
    assert {"disk_space", "memory_usage", "stores"} <= set(h["checks"])
    ind = d["performance_indicators"]
    assert set(ind) == {"response_time_ok", "cache_performance_ok", "error_rate_ok",
                        "resource_usage_ok"}
    assert all(isinstance(v, bool) for v in ind.values())
    f = d["performance_figures"]
    assert f["requests"] > 0 and 0 <= f["error_rate"] <= 1
    assert ind["error_rate_ok"] == (f["error_rate"] < 0.05)
    assert d["status"] == ("degraded" if h["overall_status"] == "unhealthy" else "healthy")
    assert d["all_indicators_ok"] == all(ind.values())


def test_error_rate_indicator_reacts(fresh_dir):
    """A burst of errors on a quiet server turns error_rate_ok false."""
    from conftest import Server, Client, ADMIN_KEY
    srv = Server(fresh_dir).start()
    try:
        c = Client(srv.url, ADMIN_KEY)
        assert c.get("/monitoring/status").json()["performance_indicators"]["error_rate_ok"]
        for _ in range(20):
            c.get("/vectors/count?user_id=nobody&model_id=none")
        d = c.get("/monitoring/status").json()
        assert d["performance_indicators"]["error_rate_ok"] is False
        assert d["all_indicators_ok"] is False
        a = c.post("/monitoring/alerts/test?alert_type=error_spike").json()["alert"]
        assert a["firing"] is True and a["value"] > a["threshold"]
    finally:
        srv.stop()


def test_alerts_test(admin, anon):
    for t in ("test", "high_cpu", "low_disk", "error_spike"):
        r = admin.post("/monitoring/alerts/test?alert_type=" + t)
        assert r.status_code == 200, r.text
        d = r.json()
        assert d["alert_type"] == t and d["status"] == "test_alert_sent"
        assert isinstance(d["alert"]["firing"], bool)
    a = admin.post("/monitoring/alerts/test?alert_type=low_disk").json()["alert"]
    assert 0 <= a["value"] <= 100 and a["threshold"] == 10
    assert_error(admin.post("/monitoring/alerts/test?alert_type=meteor"), 422)
    assert_error(anon.post("/monitoring/alerts/test?alert_type=test"), 401)


def test_benchmark_today_request_still_works(admin):
    make_store(admin, "cmp_bench2", "m", dim=8)
    r = admin.post("/performance/benchmark", json={"user_id": "cmp_bench2", "model_id": "m",
                                                   "num_vectors": 200, "num_queries": 10})
    assert r.status_code == 200, r.text
    res = r.json()["benchmark_results"]
    assert res["num_vectors"] == 200 and res["qps"] > 0 and "summary" in res
    assert_error(admin.post("/performance/benchmark", json={"user_id": "cmp_bench2", "model_id": "m",
                                                            "vector_dim": 0}), 422)
