"""Property-based API test (reliability plan V13): hypothesis drives random
sequences of add (insert and upsert), delete, query, count, export and
import, valid and invalid, against a real `vdb serve` and a Python model of
the store (id -> float32 vector, metadata).

Properties, checked after every step:
- a 2xx answer means the server now equals the model (count, and for
  queries the exact nearest neighbours with their distances and metadata);
- a 4xx answer means nothing changed (the model is not touched and the
  next full comparison must still hold);
- never a 5xx, never a dropped connection (requests raises, the test fails).

Bounded for CI: VDB_PROPERTY_EXAMPLES (default 25) state machines of up
to VDB_PROPERTY_STEPS (default 25) steps each. A failure prints the
shrunk sequence of calls (a replayable script of the failing run);
`pytest --hypothesis-seed=N` fixes the generator's seed."""
import io
import itertools
import os
import zipfile

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, settings, strategies as st  # noqa: E402
from hypothesis.stateful import (RuleBasedStateMachine, initialize, invariant,  # noqa: E402
                                 precondition, rule, run_state_machine_as_test)

DIM = 4
IDS = [f"p{i}" for i in range(8)]  # a small pool, so upserts and deletes hit
EXAMPLES = int(os.environ.get("VDB_PROPERTY_EXAMPLES", "25"))
STEPS = int(os.environ.get("VDB_PROPERTY_STEPS", "25"))

floats = st.floats(min_value=-1e3, max_value=1e3, allow_nan=False, allow_infinity=False,
                   width=32)
vector = st.lists(floats, min_size=DIM, max_size=DIM)
# Text without NUL: "\u0000" is refused on purpose (plan V9), see add_invalid_metadata.
text = st.text(alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)),
               max_size=8)
meta_value = st.one_of(st.integers(-1000, 1000), text, st.booleans(), st.none())
metadata = st.dictionaries(st.sampled_from(["a", "b", "tag", "n"]), meta_value, max_size=3)
# Invalid vector batches: each must be refused as a whole.
bad_vector = st.one_of(
    st.lists(floats, min_size=1, max_size=DIM - 1),          # too short
    st.lists(floats, min_size=DIM + 1, max_size=DIM + 3),    # too long
    st.lists(st.one_of(st.text(max_size=3), st.booleans(), st.none()), min_size=DIM,
             max_size=DIM),                                  # not numbers
    st.just([1e39] * DIM),                                   # overflows float32
)

_names = itertools.count()


def check_status(r):
    assert r.status_code < 500, (r.status_code, r.text)
    return r.status_code


