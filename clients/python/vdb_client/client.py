"""The client proper (see the package docstring)."""
import json
import os
import sys
import time

import requests

DEFAULT_URL = "http://127.0.0.1:8000"


# ---- errors ---------------------------------------------------------------

class VDBError(Exception):
    """A request the server refused or failed. `status` is the HTTP status
    (None for transport errors), `message` the server's own text, `code` its
    envelope code ("HTTP_422"), `body` the decoded JSON body when there was
    one."""

    def __init__(self, message, status=None, code=None, body=None, method=None, path=None):
        self.message, self.status, self.code, self.body = message, status, code, body
        self.method, self.path = method, path
        where = f"{method} {path}: " if method else ""
        super().__init__(f"{where}{status} {message}" if status else f"{where}{message}")


class AuthenticationError(VDBError):
    """401: no key or an unknown key."""


class ForbiddenError(VDBError):
    """403: the key may not do this (e.g. a per-user key on an admin route)."""


class NotFoundError(VDBError):
    """404: no such store / route / operation (or another tenant's)."""


class ConflictError(VDBError):
    """409: the store already exists."""


class ValidationError(VDBError):
    """400/415/422: the request was malformed or a value out of range."""


class PayloadTooLargeError(VDBError):
    """413: the body is over the server's limit (split the batch)."""


class ServerError(VDBError):
    """5xx: the server could not do it (busy, out of space, internal)."""


class VDBConnectionError(VDBError):
    """The server could not be reached at all."""


_BY_STATUS = {401: AuthenticationError, 403: ForbiddenError, 404: NotFoundError,
              409: ConflictError, 400: ValidationError, 415: ValidationError,
              422: ValidationError, 413: PayloadTooLargeError}


def _error_for(resp, method, path):
    body, message, code = None, None, None
    try:
        body = resp.json()
    except ValueError:
        pass
    if isinstance(body, dict):
        message = body.get("detail") or body.get("error") or body.get("message")
        code = body.get("code")
    if not message:
        message = (resp.text or resp.reason or "").strip()[:500]
    cls = _BY_STATUS.get(resp.status_code,
                         ServerError if resp.status_code >= 500 else VDBError)
    return cls(str(message), resp.status_code, code, body, method, path)


# ---- progress bar ---------------------------------------------------------

class ProgressBar:
    """A one-line text progress bar (items done of total, rate, ETA) on a
    stream, redrawn at most ten times a second. Disabled when `enabled` is
    false; with a stream that is not a terminal it prints only the final
    line."""

    def __init__(self, total, label="vectors", stream=None, enabled=True, width=30):
        self.total, self.label, self.width = max(int(total), 0), label, width
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled
        self.done = 0
        self.start = time.monotonic()
        self._last = 0.0
        self.lines = []  # every rendered line, for callers and tests

    def render(self):
        elapsed = max(time.monotonic() - self.start, 1e-9)
        rate = self.done / elapsed
        frac = self.done / self.total if self.total else 1.0
        filled = int(round(frac * self.width))
        eta = (self.total - self.done) / rate if rate > 0 else float("inf")
        eta_s = f"{eta:5.1f}s" if eta != float("inf") else "    ?"
        return (f"[{'#' * filled}{'.' * (self.width - filled)}] {frac * 100:5.1f}% "
                f"{self.done}/{self.total} {self.label} {rate:,.0f}/s ETA {eta_s}")

    def update(self, n):
        self.done = min(self.done + int(n), self.total) if self.total else self.done + int(n)
        now = time.monotonic()
        if not self.enabled:
            return
        if now - self._last >= 0.1 or self.done >= self.total:
            self._last = now
            line = self.render()
            self.lines.append(line)
            if getattr(self.stream, "isatty", lambda: False)():
                self.stream.write("\r" + line)
                self.stream.flush()

    def close(self):
        if not self.enabled:
            return
        line = self.render()
        self.lines.append(line)
        tty = getattr(self.stream, "isatty", lambda: False)()
        self.stream.write(("\r" if tty else "") + line + "\n")
        self.stream.flush()


# ---- helpers --------------------------------------------------------------

