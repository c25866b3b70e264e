#!/usr/bin/env python3
"""Prediction on a Dask cluster: scikit-learn's `predict` against cpuwall's,
on the same LocalCluster, the same Parquet partitions, rounds interleaved.

Writes N rows (make_classification(N x 10, random_state=1), the rows the
study predicts) as Parquet files of --rows-per-file rows, fits the study's
forest (RandomForestClassifier(random_state=0)) and logistic regression
(the study's GridSearchCV over penalty and C, saga) on
make_classification(10000 x 10, random_state=0) as baselines/sklearn_sweep.py
does, starts LocalCluster(n_workers=2, threads_per_worker=1, processes=True)
and, in each round, in rotated order, computes:

  empty               read_parquet + a map_partitions that returns zeros: the
                      scheduler's and the I/O's cost, shown on its own
  scikit-learn MODEL  map_partitions over est.predict (the estimator one
                      graph node, as cpuwall's is)
  cpuwall MODEL       cpuwall.dask.predict(cpuwall.from_sklearn(est), ddf)

Each is reduced on the workers to the count of each label, so the client
receives a few numbers, not 1e7 labels. Wall: the median over rounds (95%
CI). CPU: the workers' processes' CPU over the round (psutil on each
worker), the scheduler's and client's own not included. The labels are
compared once, partition by partition, cpuwall against scikit-learn.

    .venv/bin/pip install "dask[dataframe]==2026.11.0" "distributed==2026.11.0" pyarrow psutil scikit-learn
    .venv/bin/python baselines/dask_predict.py --rows 1e7 --out reports/dask/predict.md
"""
import argparse
import os
import shutil
import sys
import tempfile
import time
import warnings

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from regression_peers import commit, cpu_name, vs_scikit_learn, write_report  # noqa: E402
from sklearn_sweep import train  # noqa: E402

import cpuwall  # noqa: E402
import cpuwall.dask  # noqa: E402
from cpuwall.bench import median_ci  # noqa: E402

FEATURES = [f"f{i}" for i in range(10)]


def write_parquet(n, per_file, out_dir):
    from sklearn.datasets import make_classification

    x, _ = make_classification(n_samples=n, n_features=10, random_state=1)
    for i, a in enumerate(range(0, n, per_file)):
        part = pd.DataFrame(x[a:a + per_file], columns=FEATURES)
        part.to_parquet(os.path.join(out_dir, f"part-{i:04d}.parquet"), index=False)
    return x


def _zeros(part):
    return pd.Series(np.zeros(len(part), dtype=np.int64), index=part.index, name="prediction")


def _sk_predict(part, est):
    return pd.Series(est.predict(part.to_numpy()), index=part.index, name="prediction")


