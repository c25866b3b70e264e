#!/usr/bin/env python3
"""scikit-learn's side of `cpuwall sweep`, measured on this machine.

Trains the study's four models the way the scikit-learn study did
(make_classification(10000 x 10, random_state=0), train_test_split(test_size=0.2,
random_state=2020), GridSearchCV(cv=5) over the study's grids), then times
`predict` on the same rows cpuwall's sweep predicts (make_classification(N x 10,
random_state=1); cpuwall's generator is a bit-exact port) through

  direct     model.predict(X)
  threads    joblib.Parallel(n_jobs, prefer="threads") over contiguous chunks
  processes  joblib.Parallel(n_jobs) with the loky process pool, kept warm

for every batch size, and writes the CSV that `cpuwall report --baseline` reads
(the study's sklearn_sweep.csv columns). CPU time counts the worker processes
too (psutil), the part the study's time.process_time() missed.

    python3 -m venv .venv && .venv/bin/pip install scikit-learn joblib numpy psutil
    .venv/bin/python baselines/sklearn_sweep.py --out results/sklearn.csv
    cpuwall report results/sweep.json --baseline results/sklearn.csv -o reports/sweep.md

The same models in all three (scikit-learn, ONNX Runtime on 1 and N threads,
cpuwall), on the same rows:

    .venv/bin/pip install skl2onnx onnxruntime
    .venv/bin/python baselines/sklearn_sweep.py --onnxruntime --export-dir results/sk --out results/sklearn.csv
    mkdir -p results/models
    for m in nb lr svc rf; do cpuwall import results/sk/$m.json --out results/models/$m.cpuwall; done
    cpuwall sweep --models-dir results/models --out results/sweep.json
    cpuwall report results/sweep.json --baseline results/sklearn.csv -o reports/sweep.md

Regressors, as cpuwall's sweep measures them: `linreg` (GridSearchCV over
Ridge, Lasso and ElasticNet(l1_ratio=0.5) with cpuwall's default alphas) and
`rfr` (RandomForestRegressor(random_state=0)), trained on
make_friedman1(10000 x 10, noise=1, random_state=0) with the same split and
timed on make_friedman1(N x 10, noise=1, random_state=1), the rows
`cpuwall sweep --models linreg,rfr` predicts:

    .venv/bin/python baselines/sklearn_sweep.py --models linreg,rfr --rows 10..1e6 --out results/sklearn-reg.csv

Each cell is timed for at least --min-time and at least 6 runs (like cpuwall);
the median wall is reported. `all_same_as_direct`: labels identical, or for a
regressor values within 1e-5 relative (ONNX Runtime answers float32).
"""

import argparse
import csv
import os
import statistics
import sys
import time

import joblib
import numpy as np
import psutil
import sklearn
from sklearn.datasets import make_classification, make_friedman1
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.linear_model import ElasticNet, Lasso, LogisticRegression, Ridge
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.naive_bayes import GaussianNB
from sklearn.pipeline import Pipeline
from sklearn.svm import LinearSVC

MIN_RUNS = 6

# The study's estimators and grids (cpuwall's default grids are the same).
MODELS = {
    "nb": (GaussianNB(), {}),
    "lr": (
        LogisticRegression(solver="saga", max_iter=5000, l1_ratio=0.5),
        {"penalty": ["l1", "l2", "elasticnet"], "C": [0.001, 0.01, 0.1, 1, 10, 100, 1000]},
    ),
    "svc": (
        LinearSVC(dual=False, max_iter=20000),
        {"penalty": ["l1", "l2"], "C": [0.01, 0.1, 1, 10, 100]},
    ),
    "rf": (RandomForestClassifier(random_state=0), {}),
}

# The regressors, each a cpuwall family (linreg's grid is cpuwall's default:
# penalty l2/l1/elasticnet x these alphas).
ALPHAS = [0.0001, 0.001, 0.01, 0.1, 1, 10, 100]
REGRESSORS = {
    "linreg": (
        Pipeline([("reg", Ridge())]),
        [{"reg": [Ridge(), Lasso(max_iter=10000), ElasticNet(l1_ratio=0.5, max_iter=10000)],
          "reg__alpha": ALPHAS}],
    ),
    "rfr": (RandomForestRegressor(random_state=0), {}),
}


