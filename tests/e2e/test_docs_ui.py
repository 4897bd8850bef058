"""/docs is Swagger UI (served from the binary, offline) and "Try it out"
works against the server with the key from "Authorize"; /redoc renders the
same document. Driven in Debian's headless chromium via playwright-core
(fetched by `scripts/build-web-assets.sh --test-deps`)."""
import json
import os
import shutil
import subprocess
import tempfile

import pytest
import requests

from conftest import API_KEY

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../..")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def built_with_swagger(server):
    return requests.get(server.url + "/docs/swagger-ui-bundle.js", timeout=30).status_code == 200


def playwright_core():
    r = subprocess.run(["bash", os.path.join(ROOT, "scripts/build-web-assets.sh"), "--test-deps"],
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, "cannot fetch playwright-core: " + r.stderr
    return r.stdout.strip().splitlines()[-1]


def test_docs_assets_served(server, anon):
    if not built_with_swagger(server):
        # the fallback: the built-in page, and a JSON 404 for the assets
        r = anon.get("/docs")
        assert r.status_code == 200 and "vdb API reference" in r.text
        assert anon.get("/docs/swagger-ui.css").json()["code"] == "HTTP_404"
        pytest.fail("this build has no Swagger UI (npm unavailable at build time)")
    r = anon.get("/docs")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
    assert "/docs/swagger-ui-bundle.js" in r.text and "/docs/swagger-init.js" in r.text
    for path, ctype in (("/docs/swagger-ui.css", "text/css"),
                        ("/docs/swagger-ui-bundle.js", "text/javascript"),
                        ("/docs/swagger-init.js", "text/javascript"),
                        ("/docs/redoc.standalone.js", "text/javascript")):
        a = anon.get(path)
        assert a.status_code == 200 and a.headers["Content-Type"].startswith(ctype), path
        assert len(a.content) > 100
    assert "SwaggerUIBundle" in anon.get("/docs/swagger-ui-bundle.js").text
    init = anon.get("/docs/swagger-init.js").text
    assert "validatorUrl: null" in init and "/openapi.json" in init
    # the old self-contained page is still there
    assert "vdb API reference" in anon.get("/docs?ui=builtin").text
    assert anon.get("/redoc").status_code == 200


def test_swagger_try_it_out_in_chromium(server):
    if not os.path.exists(CHROMIUM):
        pytest.fail("chromium is not installed (scripts/install-deps.sh installs it)")
    if not built_with_swagger(server):
        pytest.fail("this build has no Swagger UI (npm unavailable at build time)")
    pw = playwright_core()
    with tempfile.TemporaryDirectory(prefix="vdb-chromium-") as profile:
        env = dict(os.environ, BASE_URL=server.url, API_KEY=API_KEY, PLAYWRIGHT_CORE=pw,
                   CHROMIUM=CHROMIUM, PROFILE_DIR=profile)
        r = subprocess.run(["node", os.path.join(ROOT, "tests/e2e/docs_ui_check.js")], env=env,
                           capture_output=True, text=True, timeout=240)
    assert r.returncode == 0, r.stdout + r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["title"].startswith("vdb vector database API"), out
    assert out["operations"] > 40
    assert out["swagger_foreign_requests"] == [], "Swagger UI must work offline"
    # everything off-host was refused; ReDoc asks only for its footer logo
    assert all("logo" in u for u in out["foreign_requests"]), out["foreign_requests"]
    assert out["without_key"]["code"] == "401", out
    assert out["with_key"]["code"] == "200", out
    assert '"stores"' in out["with_key"]["body"]
    assert [s["key"] for s in out["sent"]] == [None, API_KEY]
    assert out["redoc_title"].startswith("vdb vector database API")
    assert out["redoc_has_operation"]


def test_build_without_npm_falls_back(tmp_path):
    """No npm (or no registry): the asset script still produces a table,
    empty, that compiles; the server then serves the built-in /docs page."""
    env = dict(os.environ, VDB_NPM="/nonexistent/npm", VDB_WEB_CACHE=str(tmp_path / "cache"))
    r = subprocess.run(["/bin/bash", os.path.join(ROOT, "scripts/build-web-assets.sh"),
                        str(tmp_path / "web")], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "falls back to the built-in page" in r.stderr
    gen = (tmp_path / "web" / "docs_assets.c").read_text()
    assert "vdb_web_nassets = 0" in gen and ".incbin" not in gen
    cc = subprocess.run(["cc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-fsyntax-only",
                         "-I" + os.path.join(ROOT, "src"), str(tmp_path / "web" / "docs_assets.c")],
                        capture_output=True, text=True, timeout=60)
    assert cc.returncode == 0, cc.stderr
