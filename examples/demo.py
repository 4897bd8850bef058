#!/usr/bin/env python3
"""The basic vdb flow against a running server: create a store, add vectors
with metadata, query (plain, filtered, batch), count, delete, clean up.

    python3 examples/demo.py --url http://127.0.0.1:8000 --key $VECTOR_DB_API_KEY [--short]
"""
import random
import sys

from _common import VDBClient, VDBError, check, parse_args


def main():
    args = parse_args(__doc__.splitlines()[0]).parse_args()
    c = VDBClient(args.url, args.key)
    user, model = args.user, "demo_basic"
    dim, n = (8, 40) if args.short else (128, 2000)
    print(f"server {args.url}: {c.health()['status']}")
    try:
        c.delete_store(user, model, force=True)
    except VDBError:
        pass
    c.create_store(user, model, dimension=dim)
    print(f"created store {user}/{model} ({dim}-d, cosine)")

    rnd = random.Random(7)
    vectors = [[rnd.gauss(0, 1) for _ in range(dim)] for _ in range(n)]
    meta = [{"id": f"doc_{i}", "category": "ABC"[i % 3], "priority": i % 2,
             "lang": "en" if i % 4 < 2 else "de"} for i in range(n)]
    r = c.add_vectors(user, model, vectors, meta)
    print(f"added {r['vectors_added']} vectors")
    check(c.count(user, model) == n, "count after add")

    hits = c.query(user, model, vectors[5], k=3)
    print("query for doc_5:", [(h["metadata"]["id"], round(h["similarity_score"], 4)) for h in hits])
    check(hits[0]["metadata"]["id"] == "doc_5", "nearest neighbour of a stored vector is itself")

    a = c.query(user, model, vectors[0], k=n, filter_metadata={"category": "A"})
    check(a and all(h["metadata"]["category"] == "A" for h in a), "filter category A")
    both = c.query(user, model, vectors[0], k=n, filter_metadata={"priority": 1, "lang": "en"})
    check(all(h["metadata"]["priority"] == 1 and h["metadata"]["lang"] == "en" for h in both),
          "AND filter")
    none = c.query(user, model, vectors[0], k=5, filter_metadata={"category": "Z"})
    print(f"filter category=A: {len(a)} hits; priority=1 AND lang=en: {len(both)}; "
          f"category=Z: {len(none)}")
    check(none == [], "filter with no match")

    batch = c.batch_query(user, model, vectors[:3], k=1)
    print("batch query top-1:", [r[0]["metadata"]["id"] for r in batch])
    check([r[0]["metadata"]["id"] for r in batch] == ["doc_0", "doc_1", "doc_2"], "batch query")

    deleted = c.delete_vectors(user, model, filter_metadata={"category": "C"})
    print(f"deleted {deleted} vectors of category C; {c.count(user, model)} left")
    check(c.count(user, model) == n - deleted, "count after delete")
    stats = c.get_store_stats(user, model)
    print(f"store stats: {stats['vectors']} live vectors")
    c.delete_store(user, model, force=True)
    print("store deleted; demo OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