def _rows(vectors):
    """A list of lists of floats from lists, tuples or a numpy array."""
    if hasattr(vectors, "tolist"):
        return vectors.tolist()
    return [list(v.tolist() if hasattr(v, "tolist") else v) for v in vectors]


def _row(vector):
    return vector.tolist() if hasattr(vector, "tolist") else list(vector)


# ---- the client -----------------------------------------------------------

class VDBClient:
    """A vdb server at `base_url` (default $VDB_URL or http://127.0.0.1:8000)
    with `api_key` (default $VDB_API_KEY, else $VECTOR_DB_API_KEY), sent as
    X-API-Key (or `Authorization: Bearer` with bearer=True)."""

    def __init__(self, base_url=None, api_key=None, timeout=60.0, bearer=False, session=None):
        self.base_url = (base_url or os.environ.get("VDB_URL") or DEFAULT_URL).rstrip("/")
        self.api_key = api_key if api_key is not None else (
            os.environ.get("VDB_API_KEY") or os.environ.get("VECTOR_DB_API_KEY"))
        self.timeout = timeout
        self.session = session or requests.Session()
        if self.api_key:
            if bearer:
                self.session.headers["Authorization"] = f"Bearer {self.api_key}"
            else:
                self.session.headers["X-API-Key"] = self.api_key

    # -- transport --
    def _request(self, method, path, raw=False, **kw):
        kw.setdefault("timeout", self.timeout)
        try:
            resp = self.session.request(method, self.base_url + path, **kw)
        except requests.RequestException as e:
            raise VDBConnectionError(f"cannot reach {self.base_url}: {e}", None, None, None,
                                     method, path) from e
        if resp.status_code >= 400:
            raise _error_for(resp, method, path)
        if raw:
            return resp
        if not resp.content:
            return {}
        try:
            return resp.json()
        except ValueError as e:
            raise VDBError(f"answer is not JSON: {resp.text[:200]!r}", resp.status_code,
                           None, None, method, path) from e

    def _get(self, path, **params):
        return self._request("GET", path, params={k: v for k, v in params.items() if v is not None})

    def _post(self, path, body=None, **params):
        return self._request("POST", path, json=body,
                             params={k: v for k, v in params.items() if v is not None})

    # -- service --
    def health(self):
        return self._get("/health")

    health_check = health

    def performance_health(self):
        return self._get("/performance/health")

    def system_info(self):
        return self._get("/system/info")

    get_system_info = system_info

    def config(self):
        return self._get("/config")

    def wait_until_ready(self, timeout=30.0):
        """Polls /health until it answers 200 (True) or `timeout` passes (False)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.health()
                return True
            except VDBError:
                time.sleep(0.1)
        return False

    # -- stores --
    def create_store(self, user_id, model_id, dimension=None, metric=None, **config):
        body = {"user_id": user_id, "model_id": model_id, **config}
        if dimension is not None:
            body["dimension"] = dimension
        if metric is not None:
            body["metric"] = metric
        return self._post("/admin/create_store", body)

    def delete_store(self, user_id, model_id, force=False):
        return self._request("DELETE", "/admin/store",
                             params={"user_id": user_id, "model_id": model_id,
                                     "force": "true" if force else "false"})

    def store_exists(self, user_id, model_id):
        try:
            self.get_store_stats(user_id, model_id)
            return True
        except NotFoundError:
            return False

    def get_store_stats(self, user_id, model_id):
        return self._get("/admin/store/stats", user_id=user_id, model_id=model_id)

    def list_stores(self, user_id=None):
        return self._get("/admin/list_stores", user_id=user_id)

    def optimize_store(self, user_id, model_id, force_rebuild_index=False):
        return self._post("/performance/optimize", None, user_id=user_id, model_id=model_id,
                          force_rebuild_index="true" if force_rebuild_index else "false")

    # -- vectors --
    def add_vectors(self, user_id, model_id, vectors, metadata=None):
        rows = _rows(vectors)
        body = {"user_id": user_id, "model_id": model_id, "vectors": rows}
        if metadata is not None:
            body["metadata"] = list(metadata)
        return self._post("/vectors/add", body)

    def add_vectors_chunked(self, user_id, model_id, vectors, metadata=None, batch_size=1000,
                            progress=True, stream=None):
        """Adds in requests of `batch_size` rows over /vectors/add with a
        progress bar; each request is atomic on the server, so a failure
        leaves the earlier chunks added and raises with the count done in
        `error.body["added_before_failure"]`."""
        rows = _rows(vectors)
        meta = list(metadata) if metadata is not None else None
        bar = ProgressBar(len(rows), stream=stream, enabled=progress)
        added = 0
        try:
            for at in range(0, len(rows), batch_size):
                chunk_meta = meta[at:at + batch_size] if meta is not None else None
                self.add_vectors(user_id, model_id, rows[at:at + batch_size], chunk_meta)
                added += len(rows[at:at + batch_size])
                bar.update(len(rows[at:at + batch_size]))
        except VDBError as e:
            e.body = dict(e.body or {}, added_before_failure=added)
            raise
        finally:
            bar.close()
        elapsed = time.monotonic() - bar.start
        return {"vectors_added": added, "seconds": elapsed,
                "vectors_per_second": added / elapsed if elapsed > 0 else 0.0,
                "progress": bar.lines[-1] if bar.lines else ""}

    def query(self, user_id, model_id, query, k=10, filter_metadata=None, **extra):
        body = {"user_id": user_id, "model_id": model_id, "query": _row(query), "k": k, **extra}
        if filter_metadata is not None:
            body["filter_metadata"] = filter_metadata
        return self._post("/vectors/query", body)["results"]

    def query_vectors(self, user_id, model_id, query, k=10, filter_metadata=None):
        return self.query(user_id, model_id, query, k, filter_metadata)

    def batch_query(self, user_id, model_id, queries, k=10, filter_metadata=None):
        body = {"user_id": user_id, "model_id": model_id, "queries": _rows(queries), "k": k}
        if filter_metadata is not None:
            body["filter_metadata"] = filter_metadata
        return self._post("/vectors/batch_query", body)["results"]

    def delete_vectors(self, user_id, model_id, filter_metadata=None, ids=None):
        body = {"user_id": user_id, "model_id": model_id}
        if filter_metadata is not None:
            body["filter_metadata"] = filter_metadata
        if ids is not None:
            body["ids"] = list(ids)
        return self._post("/vectors/delete", body)["deleted"]

    def count(self, user_id, model_id):
        return self._get("/vectors/count", user_id=user_id, model_id=model_id)["count"]

    count_vectors = count

    # -- export / import --
    def export_zip(self, user_id, model_id=None):
        """The store (or all of the user's stores) as ZIP bytes."""
        params = {"user_id": user_id}
        if model_id is not None:
            params["model_id"] = model_id
        return self._request("GET", "/admin/export_zip", raw=True, params=params).content

    export_store = export_zip

    def import_zip(self, user_id, model_id, data, overwrite=False):
        """Imports ZIP bytes (or a path to a .zip file) into user_id/model_id."""
        if isinstance(data, (str, os.PathLike)):
            with open(data, "rb") as f:
                data = f.read()
        return self._request("POST", "/admin/import_zip",
                             params={"user_id": user_id, "model_id": model_id,
                                     "overwrite": "true" if overwrite else "false"},
                             files={"file": ("store.zip", data, "application/zip")})

    import_store = import_zip

    # -- performance / monitoring --
    def warmup(self, dimension=None, user_id=None, model_id=None):
        body = {k: v for k, v in (("user_id", user_id), ("model_id", model_id)) if v}
        return self._post("/performance/warmup", body, dimension=dimension)

    def benchmark(self, user_id, model_id, test_size=1000, query_count=100, k=None):
        body = {"user_id": user_id, "model_id": model_id, "test_size": test_size,
                "query_count": query_count}
        if k is not None:
            body["k"] = k
        return self._post("/performance/benchmark", body)["benchmark_results"]

    def performance_stats(self, user_id=None, model_id=None):
        return self._get("/performance/stats", user_id=user_id, model_id=model_id)

    def metrics(self, format="json"):
        if format == "prometheus":
            return self._request("GET", "/monitoring/metrics", raw=True,
                                 params={"format": "prometheus"}).text
        return self._get("/monitoring/metrics", format=format)

    def metrics_summary(self):
        return self._get("/monitoring/metrics/summary")["summary"]

    def monitoring_status(self):
        return self._get("/monitoring/status")

    def health_detailed(self):
        return self._get("/monitoring/health/detailed")

    def test_alert(self, alert_type="test"):
        return self._post("/monitoring/alerts/test", None, alert_type=alert_type)

    # -- per-user keys (admin key) --
    def create_user_key(self, user_id):
        return self._post("/admin/keys", {"user_id": user_id})

    def revoke_user_keys(self, user_id):
        return self._request("DELETE", "/admin/keys", params={"user_id": user_id})

    # -- /v1/batch (the original SDK's bulk API) --
    def batch_add_vectors(self, user_id, model_id, vectors, metadata=None, batch_size=1000,
                          enable_streaming=False):
        """POST /v1/batch/vectors/add. With enable_streaming the server
        answers at once with an operation id; follow it with
        stream_batch_progress or wait_for_operation."""
        body = {"user_id": user_id, "model_id": model_id, "vectors": _rows(vectors),
                "batch_size": batch_size, "enable_streaming": bool(enable_streaming)}
        if metadata is not None:
            body["metadata"] = list(metadata)
        return self._post("/v1/batch/vectors/add", body)

    def batch_query_v1(self, user_id, model_id, queries, k=10, filter_metadata=None):
        body = {"user_id": user_id, "model_id": model_id, "queries": _rows(queries), "k": k}
        if filter_metadata is not None:
            body["filter_metadata"] = filter_metadata
        return self._post("/v1/batch/vectors/query", body)

    def get_batch_progress(self, operation_id):
        return self._get(f"/v1/batch/progress/{operation_id}")

    def list_operations(self):
        return self._get("/v1/batch/operations")

    def stream_batch_progress(self, operation_id, timeout=600.0):
        """Yields the progress events of /v1/batch/stream/{id} (server-sent
        events) until the operation ends."""
        resp = self._request("GET", f"/v1/batch/stream/{operation_id}", raw=True, stream=True,
                             timeout=timeout)
        try:
            for line in resp.iter_lines(decode_unicode=True):
                if line and line.startswith("data:"):
                    event = json.loads(line[5:].strip())
                    yield event
        finally:
            resp.close()

    def wait_for_operation(self, operation_id, progress=True, stream=None, poll=0.2,
                           timeout=600.0):
        """Polls progress with a progress bar until the operation is done;
        returns the last progress object. Raises VDBError if it failed."""
        bar, last = None, None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            last = self.get_batch_progress(operation_id)
            total = int(last.get("total_items") or 0)
            if bar is None:
                bar = ProgressBar(total, stream=stream, enabled=progress)
            bar.update(int(last.get("items_processed") or 0) - bar.done)
            status = last.get("status")
            if status in ("failed", "error"):
                bar.close()
                raise VDBError(str(last.get("error") or last.get("errors") or "operation failed"),
                               None, None, last, "GET", f"/v1/batch/progress/{operation_id}")
            if status in ("completed", "done", "succeeded") or \
                    (status is None and float(last.get("progress_percent") or 0) >= 100):
                bar.close()
                return last
            time.sleep(poll)
        raise VDBError(f"operation {operation_id} still running after {timeout} s")

    def upload_file(self, user_id, model_id, path, file_format=None, chunk_size=1000,
                    metadata_path=None):
        """POST /v1/batch/upload: a .npy/.npz matrix (metadata as JSON lines
        in `metadata_path`) or a JSON-lines file of {"vector", "metadata"}."""
        if file_format is None:
            file_format = os.path.splitext(str(path))[1].lstrip(".") or "jsonl"
        files = {"file": (os.path.basename(str(path)), open(path, "rb"))}
        if metadata_path is not None:
            files["metadata"] = (os.path.basename(str(metadata_path)), open(metadata_path, "rb"))
        try:
            return self._request("POST", "/v1/batch/upload",
                                 data={"user_id": user_id, "model_id": model_id,
                                       "file_format": file_format,
                                       "chunk_size": str(chunk_size)},
                                 files=files)
        finally:
            for _, f in files.values():
                f.close()
