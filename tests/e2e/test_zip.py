"""Export/import ZIP: round trip, the original's two-member archives, and
hostile archives (never 500, nothing changed)."""
import io
import json
import zipfile

import numpy as np
import pytest

from conftest import assert_error


def npz_bytes(arr):
    buf = io.BytesIO()
    np.savez(buf, vectors=arr)
    return buf.getvalue()


def make_zip(members, compression=zipfile.ZIP_DEFLATED):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return buf.getvalue()


def upload(client, uid, mid, data, overwrite=None, raw=False):
    params = {"user_id": uid, "model_id": mid}
    if overwrite is not None:
        params["overwrite"] = overwrite
    if raw:
        return client.post("/admin/import_zip", params=params, data=data,
                           headers={"Content-Type": "application/zip"})
    return client.post("/admin/import_zip", params=params,
                       files={"file": ("store.zip", data, "application/zip")})


def test_export_import_roundtrip(admin):
    ids = {"user_id": "zip_u", "model_id": "src"}
    vecs = np.random.RandomState(3).rand(50, 12).astype(np.float32)
    admin.post("/admin/create_store", json={**ids, "dimension": 12, "metric": "euclidean"})
    admin.post("/vectors/add", json={**ids, "vectors": vecs.tolist(),
                                     "metadata": [{"id": f"z{i}", "k": i} for i in range(50)]})
    r = admin.get("/admin/export_zip", params=ids)
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/zip"
    assert 'filename="store_export_zip_u_src.zip"' in r.headers["Content-Disposition"]
    z = zipfile.ZipFile(io.BytesIO(r.content))
    names = set(z.namelist())
    assert {"vectors.npz", "metadata.jsonl", "store.json", "manifest.json"} <= names
    arr = np.load(io.BytesIO(z.read("vectors.npz")))["vectors"]
    assert arr.dtype == np.float32 and arr.shape == (50, 12)
    assert np.array_equal(arr, vecs)
    manifest = json.loads(z.read("manifest.json"))
    assert manifest["stores"][0]["vectors"] == 50
    r = upload(admin, "zip_u", "copy", r.content)
    assert r.status_code == 200, r.text
    assert r.json() == {"status": "imported", "user_id": "zip_u", "model_id": "copy", "count": 50,
                        "dimension": 12, "metric": "euclidean"}
    q = {"user_id": "zip_u", "model_id": "copy", "query": vecs[3].tolist(), "k": 1}
    top = admin.post("/vectors/query", json=q).json()["results"][0]
    assert top["id"] == "z3" and top["metadata"] == {"id": "z3", "k": 3}
    # exists -> 409 without overwrite (and as a raw body), then overwrite works
    assert_error(upload(admin, "zip_u", "copy", r.request.body if False else
                        admin.get("/admin/export_zip", params=ids).content, raw=True), 409)
    r = upload(admin, "zip_u", "copy", admin.get("/admin/export_zip", params=ids).content,
               overwrite="true", raw=True)
    assert r.status_code == 200 and r.json()["count"] == 50
    # whole-user export: one folder per model
    r = admin.get("/admin/export_zip", params={"user_id": "zip_u"})
    names = zipfile.ZipFile(io.BytesIO(r.content)).namelist()
    assert "src/vectors.npz" in names and "copy/metadata.jsonl" in names


def test_import_original_two_member_archive(admin):
    """The original (R) wrote exactly vectors.npz and metadata.jsonl with
    bare metadata objects per line; test_admin_zip_io.py's flow."""
    vecs = np.random.rand(3, 128).astype(np.float32)
    meta = "".join(json.dumps({"id": f"o{i}", "source": "orig"}) + "\n" for i in range(3))
    data = make_zip({"vectors.npz": npz_bytes(vecs), "metadata.jsonl": meta})
    r = upload(admin, "zip_orig", "m", data, overwrite="false")
    assert r.status_code == 200, r.text
    assert r.json()["count"] == 3
    st = admin.get("/admin/store/stats", params={"user_id": "zip_orig", "model_id": "m"}).json()
    assert st["vectors"] == 3 and st["metadata"] == 3
    res = admin.post("/vectors/query", json={"user_id": "zip_orig", "model_id": "m",
                                             "query": vecs[2].tolist(), "k": 1}).json()["results"]
    assert res[0]["id"] == "o2" and res[0]["source"] == "orig"
    f8 = make_zip({"vectors.npz": npz_bytes(vecs.astype(np.float64)), "metadata.jsonl": meta})
    assert upload(admin, "zip_orig", "f8", f8).json()["count"] == 3


