"""The seed README's quickstart ("Erste Schritte"), verbatim apart from
BASE_URL and API_KEY, which point at the test server."""
import pytest

import conftest


@pytest.fixture
def readme_globals(server):
    return {"BASE_URL": server.url, "API_KEY": conftest.API_KEY}


QUICKSTART = '''
import requests
import numpy as np

headers = {"X-API-Key": API_KEY, "Content-Type": "application/json"}

# Store erstellen
create_payload = {"user_id": "test_user", "model_id": "test_model"}
response = requests.post(f"{BASE_URL}/admin/create_store", json=create_payload, headers=headers)

# Vektoren hinzufügen (MLX-optimiert)
vectors = np.random.rand(100, 384).astype(np.float32)
metadata = [{"id": f"doc_{i}", "source": "test"} for i in range(100)]

add_payload = {
    "user_id": "test_user",
    "model_id": "test_model", 
    "vectors": vectors.tolist(),
    "metadata": metadata
}
response = requests.post(f"{BASE_URL}/admin/add_test_vectors", json=add_payload, headers=headers)

# Vektoren abfragen
query_vector = vectors[0].tolist()
query_payload = {
    "user_id": "test_user",
    "model_id": "test_model",
    "query": query_vector,
    "k": 5
}
response = requests.post(f"{BASE_URL}/vectors/query", json=query_payload, headers=headers)
results = response.json()
'''


def test_readme_quickstart(readme_globals, admin):
    ns = dict(readme_globals)
    exec(QUICKSTART, ns)
    assert ns["response"].status_code == 200
    results = ns["results"]["results"]
    assert len(results) == 5
    assert results[0]["id"] == "doc_0" and results[0]["source"] == "test"
    assert results[0]["similarity_score"] > 0.999
    assert results[0]["metadata"] == {"id": "doc_0", "source": "test"}
    scores = [r["similarity_score"] for r in results]
    assert scores == sorted(scores, reverse=True)
    st = admin.get("/admin/store/stats", params={"user_id": "test_user", "model_id": "test_model"})
    assert st.json()["vectors"] == 100 and st.json()["metadata"] == 100
    # Re-running: create answers 409, the rest still works (upsert by id).
    ns2 = dict(readme_globals)
    exec(QUICKSTART, ns2)
    assert ns2["response"].status_code == 200
    assert admin.get("/vectors/count", params={"user_id": "test_user",
                                              "model_id": "test_model"}).json()["count"] == 100