def study_rows(name, n, seed):
    """The rows (and targets) cpuwall's sweep and training use for `name`."""
    if name in REGRESSORS:
        return make_friedman1(n_samples=n, n_features=10, noise=1.0, random_state=seed)
    return make_classification(n_samples=n, n_features=10, random_state=seed)


def parse_rows(text):
    """`10..1e7` by decade, or a list `10,500,1e4` (cpuwall's --rows)."""
    if ".." in text:
        lo, hi = (int(float(v)) for v in text.split(".."))
        out, r = [], lo
        while r <= hi:
            out.append(r)
            r *= 10
        return out
    return [int(float(v)) for v in text.split(",") if v.strip()]


def train(name):
    x, y = study_rows(name, 10000, 0)
    x_train, _, y_train, _ = train_test_split(x, y, test_size=0.2, random_state=2020)
    estimator, grid = {**MODELS, **REGRESSORS}[name]
    if grid:
        search = GridSearchCV(estimator, grid, cv=5, n_jobs=-1)
        search.fit(x_train, y_train)
        best = search.best_estimator_
        # The linear regressor is searched inside a one-step Pipeline (to
        # try three estimators); the estimator itself is what is timed.
        return best.named_steps["reg"] if isinstance(best, Pipeline) else best
    return estimator.fit(x_train, y_train)


def chunks(x, n):
    return np.array_split(x, n) if len(x) >= n else [x]


class Backends:
    """The three ways of predicting, each returning labels."""

    def __init__(self, model, n_jobs):
        self.model = model
        self.n_jobs = n_jobs
        self.threads = joblib.Parallel(n_jobs=n_jobs, prefer="threads")
        self.processes = joblib.Parallel(n_jobs=n_jobs, backend="loky")

    def direct(self, x):
        return self.model.predict(x)

    def run_threads(self, x):
        parts = self.threads(joblib.delayed(self.model.predict)(c) for c in chunks(x, self.n_jobs))
        return np.concatenate(parts)

    def run_processes(self, x):
        parts = self.processes(joblib.delayed(self.model.predict)(c) for c in chunks(x, self.n_jobs))
        return np.concatenate(parts)


def onnx_calls(model, n_jobs):
    """The model through skl2onnx in ONNX Runtime on 1 and n_jobs threads
    (float32 input, as skl2onnx declares it)."""
    import onnxruntime as ort
    from skl2onnx import to_onnx

    onx = to_onnx(model, np.zeros((1, 10), dtype=np.float32)).SerializeToString()
    calls = []
    for threads in sorted({1, n_jobs}):
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        sess = ort.InferenceSession(onx, so, providers=["CPUExecutionProvider"])
        name = sess.get_inputs()[0].name

        # ONNX Runtime takes float32: the rows are converted once per size,
        # outside the timing (the peer is timed at its best).
        cache = {}

        def call(x, sess=sess, name=name, cache=cache):
            key = (id(x), len(x))
            if key not in cache:
                cache.clear()
                cache[key] = x.astype(np.float32)
            out = sess.run(None, {name: cache[key]})[0]
            # A regressor's one output is N x 1.
            return out.ravel() if out.ndim == 2 else out

        calls.append((f"onnxruntime-{threads}t", call, f"onnxruntime {ort.__version__}"))
    return calls