def good_members():
    vecs = np.ones((2, 4), np.float32)
    return {"vectors.npz": npz_bytes(vecs), "metadata.jsonl": '{"id": "a"}\n{"id": "b"}\n'}


HOSTILE = {
    "not_zip": (b"this is not a zip", 400),
    "empty": (b"", 400),
    "missing_member": (make_zip({"vectors.npz": npz_bytes(np.ones((1, 2), np.float32))}), 422),
    "traversal": (make_zip({**good_members(), "../evil.txt": "x"}), 422),
    "absolute": (make_zip({**good_members(), "/etc/passwd": "x"}), 422),
    "subdir": (make_zip({"a/vectors.npz": good_members()["vectors.npz"],
                         "a/metadata.jsonl": "{}\n"}), 422),
    "count_mismatch": (make_zip({**good_members(), "metadata.jsonl": '{"id": "a"}\n'}), 422),
    "bad_json_line": (make_zip({**good_members(), "metadata.jsonl": '{"id": "a"}\nnot json\n'}), 422),
    "npz_without_vectors": (make_zip({**good_members(), "vectors.npz": make_zip({"other.npy": b"x"})}), 422),
    "npy_garbage": (make_zip({**good_members(), "vectors.npz": make_zip({"vectors.npy": b"\x93NUMPYgarbage"})}), 422),
    "int_dtype": (make_zip({**good_members(), "vectors.npz": npz_bytes(np.ones((2, 4), np.int32))}), 422),
    "nan_vectors": (make_zip({**good_members(), "vectors.npz": npz_bytes(np.full((2, 4), np.nan, np.float32))}), 422),
    "zip_bomb": (make_zip({**good_members(), "bomb.bin": b"\0" * (300 << 20)}), 413),
    "many_members": (make_zip({**good_members(), **{f"f{i}": "x" for i in range(100)}}), 422),
    "bad_manifest_hash": (make_zip({**good_members(), "manifest.json": json.dumps(
        {"stores": [{"files": {"metadata.jsonl": {"sha256": "0" * 64}}}]})}), 422),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_archives_rejected(admin, case):
    data, status = HOSTILE[case]
    ids = {"user_id": "zip_h", "model_id": "victim"}
    if admin.get("/vectors/count", params=ids).status_code == 404:
        admin.post("/vectors/add", json={**ids, "vectors": [[9, 9, 9, 9]],
                                         "metadata": [{"id": "keep"}]})
    r = upload(admin, ids["user_id"], ids["model_id"], data, overwrite="true")
    assert_error(r, status)
    # nothing changed: the existing store is intact
    assert admin.get("/vectors/count", params=ids).json()["count"] == 1
    assert admin.get("/health").status_code == 200


def test_import_wrong_part_type_and_413(admin, fresh_dir):
    r = admin.post("/admin/import_zip", params={"user_id": "zip_t", "model_id": "m"},
                   files={"file": ("x.txt", b"hello", "text/plain")})
    assert_error(r, 400)
    from conftest import Server, Client, ADMIN_KEY
    srv = Server(fresh_dir, env={"VDB_MAX_BODY_BYTES": "2048"}).start()
    try:
        c = Client(srv.url, ADMIN_KEY)
        big = make_zip({"vectors.npz": npz_bytes(np.random.rand(100, 16).astype(np.float32)),
                        "metadata.jsonl": "{}\n" * 100}, zipfile.ZIP_STORED)
        assert_error(upload(c, "u", "m", big), 413)
    finally:
        assert srv.stop() == 0


def test_export_unknown_store_404(admin):
    assert_error(admin.get("/admin/export_zip", params={"user_id": "nobody", "model_id": "x"}), 404)
    assert_error(admin.get("/admin/export_zip", params={"user_id": "nobody"}), 404)
