#!/usr/bin/python3
"""The header-contract check (`make check-arch`, part of `make test`).

docs/style.md: "A header is a contract: ... one comment per function on
what it does, pointer ownership, thread-safety and returned error codes".
This script holds every public function declared in src/**/*.h that returns
`int` to the error half of that promise: the comment in front of it must
either name the codes it returns (some VDB_E<NAME>) or say that it cannot
fail ("never fails" / "cannot fail"); a yes/no predicate or a count says so
too ("1 when ..., else 0; never fails").

Which comment belongs to a declaration: the comments of the same paragraph
(no blank line between) that come before it, so one comment may cover a
group of declarations written together, as LMDB's and libuv's headers do.
Private headers (*_int.h) are not checked: they are one module's inside,
read together with its .c files (api_int.h states its handlers' shared
contract once at its top).

Why text and not the compiler: like arch_check.py, it must run without a
build, and the code base keeps one declaration per statement. The self-test
is tests/arch/test_hdr_check.py. Usage: hdr_check.py [--root DIR]."""

import argparse
import os
import re
import sys

# A declaration (not a definition) of a function returning int, possibly
# over several lines; `static inline` bodies in headers are included.
DECL = re.compile(r"^[ \t]*(?:extern[ \t]+|static[ \t]+inline[ \t]+)?int[ \t]+(\w+)[ \t]*\(",
                  re.M)
COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)
# What makes a comment state the error contract.
# Matched against the comment text with its "*" margins and line breaks
# folded into single spaces, so a phrase may wrap. "no error code" / "not an
# error code" is for a function whose int is something else (a parsed enum
# with -1 for unknown, an exit status) and says so.
CODES = re.compile(r"\bVDB_E[A-Z0-9_]+\b|\b[Nn]ever fails?\b|\b[Cc]annot fail\b|"
                   r"\bno error code\b|\bnot an error code\b")

# Known gaps left for work in flight to fix, as (header, function). Empty:
# every public header passes. An entry that passes, or whose function is
# gone, fails the check until it is removed here, so the list only shrinks.
PENDING = set()


def paragraphs(text):
    """Yields (start offset, paragraph text) for blank-line-separated runs,
    treating a blank line inside a comment as part of that comment."""
    start = 0
    depth_text = ""
    pos = 0
    for line in text.splitlines(keepends=True):
        if line.strip() == "" and depth_text.count("/*") <= depth_text.count("*/"):
            if depth_text.strip():
                yield start, depth_text
            depth_text = ""
            start = pos + len(line)
        else:
            depth_text += line
        pos += len(line)
    if depth_text.strip():
        yield start, depth_text


def check_header(path, rel):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    problems = []
    for start, para in paragraphs(text):
        for m in DECL.finditer(para):
            before = para[:m.start()]
            comments = " ".join(c.group(0) for c in COMMENT.finditer(before))
            comments = re.sub(r"\s*\n\s*\*?(?!/)\s*", " ", comments)
            # Skip what is inside a comment (a declaration quoted in prose).
            if before.count("/*") > before.count("*/"):
                continue
            if not CODES.search(comments):
                line = text.count("\n", 0, start + m.start()) + 1
                problems.append((rel, m.group(1),
                                 "%s:%d: %s returns int but its comment names no error code "
                                 "(VDB_E...) and does not say it never fails"
                                 % (rel, line, m.group(1))))
    return problems


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--root", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    args = ap.parse_args()
    src = os.path.join(args.root, "src")
    problems = []
    for dirpath, dirnames, filenames in os.walk(src):
        dirnames.sort()
        for name in sorted(filenames):
            if name.endswith(".h") and not name.endswith("_int.h"):
                path = os.path.join(dirpath, name)
                problems += check_header(path, os.path.relpath(path, args.root))
    found = set()
    kept = []
    for rel, name, message in problems:
        if (rel, name) in PENDING:
            found.add((rel, name))
        else:
            kept.append(message)
    for rel, name in sorted(set(PENDING) - found):
        kept.append("%s: %s is listed in PENDING but passes now (or is gone): remove it "
                    "from scripts/hdr_check.py" % (rel, name))
    problems = kept
    for p in problems:
        print(p)
    if problems:
        print("hdr_check: %d function(s) without an error contract in their header" % len(problems))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
