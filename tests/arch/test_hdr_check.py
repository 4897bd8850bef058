#!/usr/bin/python3
"""Self-test of scripts/hdr_check.py: on a copy of src/, the check passes
as committed, fires on a header whose int function has no error contract,
and stays quiet on the forms that state one. Run by `make check-arch`."""

import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CHECK = os.path.join(ROOT, "scripts", "hdr_check.py")
sys.dont_write_bytecode = True  # no __pycache__ in scripts/
sys.path.insert(0, os.path.join(ROOT, "scripts"))

HEADER = "src/core/crc.h"
GUARD_END = "#endif"


def run(tree):
    p = subprocess.run([sys.executable, CHECK, "--root", tree], capture_output=True, text=True)
    return p.returncode, p.stdout + p.stderr


def insert(tree, path, text):
    """Puts text before the header's last #endif (inside the guard)."""
    full = os.path.join(tree, path)
    with open(full, encoding="utf-8") as f:
        src = f.read()
    at = src.rindex(GUARD_END)
    with open(full, "w", encoding="utf-8") as f:
        f.write(src[:at] + text + "\n" + src[at:])


# (name, edit, expected message fragment, or None for "must still pass")
CASES = [
    ("no comment at all",
     lambda t: insert(t, HEADER, "\nint vdb_crc_probe(int x);\n"),
     "vdb_crc_probe returns int"),
    ("comment without codes",
     lambda t: insert(t, HEADER, "\n/* Does a thing with x. */\nint vdb_crc_probe(int x);\n"),
     "vdb_crc_probe returns int"),
    ("a blank line cuts the comment off",
     lambda t: insert(t, HEADER, "\n/* Errors: VDB_EINVAL. */\n\nint vdb_crc_probe(int x);\n"),
     "vdb_crc_probe returns int"),
    ("multi-line declaration, comment without codes",
     lambda t: insert(t, HEADER, "\n/* Does a thing. */\nint vdb_crc_probe(int x,\n"
                      "                   int y);\n"),
     "vdb_crc_probe returns int"),
    ("static inline without a contract",
     lambda t: insert(t, HEADER, "\nstatic inline int vdb_crc_probe(int x)\n{\n    return x;\n}\n"),
     "vdb_crc_probe returns int"),
    ("codes listed",
     lambda t: insert(t, HEADER, "\n/* Does a thing. Errors: VDB_EINVAL, VDB_ENOMEM. */\n"
                      "int vdb_crc_probe(int x);\n"),
     None),
    ("predicate that never fails, wrapped over lines",
     lambda t: insert(t, HEADER, "\n/* 1 when x is odd, else 0; never\n * fails. */\n"
                      "int vdb_crc_probe(int x);\n"),
     None),
    ("one comment covering a group",
     lambda t: insert(t, HEADER, "\n/* Both return VDB_OK or VDB_EIO. */\nint vdb_crc_probe(int x);\n"
                      "int vdb_crc_probe2(int x);\n"),
     None),
    ("sentinel that is not an error code",
     lambda t: insert(t, HEADER, "\n/* Parses x; -1 when unknown (no error code). */\n"
                      "int vdb_crc_probe(const char *x);\n"),
     None),
    ("a declaration quoted inside a comment is not one",
     lambda t: insert(t, HEADER, "\n/* Use it as\nint vdb_crc_probe(int x);\n   never mind. */\n"),
     None),
    ("private headers are not checked",
     lambda t: insert(t, "src/index/hnsw_int.h", "\nint vdb_hnsw__probe(int x);\n"),
     None),
]


def main():
    failures = 0
    with tempfile.TemporaryDirectory(prefix="hdr_check_test_") as tmp:
        base = os.path.join(tmp, "base")
        shutil.copytree(os.path.join(ROOT, "src"), os.path.join(base, "src"))
        rc, out = run(base)
        if rc != 0:
            print("FAIL: the committed tree does not pass:\n" + out)
            return 1
        for name, edit, expect in CASES:
            tree = os.path.join(tmp, "case")
            shutil.rmtree(tree, ignore_errors=True)
            shutil.copytree(base, tree)
            edit(tree)
            rc, out = run(tree)
            ok = (rc == 0) if expect is None else (rc != 0 and expect in out)
            print("%s: %s" % ("ok  " if ok else "FAIL", name))
            if not ok:
                failures += 1
                print("    rc %d, output:\n%s" % (rc, out))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
