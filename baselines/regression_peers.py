#!/usr/bin/env python3
"""Regressors against scikit-learn's own predict, one core, same machine,
same rows, rounds interleaved.

Fits, on make_friedman1(10000 x F, noise=1, random_state=0):
  Ridge(alpha=1.0)                       linear regressor
  RandomForestRegressor(random_state=0)  100 fully grown trees
and, as the memory-speed reference of the linear classifiers,
  LogisticRegression() on make_classification(10000 x F, random_state=0)
then predicts N rows (make_friedman1(N x F, random_state=1)) with each
estimator's `predict` (BLAS and OpenMP held to one thread by
threadpoolctl) and with `cpuwall.from_sklearn(estimator).predict(X,
backend="direct")` (the calling thread), one after another in each round.
Values are compared with scikit-learn's (max |diff|; the forest's are
equal), and each timing is the median of the rounds with its 95% CI
(cpuwall.bench.median_ci). The linear models also get the rate at which
they read the rows (GB/s: N x F x 8 bytes over the median).

    python3 -m venv .venv && .venv/bin/pip install scikit-learn numpy threadpoolctl maturin
    (cd python && VIRTUAL_ENV=../.venv ../.venv/bin/maturin develop --release)
    .venv/bin/python baselines/regression_peers.py --rows 1e6 --out reports/regression-peers.md
"""

import argparse
import json
import os
import statistics
import subprocess
import time

import numpy as np
from sklearn.datasets import make_classification, make_friedman1
from sklearn.ensemble import RandomForestRegressor
from sklearn.linear_model import LogisticRegression, Ridge
from threadpoolctl import threadpool_limits

import cpuwall
from cpuwall.bench import median_ci


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def commit():
    try:
        return subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True,
                              cwd=os.path.dirname(os.path.abspath(__file__))).stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def vs_scikit_learn(r, by, empty):
    """A cluster benchmark's ratio cell for predictor row `r` ("cpuwall
    MODEL"): scikit-learn's wall over cpuwall's, and over what each added to
    the empty run (`empty`: its median wall); blank for other rows."""
    if not r["predictor"].startswith("cpuwall "):
        return ""
    sk = by[f"scikit-learn {r['predictor'].split(' ', 1)[1]}"]
    cell = f"**{sk['wall_seconds'] / r['wall_seconds']:.2f}x** wall"
    a, b = sk["wall_seconds"] - empty, r["wall_seconds"] - empty
    return cell + (f", {a / b:.1f}x over the empty run" if a > 0 and b > 0 else " (both within the empty run's noise)")


def write_report(out, doc, lines, same):
    """A cluster benchmark's report (the Dask and Ray scripts): OUT.md from
    `lines` plus the labels' verdict, and OUT.csv, one line per predictor
    with the run's settings beside its figures (as the peers' CSVs), each
    written whole or not at all; the markdown also to stdout."""
    import csv

    lines = lines + ["", "Labels identical to scikit-learn's on every row: "
                     + ", ".join(f"{k}: {'yes' if v else 'NO'}" for k, v in same.items()) + ".", ""]
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    base = os.path.splitext(out)[0]
    settings = {k: v for k, v in doc.items() if k != "results"}
    settings["labels_identical"] = " ".join(f"{k}={v}" for k, v in same.items())
    with open(base + ".csv.tmp", "w", newline="") as f:
        fields = ["predictor", "wall_seconds", "wall_ci95_low", "wall_ci95_high", "worker_cpu_seconds",
                  "rounds_wall_seconds"] + list(settings)
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        for r in doc["results"]:
            w.writerow({"predictor": r["predictor"], "wall_seconds": r["wall_seconds"],
                        "wall_ci95_low": r["wall_ci95"][0], "wall_ci95_high": r["wall_ci95"][1],
                        "worker_cpu_seconds": r.get("worker_cpu_seconds", ""),
                        "rounds_wall_seconds": " ".join(f"{v:.6f}" for v in r["walls"]), **settings})
    os.replace(base + ".csv.tmp", base + ".csv")
    with open(out + ".tmp", "w") as f:
        f.write("\n".join(lines))
    os.replace(out + ".tmp", out)
    print("\n".join(lines))


