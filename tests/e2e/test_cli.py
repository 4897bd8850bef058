"""The `vdb` command-line tool on a real data directory: create, import (.npy
with metadata.jsonl), count, list, query (with a filter), export, and the
exported archive imported by the server; the store lock refuses a second
process while the server holds the store."""
import json
import os
import subprocess
import zipfile

import numpy as np

from conftest import ADMIN_KEY, VDB_BIN, Server
import requests


def vdb(*args, check=True):
    res = subprocess.run([VDB_BIN, *args], capture_output=True, text=True)
    if check:
        assert res.returncode == 0, res.stderr
    return res


def test_cli_roundtrip_and_server_import(tmp_path):
    data = str(tmp_path / "data")
    rng = np.random.default_rng(7)
    vecs = rng.standard_normal((300, 12)).astype(np.float32)
    np.save(tmp_path / "v.npy", vecs)
    with open(tmp_path / "meta.jsonl", "w") as f:
        for i in range(300):
            f.write(json.dumps({"id": f"doc{i}", "group": i % 3}) + "\n")

    vdb("create", "--data-dir", data, "--user", "u1", "--model", "m", "--dim", "12",
        "--metric", "euclidean")
    out = vdb("import", "--data-dir", data, "--user", "u1", "--model", "m", str(tmp_path / "v.npy"),
              "--metadata", str(tmp_path / "meta.jsonl")).stdout
    assert "imported 300 vectors" in out
    assert vdb("count", "--data-dir", data, "--user", "u1", "--model", "m").stdout.strip() == "300"
    assert vdb("list", "--data-dir", data).stdout.split() == ["u1", "m"]

    # The 17th vector finds itself first; a filter restricts the results.
    res = vdb("query", "--data-dir", data, "--user", "u1", "--model", "m", "--k", "3",
              "--vector", json.dumps(vecs[17].tolist())).stdout
    hits = json.loads(res)["results"]
    assert hits[0]["id"] == "doc17" and hits[0]["distance"] < 1e-3
    res = vdb("query", "--data-dir", data, "--user", "u1", "--model", "m", "--k", "5",
              "--filter", '{"group": 1}', "--vector", json.dumps(vecs[17].tolist())).stdout
    assert all(h["metadata"]["group"] == 1 for h in json.loads(res)["results"])

    # Bad input: wrong dimension and unknown store are errors, not crashes.
    bad = vdb("query", "--data-dir", data, "--user", "u1", "--model", "m", "--vector", "[1,2]",
              check=False)
    assert bad.returncode == 1 and "dimension" in bad.stderr
    assert vdb("count", "--data-dir", data, "--user", "u1", "--model", "nope",
               check=False).returncode == 1
    assert vdb("count", "--data-dir", data, "--user", "../x", "--model", "m",
               check=False).returncode == 1

    archive = str(tmp_path / "m.zip")
    vdb("export", "--data-dir", data, "--user", "u1", "--model", "m", "--out", archive)
    names = zipfile.ZipFile(archive).namelist()
    assert {"vectors.npz", "metadata.jsonl", "store.json", "manifest.json"} <= set(names)
    with zipfile.ZipFile(archive) as z:
        with z.open("vectors.npz") as f:
            got = np.load(f)["vectors"]
    assert np.array_equal(got, vecs)  # euclidean rows are kept bit-identical

    server = Server(data).start()
    try:
        # The server holds the store now: the CLI is refused by the lock.
        h = {"X-API-Key": ADMIN_KEY}
        assert requests.get(server.url + "/vectors/count", params={"user_id": "u1", "model_id": "m"},
                            headers=h).json()["count"] == 300
        locked = vdb("count", "--data-dir", data, "--user", "u1", "--model", "m", check=False)
        assert locked.returncode == 1 and "lock" in locked.stderr.lower()
        with open(archive, "rb") as f:
            r = requests.post(server.url + "/admin/import_zip",
                              params={"user_id": "u2", "model_id": "copy"},
                              headers={**h, "Content-Type": "application/zip"}, data=f.read())
        assert r.status_code == 200, r.text
        assert r.json()["count"] == 300
    finally:
        server.stop()
