#!/usr/bin/env python3
"""How tight can a 95% lower bound on mean recall@10 be from n probe queries?

Calibration (src/store/calib.c) bounds each probe class with a one-sided
Wilson bound over probe *queries*. This compares it, by simulation, with a
distribution-free alternative that adapts to the variance of per-query
recall: a betting (test-martingale) bound for the mean of values in [0, 1]
(Waudby-Smith & Ramdas), with a predictable plug-in bet capped at 0.95/m.
Both are valid at any distribution; the question is which is tighter on the
shapes recall takes, and whether either could certify 0.99 at a smaller ef.

Per-query recall distributions (what a graph search gives near the target):
  single:  4% of queries miss one neighbour (recall 0.9), mean 0.996
  bern:    0.8% of queries miss everything, mean 0.992
  mix:     5% miss one, 1% miss half, mean 0.99
  at99:    10% miss one, mean 0.99
  bern99:  1% miss everything, mean 0.99
Prints, per distribution and n: the median bound of each method, how often
it exceeds the true mean (must be <= 5%), and how often it certifies 0.99.
Usage: /usr/bin/python3 bench/bound_sim.py [TRIALS]   (numpy only)
"""
import math
import sys

import numpy as np

LOG_INV_DELTA = math.log(1 / 0.05)


def betting_rejects(xs, m, cap=0.95):
    """1 when the bets on 'mean > m' grow the capital past 1/delta."""
    logk, mu, ss, n, s = 0.0, 1.0, 1e-4, 0, 0.0
    for x in xs:
        d = mu - m
        lam = 0.0 if d <= 0 else min(d / (ss / (n + 1) + d * d), cap / m)
        logk += math.log1p(lam * (x - m))
        if logk >= LOG_INV_DELTA:
            return True
        n += 1
        s += x
        ss += (x - mu) ** 2
        mu = s / n
    return False


def betting_lcb(xs):
    lo, hi = 0.0, 1.0
    for _ in range(30):
        mid = (lo + hi) / 2
        if betting_rejects(xs, mid):
            lo = mid
        else:
            hi = mid
    return lo


def wilson_lcb(p, n, z=1.6449):
    centre = p + z * z / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre - spread) / (1 + z * z / n)


def main():
    trials = int(sys.argv[1]) if len(sys.argv) > 1 else 300
    rng = np.random.default_rng(1)
    dists = {
        "single": (lambda n: np.where(rng.random(n) < 0.04, 0.9, 1.0), 0.996),
        "bern": (lambda n: np.where(rng.random(n) < 0.008, 0.0, 1.0), 0.992),
        "mix": (lambda n: (lambda u: np.where(u < 0.05, 0.9, np.where(u < 0.06, 0.5, 1.0)))(
            rng.random(n)), 0.99),
        "at99": (lambda n: np.where(rng.random(n) < 0.1, 0.9, 1.0), 0.99),
        "bern99": (lambda n: np.where(rng.random(n) < 0.01, 0.0, 1.0), 0.99),
    }
    for n in (320, 400, 512):
        print(f"all perfect, n={n}: wilson {wilson_lcb(1.0, n):.4f}  betting "
              f"{betting_lcb([1.0] * n):.4f}")
    for name, (draw, mean) in dists.items():
        for n in (320, 400, 512):
            w, b = [], []
            for _ in range(trials):
                xs = draw(n)
                w.append(wilson_lcb(float(xs.mean()), n))
                b.append(betting_lcb(list(xs)))
            w, b = np.array(w), np.array(b)
            print(f"{name:7s} n={n} mean {mean}: wilson median {np.median(w):.4f} "
                  f"(above mean {np.mean(w > mean):.3f}, certifies 0.99 {np.mean(w >= 0.99):.2f})"
                  f" | betting median {np.median(b):.4f} (above mean {np.mean(b > mean):.3f}, "
                  f"certifies 0.99 {np.mean(b >= 0.99):.2f})")


if __name__ == "__main__":
    main()