def timed(f, x):
    t = time.perf_counter()
    out = f(x)
    return time.perf_counter() - t, out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", default="1e6")
    ap.add_argument("--features", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--forest-rounds", type=int, default=3,
                    help="rounds for the forest (scikit-learn's call takes tens of seconds at 1e6 rows)")
    ap.add_argument("--out", default=None, help="write the markdown table here")
    a = ap.parse_args()
    n, f = int(float(a.rows)), a.features
    xtr, ytr = make_friedman1(n_samples=10000, n_features=f, noise=1.0, random_state=0)
    xc, yc = make_classification(n_samples=10000, n_features=f, random_state=0)
    rows, _ = make_friedman1(n_samples=n, n_features=f, random_state=1)
    fitted = [
        ("Ridge", Ridge(alpha=1.0).fit(xtr, ytr), a.rounds, True),
        ("LogisticRegression (classifier, reference)", LogisticRegression().fit(xc, yc), a.rounds, True),
        ("RandomForestRegressor", RandomForestRegressor(random_state=0).fit(xtr, ytr), a.forest_rounds, False),
    ]
    results = []
    with threadpool_limits(limits=1):
        for name, est, rounds, linear in fitted:
            model = cpuwall.from_sklearn(est)
            sk, cw = [], []
            # A first, untimed call of each: page faults, caches.
            want = est.predict(rows)
            got = model.predict(rows, backend="direct")
            diff = float(np.max(np.abs(np.asarray(got, dtype=float) - np.asarray(want, dtype=float))))
            for r in range(rounds):
                s, _ = timed(est.predict, rows)
                c, _ = timed(lambda x: model.predict(x, backend="direct"), rows)
                sk.append(s)
                cw.append(c)
                print(f"{name} round {r + 1}/{rounds}: scikit-learn {s:.4f} s, cpuwall {c:.4f} s", flush=True)
            results.append((name, linear, sk, cw, diff))
    gb = n * f * 8 / 1e9
    lines = [
        f"# Regressors against scikit-learn's predict, one core: {n:,} rows x {f} features",
        "",
        f"make_friedman1 rows (random_state=1); models fitted on 10,000 rows (random_state=0). "
        f"One machine ({cpu_name()}, {os.cpu_count()} cores); "
        f"cpuwall {cpuwall.__version__} on `{cpuwall.isa()}`; scikit-learn held to one thread (threadpoolctl); "
        f"rounds interleaved (scikit-learn, then cpuwall, each round). Median wall per call [95% CI].",
        "",
        f"Produced by `python baselines/regression_peers.py --rows {a.rows} --features {f} --rounds {a.rounds} "
        f"--forest-rounds {a.forest_rounds}` on {time.strftime('%Y-%m-%d')} with cpuwall {cpuwall.__version__} "
        f"(commit {commit()}, the Python package's release build).",
        "",
        "| model | rounds | scikit-learn | cpuwall (direct) | cpuwall / scikit-learn speedup | cpuwall reads rows at | max \\|cpuwall - scikit-learn\\| |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, linear, sk, cw, diff in results:
        (ms, (sl, sh)), (mc, (cl, ch)) = median_ci(sk), median_ci(cw)
        rate = f"{gb / mc:.1f} GB/s" if linear else "-"
        lines.append(
            f"| {name} | {len(sk)} | {ms:.4f} s [{sl:.4f}, {sh:.4f}] | {mc:.4f} s [{cl:.4f}, {ch:.4f}] | "
            f"{statistics.median(sk) / statistics.median(cw):.2f}x | {rate} | {diff:.2g} |"
        )
    text = "\n".join(lines) + "\n"
    print(text)
    if a.out:
        os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
        with open(a.out, "w") as fh:
            fh.write(text)


if __name__ == "__main__":
    main()