class StoreModel(RuleBasedStateMachine):
    client = None  # set by the test

    @initialize()
    def create(self):
        self.uid, self.mid = "prop_u", f"prop_m{next(_names)}"
        self.ids = {"user_id": self.uid, "model_id": self.mid}
        self.model = {}  # id -> (np.float32 vector, metadata dict including "id")
        r = self.client.post("/admin/create_store",
                             json={**self.ids, "dimension": DIM, "metric": "euclidean",
                                   "index": "flat"})
        assert r.status_code == 200, r.text

    # ---- writes ----

    @rule(rows=st.lists(st.tuples(st.sampled_from(IDS), vector, metadata), min_size=1,
                        max_size=5, unique_by=lambda t: t[0]))
    def add(self, rows):
        metas = [{**m, "id": i} for i, _, m in rows]
        r = self.client.post("/vectors/add", json={**self.ids, "vectors": [v for _, v, _ in rows],
                                                   "metadata": metas})
        assert r.status_code == 200, r.text
        for (i, v, _), m in zip(rows, metas):
            self.model[i] = (np.array(v, dtype=np.float32), m)
        assert r.json()["total_vectors"] == len(self.model)

    @rule(good=st.lists(vector, min_size=0, max_size=2), bad=bad_vector,
          pos=st.integers(0, 2))
    def add_invalid(self, good, bad, pos):
        vecs = list(good)
        vecs.insert(min(pos, len(vecs)), bad)
        metas = [{"id": IDS[j % len(IDS)]} for j in range(len(vecs))]
        r = self.client.post("/vectors/add", json={**self.ids, "vectors": vecs, "metadata": metas})
        assert 400 <= check_status(r) < 500, r.text

    @rule(n=st.integers(0, 3))
    def add_mismatched_metadata(self, n):
        r = self.client.post("/vectors/add", json={**self.ids, "vectors": [[0.5] * DIM] * 2,
                                                   "metadata": [{"id": "p0"}] * n if n != 2
                                                   else [{"id": "p0"}, "not an object"]})
        assert 400 <= check_status(r) < 500, r.text

    @rule(bad=st.sampled_from([{"a": "x\x00y"}, {"\x00": 1}, "text", 5, [1]]))
    def add_invalid_metadata(self, bad):
        r = self.client.post("/vectors/add", json={**self.ids, "vectors": [[0.25] * DIM],
                                                   "metadata": [bad]})
        assert 400 <= check_status(r) < 500, r.text

    @rule(ids=st.lists(st.sampled_from(IDS + ["absent"]), min_size=1, max_size=4, unique=True))
    def delete(self, ids):
        r = self.client.post("/vectors/delete", json={**self.ids, "ids": ids})
        assert r.status_code == 200, r.text
        present = [i for i in ids if i in self.model]
        assert r.json()["deleted_count"] == len(present), r.text
        for i in present:
            del self.model[i]

    @rule(body=st.sampled_from([{"ids": "p0"}, {"ids": [1, 2]}, {"ids": [None]},
                                {"indices": ["x"]}]))
    def delete_invalid(self, body):
        r = self.client.post("/vectors/delete", json={**self.ids, **body})
        assert 400 <= check_status(r) < 500, r.text

    # ---- reads ----

    @rule(q=vector, k=st.integers(1, 10))
    def query(self, q, k):
        r = self.client.post("/vectors/query", json={**self.ids, "query": q, "k": k,
                                                     "exact": True})
        assert r.status_code == 200, r.text
        self.compare(q, k, r.json()["results"])

    @rule(k=st.sampled_from([0, -1, 1.5, "5", 10**6]))
    def query_invalid(self, k):
        r = self.client.post("/vectors/query", json={**self.ids, "query": [0.0] * DIM, "k": k})
        assert 400 <= check_status(r) < 500, r.text

    @rule(q=st.one_of(bad_vector, st.just([])))
    def query_bad_vector(self, q):
        r = self.client.post("/vectors/query", json={**self.ids, "query": q, "k": 3})
        assert 400 <= check_status(r) < 500, r.text

    # ---- export / import ----

    @rule()
    def export_import_roundtrip(self):
        r = self.client.get("/admin/export_zip", params=self.ids)
        assert r.status_code == 200, r.text
        r = self.client.post("/admin/import_zip", params={**self.ids, "overwrite": "true"},
                             files={"file": ("s.zip", r.content, "application/zip")})
        if not self.model:
            # An empty store's export carries no dimension to import from.
            assert check_status(r) in (200, 400, 422), r.text
            if r.status_code != 200:
                return
        assert r.status_code == 200, r.text
        assert r.json()["count"] == len(self.model)

    @rule(damage=st.sampled_from(["truncate", "flip", "drop_meta"]))
    def import_damaged(self, damage):
        data = self.client.get("/admin/export_zip", params=self.ids).content
        if damage == "truncate":
            data = data[: len(data) // 2]
        elif damage == "flip":
            data = bytearray(data)
            data[len(data) // 3] ^= 0xFF
            data = bytes(data)
        else:
            buf = io.BytesIO()
            with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(buf, "w") as dst:
                for info in src.infolist():
                    if info.filename not in ("metadata.jsonl", "manifest.json"):
                        dst.writestr(info, src.read(info))
            data = buf.getvalue()
        r = self.client.post("/admin/import_zip", params={**self.ids, "overwrite": "true"},
                             files={"file": ("s.zip", data, "application/zip")})
        # A flipped byte may land in padding and leave a valid archive.
        if r.status_code == 200 and damage == "flip":
            assert r.json()["count"] == len(self.model)
            return
        assert 400 <= check_status(r) < 500, r.text

    # ---- comparison ----

    def compare(self, q, k, results):
        qv = np.array(q, dtype=np.float32)
        want = sorted((float(np.linalg.norm((v - qv).astype(np.float64))), i)
                      for i, (v, _) in self.model.items())[:k]
        assert len(results) == len(want), (results, want)
        tol = 1e-3 * (1 + max([d for d, _ in want] or [0]))
        for got, (d, _) in zip(results, want):
            assert abs(got["distance"] - d) <= tol, (got, d)
        for got in results:
            i = got["id"]
            assert i in self.model, got
            v, m = self.model[i]
            d = float(np.linalg.norm((v - qv).astype(np.float64)))
            assert abs(got["distance"] - d) <= tol, (got, d)
            assert got["metadata"] == m, (got["metadata"], m)

    @invariant()
    def count_matches(self):
        if not hasattr(self, "ids"):
            return
        r = self.client.get("/vectors/count", params=self.ids)
        assert r.status_code == 200, r.text
        assert r.json()["count"] == len(self.model)

    @precondition(lambda self: hasattr(self, "ids"))
    @invariant()
    def everything_matches(self):
        # Every row, through an exact query with k = all.
        q = [0.0] * DIM
        k = max(1, len(self.model))
        r = self.client.post("/vectors/query", json={**self.ids, "query": q, "k": k,
                                                     "exact": True})
        assert r.status_code == 200, r.text
        self.compare(q, k, r.json()["results"])


def test_api_matches_model(admin):
    StoreModel.client = admin
    run_state_machine_as_test(
        StoreModel,
        settings=settings(max_examples=EXAMPLES, stateful_step_count=STEPS, deadline=None,
                          suppress_health_check=list(HealthCheck), database=None))
