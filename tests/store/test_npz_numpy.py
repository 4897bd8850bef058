#!/usr/bin/python3
"""numpy interop of a vdb store's snapshot (reliability plan D16).

Builds stores with `vdb store-bench --save-input` (which also writes the
exact vectors it added as a .npy), then checks with Debian's numpy that
vectors.npz loads with allow_pickle=False and holds the same matrix
(bit-identical for euclidean, where rows are stored raw; for cosine the
unit rows times norms.npy give the input back), and that metadata.jsonl is
one json.loads-able object per row, in row order.

Usage: test_npz_numpy.py path/to/vdb
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile

import numpy as np


def build(vdb, tmp, name, metric, n, dim, batch):
    d = os.path.join(tmp, name)
    inp = os.path.join(tmp, name + "-input.npy")
    subprocess.run([vdb, "store-bench", "--dir", d, "--keep", "--n", str(n), "--dim", str(dim),
                    "--batch", str(batch), "--metric", metric, "--save-input", inp],
                   check=True, stdout=subprocess.DEVNULL)
    return d, np.load(inp)


def check_metadata(d, n):
    with open(os.path.join(d, "metadata.jsonl"), "rb") as f:
        lines = f.read().split(b"\n")
    assert lines[-1] == b"", "metadata.jsonl must end with a newline"
    lines = lines[:-1]
    assert len(lines) == n, (len(lines), n)
    for i, line in enumerate(lines):
        obj = json.loads(line.decode("utf-8"))
        assert obj["id"] == "v%d" % i, obj
        assert obj["metadata"] == {"i": i, "src": "bench"}, obj


def check_layout(path):
    with zipfile.ZipFile(path) as z:
        assert z.testzip() is None, "CRC mismatch"
        names = [i.filename for i in z.infolist()]
        assert names == ["vectors.npy", "norms.npy"], names
        assert all(i.compress_type == zipfile.ZIP_STORED for i in z.infolist())


def main():
    vdb = sys.argv[1]
    tmp = tempfile.mkdtemp(prefix="vdb-npz-")
    try:
        d, inp = build(vdb, tmp, "l2", "euclidean", 2500, 17, 300)
        path = os.path.join(d, "vectors.npz")
        check_layout(path)
        with np.load(path, allow_pickle=False) as z:
            vec = z["vectors"]
            assert vec.dtype == np.dtype("<f4") and vec.shape == inp.shape, (vec.dtype, vec.shape)
            assert np.array_equal(vec, inp), "euclidean rows must be bit-identical"
            assert np.allclose(z["norms"], np.linalg.norm(inp, axis=1), rtol=1e-5)
        check_metadata(d, 2500)

        d, inp = build(vdb, tmp, "cos", "cosine", 1500, 384, 500)
        with np.load(os.path.join(d, "vectors.npz"), allow_pickle=False) as z:
            vec, norms = z["vectors"], z["norms"]
            assert vec.shape == inp.shape
            assert np.allclose(np.linalg.norm(vec, axis=1), 1.0, atol=1e-5)
            assert np.allclose(vec * norms[:, None], inp, rtol=1e-5, atol=1e-6)
        check_metadata(d, 1500)
        print("numpy interop: vectors.npz and metadata.jsonl read back as written")
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
