"""Issue 11 items 14 and 15 (backup): a user's export holds every store, not
only the first 64; the multipart parser takes the field named `file`, not a
part whose *filename* is "file"."""
import io
import zipfile

from conftest import assert_error


def test_export_holds_every_store(admin):
    user, n = "bk_many", 70
    for i in range(n):
        r = admin.post("/admin/create_store", json={"user_id": user, "model_id": f"m{i:03d}",
                                                    "dimension": 2})
        assert r.status_code == 200, r.text
        r = admin.post("/vectors/add", json={"user_id": user, "model_id": f"m{i:03d}",
                                             "vectors": [[1.0, float(i)]]})
        assert r.status_code == 200, r.text
    r = admin.get("/admin/export_zip", params={"user_id": user})
    assert r.status_code == 200, r.text[:300]
    names = zipfile.ZipFile(io.BytesIO(r.content)).namelist()
    models = {name.split("/")[0] for name in names if "/" in name}
    assert models == {f"m{i:03d}" for i in range(n)}


def test_multipart_field_name_not_filename(admin):
    r = admin.post("/admin/create_store", json={"user_id": "bk_mp", "model_id": "src",
                                                "dimension": 2})
    assert r.status_code == 200, r.text
    admin.post("/vectors/add", json={"user_id": "bk_mp", "model_id": "src",
                                     "vectors": [[1.0, 2.0]]})
    archive = admin.get("/admin/export_zip", params={"user_id": "bk_mp", "model_id": "src"})
    assert archive.status_code == 200
    # A first part whose field is "note" but whose filename is "file".
    boundary = "vdbBoundary7f3a"
    body = (f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="note"; filename="file"\r\n'
            "Content-Type: text/plain\r\n\r\nnot a zip\r\n"
            f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="file"; filename="store.zip"\r\n'
            "Content-Type: application/zip\r\n\r\n").encode() + archive.content + \
        f"\r\n--{boundary}--\r\n".encode()
    r = admin.post("/admin/import_zip", params={"user_id": "bk_mp", "model_id": "copy"},
                   data=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert r.status_code == 200, r.text
    assert r.json()["count"] == 1
    # Only a filename of "file", no field named file: refused.
    body = (f"--{boundary}\r\n"
            'Content-Disposition: form-data; name="upload"; filename="file"\r\n'
            "Content-Type: application/zip\r\n\r\n").encode() + archive.content + \
        f"\r\n--{boundary}--\r\n".encode()
    r = admin.post("/admin/import_zip", params={"user_id": "bk_mp", "model_id": "copy2"},
                   data=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert_error(r, 422)