def children_cpu(me):
    total = 0.0
    for c in me.children(recursive=True):
        try:
            t = c.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def measure(call, x, min_time, max_runs, me):
    """Median wall, median own CPU, median CPU with workers, runs."""
    call(x)  # warm-up (starts the loky workers on first use)
    walls, cpus, alls = [], [], []
    total = 0.0
    while len(walls) < MIN_RUNS or (total < min_time and len(walls) < max_runs):
        w0 = children_cpu(me)
        c0 = time.process_time()
        t0 = time.perf_counter()
        call(x)
        wall = time.perf_counter() - t0
        own = time.process_time() - c0
        workers = children_cpu(me) - w0
        walls.append(wall)
        cpus.append(own)
        alls.append(own + workers)
        total += wall
    return statistics.median(walls), statistics.median(cpus), statistics.median(alls), len(walls)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default="nb,lr,svc,rf")
    p.add_argument("--rows", default="10..1e7", help="LOW..HIGH by decade, or a list")
    p.add_argument("--min-time", type=float, default=0.2, help="seconds per cell")
    p.add_argument("--max-runs", type=int, default=1000)
    p.add_argument("--n-jobs", type=int, default=os.cpu_count())
    p.add_argument("--out", default="results/sklearn.csv")
    p.add_argument("--onnxruntime", action="store_true",
                   help="also time each model converted by skl2onnx in ONNX Runtime, on 1 and --n-jobs threads "
                        "(backends onnxruntime-1t, onnxruntime-Nt; needs skl2onnx and onnxruntime)")
    p.add_argument("--export-dir", help="write each trained model as DIR/NAME.json (tools/export_sklearn.py's "
                                        "format): `cpuwall import` them into a --models-dir so the sweep "
                                        "measures the very same models")
    a = p.parse_args()
    names = [m.strip().lower() for m in a.models.split(",") if m.strip()]
    for n in names:
        if n not in MODELS and n not in REGRESSORS:
            sys.exit(f"error: --models: unknown model '{n}'; choose nb, lr, svc, rf, linreg, rfr")
    sizes = parse_rows(a.rows)
    me = psutil.Process()
    rows_out = []
    for name in names:
        t = time.perf_counter()
        model = train(name)
        print(f"{name}: trained in {time.perf_counter() - t:.2f} s", file=sys.stderr)
        b = Backends(model, a.n_jobs)
        calls = [("direct", b.direct, "none"), ("threads", b.run_threads, "ThreadingBackend"),
                 ("processes", b.run_processes, "LokyBackend")]
        if a.export_dir:
            sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
            import json

            from export_sklearn import export

            os.makedirs(a.export_dir, exist_ok=True)
            with open(os.path.join(a.export_dir, f"{name}.json"), "w") as f:
                json.dump(export(model), f)
        if a.onnxruntime:
            calls += onnx_calls(model, a.n_jobs)
        x_all, _ = study_rows(name, max(sizes), 1)
        for n in sizes:
            x = x_all[:n]
            expected = b.direct(x)
            direct_wall = None
            for backend, call, impl in calls:
                got = call(x)
                if name in REGRESSORS:
                    same = bool(got.shape == expected.shape and np.allclose(got, expected, rtol=1e-5, atol=1e-5))
                else:
                    same = bool(np.array_equal(got, expected))
                wall, cpu, cpu_all, runs = measure(call, x, a.min_time, a.max_runs, me)
                if backend == "direct":
                    direct_wall = wall
                rows_out.append({
                    "model": name, "backend": backend, "rows": n,
                    "cpu_s": cpu, "wall_s": wall, "cpu_per_wall": cpu / wall,
                    "cpu_incl_workers_s": cpu_all, "cpu_incl_workers_per_wall": cpu_all / wall,
                    "speedup_vs_direct": direct_wall / wall, "n_runs": runs,
                    "backend_impl": impl, "all_same_as_direct": same,
                    "sklearn_version": sklearn.__version__, "n_jobs": a.n_jobs,
                })
                print(f"{name} {backend} {n}: {wall * 1e3:.3f} ms ({runs} runs)", file=sys.stderr)
    os.makedirs(os.path.dirname(a.out) or ".", exist_ok=True)
    tmp = a.out + ".tmp"
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows_out[0]))
        w.writeheader()
        w.writerows(rows_out)
    os.replace(tmp, a.out)
    print(f"{len(rows_out)} cells -> {a.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
