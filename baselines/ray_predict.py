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
zeros) that shows what Ray itself costs. Wall: median over rounds with its
95% CI; the labels are compared once, row by row, with scikit-learn's.
"""
import argparse
import os
import sys
import time
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from regression_peers import commit, cpu_name, write_report  # noqa: E402
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
            return {"label": np.zeros(len(x), dtype=np.int64)}
        if self.kind == "cpuwall":
            return {"label": self.model.predict(x, backend="direct")}
        return {"label": self.model.predict(x)}


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
        ds = ray.data.from_items([]) if n == 0 else ray.data.from_numpy(x).repartition(a.blocks)
        ds = ds.map_batches(lambda b: {f"f{i}": b["data"][:, i] for i in range(10)}, batch_format="numpy")
        ds = ds.materialize()  # the rows live in Ray's object store before any timing

        def run(kind, est):
            out = ds.map_batches(Predictor, fn_constructor_args=(kind, est), batch_format="numpy",
                                 compute=ray.data.ActorPoolStrategy(size=cores), num_cpus=1)
            return np.concatenate([b["label"] for b in out.iter_batches(batch_format="numpy", batch_size=None)])

        jobs = {"empty": ("empty", None)}
        converted = {name: cpuwall.from_sklearn(est) for name, est in models.items()}
        for name, est in models.items():
            jobs[f"scikit-learn {name}"] = ("scikit-learn", est)
            jobs[f"cpuwall {name}"] = ("cpuwall", converted[name])
        same = {}
        # Blocks come back in the order they finish unless Ray is told to keep
        # them in order: kept for the check (row i of the output is row i of
        # x), not for the timed runs.
        options = ray.data.DataContext.get_current().execution_options
        options.preserve_order = True
        for name, est in models.items():
            want = est.predict(x)
            sk = run("scikit-learn", est)
            cw = run("cpuwall", converted[name])
            same[name] = bool(np.array_equal(sk, want) and np.array_equal(cw, want))
            print(f"{name}: labels identical on {n} rows: {same[name]}", file=sys.stderr)
        options.preserve_order = False
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
        ratio = ""
        if k.startswith("cpuwall "):
            sk = by[f"scikit-learn {k.split(' ', 1)[1]}"]
            ratio = f"**{sk['wall_seconds'] / r['wall_seconds']:.2f}x** wall"
            a_over, b_over = sk["wall_seconds"] - empty, r["wall_seconds"] - empty
            ratio += f", {a_over / b_over:.1f}x over the empty run" if a_over > 0 and b_over > 0 \
                else " (within the empty run's noise)"
        lo, hi = r["wall_ci95"]
        over = "-" if k == "empty" else f"{r['wall_seconds'] - empty:.3f} s"
        lines.append(f"| {k} | {r['wall_seconds']:.3f} s | {lo:.3f} - {hi:.3f} | {over} | {ratio} |")
    write_report(a.out, doc, lines, same)


if __name__ == "__main__":
    main()
