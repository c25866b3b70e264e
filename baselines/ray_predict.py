#!/usr/bin/env python3
"""Prediction on Ray Data: scikit-learn's `predict` against cpuwall's, each
model held by an actor pool, the same rows, rounds interleaved.

    .venv/bin/pip install "ray[data]" scikit-learn psutil
    .venv/bin/python baselines/ray_predict.py --rows 1e6 --out reports/ray/predict.md

Fits the study's forest and logistic regression as baselines/sklearn_sweep.py
does (make_classification(10000 x 10, random_state=0)), starts Ray on this
machine (`ray.init(num_cpus=cores)`), and predicts N rows
(make_classification(N x 10, random_state=1), one Ray dataset of --blocks
blocks) with `Dataset.map_batches(Predictor, compute=ActorPoolStrategy(size=cores))`,
where the actor holds the model (received once per actor: the estimator, or
`cpuwall.from_sklearn(estimator)`, converted once in the driver, predicting
with one thread, as a Ray actor's CPU is one core), and `batch_format="numpy"`. Each round runs every
predictor in rotated order, including an empty one (the actor returns
zeros) that shows what Ray itself costs. Every row carries its index and
each run puts its labels back in row order (Ray returns blocks as they
finish), in every predictor's wall alike. Wall: median over rounds with its
95% CI; the labels are compared once, row by row, with scikit-learn's.
"""
import argparse
import os
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from regression_peers import commit, cpu_name, vs_scikit_learn, write_report  # noqa: E402
from sklearn_sweep import train  # noqa: E402

import cpuwall  # noqa: E402
from cpuwall.bench import median_ci  # noqa: E402


class Predictor:
    """A Ray actor: one model, received once; `kind` is "empty",
    "scikit-learn" or "cpuwall" (a cpuwall Model, converted once in the
    driver and shipped as its model file's bytes)."""

    def __init__(self, kind, model):
        self.kind = kind
        self.model = model

    def __call__(self, batch):
        x = np.column_stack([batch[f"f{i}"] for i in range(10)])
        if self.kind == "empty":
            label = np.zeros(len(x), dtype=np.int64)
        elif self.kind == "cpuwall":
            label = self.model.predict(x, backend="direct")
        else:
            label = self.model.predict(x)
        return {"row": batch["row"], "label": label}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=float, default=1e6)
    ap.add_argument("--blocks", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--models", default="rf,lr")
    ap.add_argument("--out", default="reports/ray/predict.md")
    a = ap.parse_args()
    import ray
    import sklearn
    from sklearn.datasets import make_classification

    n = int(a.rows)
    cores = os.cpu_count() or 1
    warnings.filterwarnings("ignore", category=UserWarning)
    models = {name: train(name) for name in a.models.split(",")}
    x, _ = make_classification(n_samples=n, n_features=10, random_state=1)
    ray.init(num_cpus=cores, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    ray.data.DataContext.get_current().enable_progress_bars = False
    try:
        x_rows = np.column_stack([np.arange(n, dtype=np.float64), x])
        ds = ray.data.from_numpy(x_rows).repartition(a.blocks)
        ds = ds.map_batches(lambda b: {"row": b["data"][:, 0].astype(np.int64),
                                       **{f"f{i}": b["data"][:, i + 1] for i in range(10)}}, batch_format="numpy")
        ds = ds.materialize()  # the rows live in Ray's object store before any timing

        def run(kind, est):
            out = ds.map_batches(Predictor, fn_constructor_args=(kind, est), batch_format="numpy",
                                 compute=ray.data.ActorPoolStrategy(size=cores), num_cpus=1)
            parts = list(out.iter_batches(batch_format="numpy", batch_size=None))
            rows = np.concatenate([b["row"] for b in parts])
            labels = np.concatenate([b["label"] for b in parts])
            return labels[np.argsort(rows, kind="stable")]  # back in row order

        jobs = {"empty": ("empty", None)}
        converted = {name: cpuwall.from_sklearn(est) for name, est in models.items()}
        for name, est in models.items():
            jobs[f"scikit-learn {name}"] = ("scikit-learn", est)
            jobs[f"cpuwall {name}"] = ("cpuwall", converted[name])
        same = {}
        # Blocks come back in the order they finish: each row carries its
        # index, and the check puts the labels back in row order.
        for name, est in models.items():
            want = est.predict(x)
            sk = run("scikit-learn", est)
            cw = run("cpuwall", converted[name])
            same[name] = bool(np.array_equal(sk, want) and np.array_equal(cw, want))
            print(f"{name}: labels identical on {n} rows: {same[name]}", file=sys.stderr)
        names = list(jobs)
        walls = {k: [] for k in names}
        for r in range(a.rounds):
            for k in names[r % len(names):] + names[:r % len(names)]:
                t = time.perf_counter()
                labels = run(*jobs[k])
                walls[k].append(time.perf_counter() - t)
                assert len(labels) == n
                print(f"round {r + 1} {k}: {walls[k][-1]:.3f} s", file=sys.stderr)
        version = ray.__version__
    finally:
        ray.shutdown()
    rows = []
    for k in names:
        med, (lo, hi) = median_ci(walls[k])
        rows.append({"predictor": k, "wall_seconds": med, "wall_ci95": [lo, hi], "walls": walls[k]})
    by = {r["predictor"]: r for r in rows}
    empty = by["empty"]["wall_seconds"]
    doc = {"format": "cpuwall-baseline-ray", "rows": n, "blocks": a.blocks, "rounds": a.rounds, "cpu": cpu_name(),
           "cores": cores, "isa": cpuwall.isa(), "commit": commit(), "ray": version, "sklearn": sklearn.__version__,
           "labels_identical": same, "results": rows}
    lines = [
        "# Prediction on Ray Data: scikit-learn against cpuwall",
        "",
        f"Made by `python baselines/ray_predict.py --rows {a.rows:g} --rounds {a.rounds}` at commit {doc['commit']} "
        f"on {doc['cpu']} ({cores} cores, cpuwall's ISA {doc['isa']}); Ray {version}, scikit-learn {doc['sklearn']}.",
        "",
        f"{n:,} rows x 10 features in {a.blocks} blocks, materialized in Ray's object store; "
        f"`map_batches` with an actor pool of {cores} actors, each holding the model (cpuwall: one thread per "
        f"actor). Rounds interleaved in rotated order; median wall over {a.rounds} rounds with its 95% CI.",
        "",
        "| predictor | wall (median) | 95% CI | over the empty run | vs scikit-learn |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        k = r["predictor"]
        ratio = vs_scikit_learn(r, by, empty)
        lo, hi = r["wall_ci95"]
        over = "-" if k == "empty" else f"{r['wall_seconds'] - empty:.3f} s"
        lines.append(f"| {k} | {r['wall_seconds']:.3f} s | {lo:.3f} - {hi:.3f} | {over} | {ratio} |")
    write_report(a.out, doc, lines, same)


if __name__ == "__main__":
    main()
