"""Issue 11 item 15 (key file): a key file over 1 MiB is read whole, and a
reload that fails (a malformed entry) keeps the previous key table whole
instead of leaving the keys parsed before the bad entry."""
import hashlib
import json
import os
import time

from conftest import ADMIN_KEY, Client, Server


def _wait_reload():
    time.sleep(1.3)  # the server looks at the file at most once a second


def _entry(key, key_id, user):
    return {"key_id": key_id, "user_id": user, "created": 1,
            "sha256": hashlib.sha256(key.encode()).hexdigest()}


def _write(path, doc, pad=0):
    text = json.dumps(doc)
    # JSON allows any amount of whitespace between members: a key file this
    # big is valid, only larger than the old 1 MiB read.
    text = text[:-1] + " " * pad + text[-1:]
    with open(path + ".new", "w") as f:
        f.write(text)
    os.replace(path + ".new", path)


def test_big_key_file_and_failed_reload_keep_keys(fresh_dir):
    srv = Server(fresh_dir).start()
    try:
        admin = Client(srv.url, ADMIN_KEY)
        r = admin.post("/admin/keys", json={"user_id": "kf_a"})
        assert r.status_code == 200, r.text
        key_a = r.json()["api_key"]
        path = os.path.join(fresh_dir, ".vdb_auth.json")
        doc = json.load(open(path))
        key_b = "vdb_" + "b" * 48
        doc["keys"].append(_entry(key_b, "kfbkey000000", "kf_b"))
        _write(path, doc, pad=2 << 20)
        # No wait: an unknown key makes the server look at the file at once.
        assert Client(srv.url, key_b).get("/vectors/ping").status_code == 200
        assert Client(srv.url, key_a).get("/vectors/ping").status_code == 200
        # A malformed entry after a valid one: the reload fails and every
        # key loaded before stays valid (not only the ones parsed before the
        # bad entry).
        key_c = "vdb_" + "c" * 48
        bad = {"version": 1, "keys": [_entry(key_c, "kfckey000000", "kf_c"),
                                      {"key_id": "x", "user_id": "../bad", "sha256": "zz"}]}
        _write(path, bad)
        _wait_reload()
        assert Client(srv.url, key_a).get("/vectors/ping").status_code == 200
        assert Client(srv.url, key_b).get("/vectors/ping").status_code == 200
        assert Client(srv.url, key_c).get("/vectors/ping").status_code == 401
        # Unknown keys force looks at the file, but a file that failed to
        # load is not read again (nor logged again) until it changes.
        for _ in range(20):
            assert Client(srv.url, key_c).get("/vectors/ping").status_code == 401
    finally:
        srv.stop()
    assert srv.output.count("key file reload failed") == 1, srv.output
