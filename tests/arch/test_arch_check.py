#!/usr/bin/python3
"""Self-test of scripts/arch_check.py: on a copy of the tree, each rule must
pass as committed and fire on an edit built to break it (and stay quiet on
look-alikes that are not violations). Run by `make check-arch`."""

import os
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CHECK = os.path.join(ROOT, "scripts", "arch_check.py")


def run(tree):
    p = subprocess.run([sys.executable, CHECK, "--root", tree], capture_output=True, text=True)
    return p.returncode, p.stdout + p.stderr


def copy_tree(dst):
    shutil.copytree(os.path.join(ROOT, "src"), os.path.join(dst, "src"))
    os.makedirs(os.path.join(dst, "docs"))
    shutil.copy(os.path.join(ROOT, "docs", "architecture.md"), os.path.join(dst, "docs"))


def append(tree, path, text):
    with open(os.path.join(tree, path), "a", encoding="utf-8") as f:
        f.write(text)


# (name, edit, expected message fragment or None for "must still pass")
CASES = [
    ("include up a floor",
     lambda t: append(t, "src/core/crc.c", '\n#include "../api/api.h"\n'),
     "reaches up to floor 5 (api)"),
    ("include sideways (same floor)",
     lambda t: append(t, "src/index/flat.c", '\n#include "../filter/filter.h"\n'),
     "reaches up to floor 2 (filter)"),
    ("cycle between folders",
     lambda t: append(t, "src/kernel/topk.c", '\n#include "../index/index.h"\n'),
     "cycle between folders: index <-> kernel"),
    ("include cycle between files",
     lambda t: (append(t, "src/core/crc.h", '\n#include "hash.h"\n'),
                append(t, "src/core/hash.h", '\n#include "crc.h"\n')),
     "include cycle between files: src/core/crc.h <-> src/core/hash.h"),
    ("call cycle",
     lambda t: append(t, "src/api/reply.c",
                      "\nint vdb_reply__probe(void);\nint vdb_reply__probe(void)\n{\n"
                      "    return vdb_api_port(NULL) != 0;\n}\n"),
     "call cycle between files"),
    ("handler uses handler",
     lambda t: append(t, "src/api/h_root.c",
                      "\nint vdb_h_root_probe(vdb_req *req);\nint vdb_h_root_probe(vdb_req *req)\n{\n"
                      "    return vdb_h_mon_health(req);\n}\n"),
     "handler src/api/h_root.c uses handler src/api/h_monitor.c"),
    ("raw free",
     lambda t: append(t, "src/index/flat.c", "\nvoid vdb_flat__probe(void *p);\n"
                      "void vdb_flat__probe(void *p)\n{\n    free(p);\n}\n"),
     "src/index/flat.c:"),
    ("raw fopen",
     lambda t: append(t, "src/store/meta.c", "\nvoid *vdb_meta__probe(void);\n"
                      "void *vdb_meta__probe(void)\n{\n    return fopen(\"x\", \"r\");\n}\n"),
     "calls fopen() directly"),
    ("missing folder README",
     lambda t: os.remove(os.path.join(t, "src/metrics/README.md")),
     "src/metrics/README.md is missing"),
    ("README without Owns",
     lambda t: open(os.path.join(t, "src/kernel/README.md"), "w").write("# kernel\n\nKernels.\n"),
     "must start with \"Owns\""),
    ("stale drawing",
     lambda t: append(t, "src/metrics/metrics.c", '\n#include "../core/log.h"\n#include "../core/err.h"\n'),
     "docs/architecture.md: the drawn structure is stale"),
    ("look-alikes are not calls",
     lambda t: append(t, "src/core/log.c",
                      "\n/* free(p) and open(path) in a comment */\n"
                      "struct vdb_log__ops { void (*free)(void *); int (*open)(const char *); };\n"
                      "void vdb_log__probe(struct vdb_log__ops *ops);\n"
                      "void vdb_log__probe(struct vdb_log__ops *ops)\n{\n"
                      "    ops->free(\"free(x)\");\n    (void)ops->open(\"open(\");\n}\n"),
     None),
]


def main():
    failures = 0
    with tempfile.TemporaryDirectory() as base:
        clean = os.path.join(base, "clean")
        copy_tree(clean)
        rc, out = run(clean)
        if rc != 0:
            print("FAIL: the committed tree does not pass:\n" + out)
            return 1
        for name, edit, expect in CASES:
            tree = os.path.join(base, name.replace(" ", "_"))
            copy_tree(tree)
            edit(tree)
            rc, out = run(tree)
            ok = (rc == 0) if expect is None else (rc == 1 and expect in out)
            print("%s: %s" % ("ok  " if ok else "FAIL", name))
            if not ok:
                failures += 1
                print("     expected %r, rc %d, got:\n%s" % (expect or "pass", rc, out))
            shutil.rmtree(tree)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