def _worker_cpu():
    import psutil

    t = psutil.Process().cpu_times()
    return t.user + t.system


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=float, default=1e7)
    ap.add_argument("--rows-per-file", type=float, default=5e5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--models", default="rf,lr")
    ap.add_argument("--out", default="reports/dask/predict.md")
    a = ap.parse_args()
    import dask
    import dask.dataframe as dd
    import distributed
    import sklearn

    n, per_file = int(a.rows), int(a.rows_per_file)
    work = tempfile.mkdtemp(prefix="cpuwall-dask-")
    try:
        t = time.perf_counter()
        x = write_parquet(n, per_file, work)
        print(f"{n} rows in {len(os.listdir(work))} Parquet files: {time.perf_counter() - t:.1f} s", file=sys.stderr)
        models = {}
        warnings.filterwarnings("ignore", category=UserWarning)  # the study's grid: l1_ratio with l1/l2
        for name in a.models.split(","):
            est = train(name)
            models[name] = (est, cpuwall.from_sklearn(est))
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                      dashboard_address=None, silence_logs=40) as cluster, \
                distributed.Client(cluster) as client:
            ddf = dd.read_parquet(work)
            meta = pd.Series(np.zeros(0, dtype=np.int64), name="prediction")
            jobs = {"empty": lambda: ddf.map_partitions(_zeros, meta=meta)}
            for name, (est, model) in models.items():
                shipped = dask.delayed(est, pure=True, traverse=False)
                jobs[f"scikit-learn {name}"] = (lambda s=shipped: ddf.map_partitions(_sk_predict, s, meta=meta))
                jobs[f"cpuwall {name}"] = (lambda m=model: cpuwall.dask.predict(m, ddf))
            # Labels, once: cpuwall's against scikit-learn's on every row.
            same = {}
            for name in models:
                sk = jobs[f"scikit-learn {name}"]().compute().to_numpy()
                cw = jobs[f"cpuwall {name}"]().compute().to_numpy()
                same[name] = bool(len(sk) == n and np.array_equal(sk, cw))
                print(f"{name}: labels identical on {n} rows: {same[name]}", file=sys.stderr)
            names = list(jobs)
            walls = {k: [] for k in names}
            cpus = {k: [] for k in names}
            for r in range(a.rounds):
                order = names[r % len(names):] + names[:r % len(names)]
                for k in order:
                    c0 = client.run(_worker_cpu)
                    t0 = time.perf_counter()
                    counts = jobs[k]().value_counts().compute()
                    wall = time.perf_counter() - t0
                    c1 = client.run(_worker_cpu)
                    cpu = sum(c1[w] - c0.get(w, c1[w]) for w in c1)
                    assert int(counts.sum()) == n, (k, counts)
                    walls[k].append(wall)
                    cpus[k].append(cpu)
                    print(f"round {r + 1} {k}: {wall:.3f} s wall, {cpu:.2f} s worker CPU", file=sys.stderr)
            workers = client.scheduler_info()["workers"]
            threads = sum(w["nthreads"] for w in workers.values())
            budget = cpuwall.dask._thread_budget()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    rows = []
    empty, _ = median_ci(walls["empty"])
    for k in names:
        med, (lo, hi) = median_ci(walls[k])
        cpu, _ = median_ci(cpus[k])
        rows.append({"predictor": k, "wall_seconds": med, "wall_ci95": [lo, hi], "worker_cpu_seconds": cpu,
                     "cpu_per_wall": cpu / med, "over_empty_seconds": med - empty, "walls": walls[k]})
    doc = {"format": "cpuwall-baseline-dask", "rows": n, "files": -(-n // per_file), "rounds": a.rounds,
           "cpu": cpu_name(), "cores": os.cpu_count(), "isa": cpuwall.isa(), "commit": commit(),
           "dask": dask.__version__, "distributed": distributed.__version__, "sklearn": sklearn.__version__,
           "workers": len(workers), "threads": threads, "cpuwall_threads_per_task": budget,
           "labels_identical": same, "results": rows}
    by = {r["predictor"]: r for r in rows}
    lines = [
        "# Prediction on a Dask cluster: scikit-learn against cpuwall",
        "",
        f"Made by `python baselines/dask_predict.py --rows {a.rows:g} --rounds {a.rounds}` at commit {doc['commit']} "
        f"on {doc['cpu']} ({doc['cores']} cores, cpuwall's ISA {doc['isa']}); dask {doc['dask']}, "
        f"distributed {doc['distributed']}, scikit-learn {doc['sklearn']}.",
        "",
        f"{n:,} rows x 10 features (make_classification, random_state=1) in {doc['files']} Parquet files; "
        f"`LocalCluster(n_workers=2, threads_per_worker=1, processes=True)`; each predictor's labels reduced "
        f"on the workers to per-label counts. Rounds interleaved in rotated order; median wall over "
        f"{a.rounds} rounds with its 95% CI; CPU is the two worker processes' CPU over the round. "
        f"cpuwall's tasks use {budget} thread(s) each (cpuwall.dask's rule: cores over the host's Dask threads).",
        "",
        "| predictor | wall (median) | 95% CI | over the empty run | worker CPU | CPU/wall | vs scikit-learn |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        k = r["predictor"]
        ratio = vs_scikit_learn(r, by, empty)
        lo, hi = r["wall_ci95"]
        over = "-" if k == "empty" else f"{r['over_empty_seconds']:.3f} s"
        lines.append(f"| {k} | {r['wall_seconds']:.3f} s | {lo:.3f} - {hi:.3f} | {over} | "
                     f"{r['worker_cpu_seconds']:.2f} s | {r['cpu_per_wall']:.2f} | {ratio} |")
    lines += [
        "",
        "The empty run is the floor every predictor pays here: reading the Parquet files, building and "
        "scheduling the graph, the reduction. \"over the empty run\" is what the model itself added.",
    ]
    write_report(a.out, doc, lines, same)


if __name__ == "__main__":
    main()
