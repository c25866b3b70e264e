#!/usr/bin/env python3
"""One random forest, five predictors, same machine, same rows.

Trains scikit-learn's RandomForestClassifier(random_state=0) (100 fully grown
trees) the way the study does (make_classification(10000 x F, random_state=0),
train_test_split(test_size=0.2, random_state=2020)), then predicts the same
make_classification(N x F, random_state=1) rows with

  scikit-learn      forest.predict, n_jobs=1 and n_jobs=cores
  ONNX Runtime      the forest through skl2onnx, intra_op threads 1 and cores
  TL2cgen           the forest through Treelite, compiled to C by gcc,
                    Predictor nthread 1 and cores
  cpuwall           the forest through tools/export_sklearn.py and
                    `cpuwall import`, `cpuwall predict --backend direct,threads`

Rounds are interleaved: every predictor runs once per round, round after
round, so that they all see the same machine (this VM's speed drifts within
seconds). cpuwall is timed by itself (its own median over a few calls, in a
subprocess started each round; loading the rows is not timed). Each
predictor's labels are checked against scikit-learn's. Then every predictor
predicts one row, many times (the median call).

Writes NAME.md (the table) and NAME.csv (one line per predictor and round)
under --out-dir, NAME = forest-<F>f<C>c:

    python3 -m venv .venv
    .venv/bin/pip install scikit-learn joblib numpy onnxruntime skl2onnx tl2cgen treelite
    cargo build --release
    .venv/bin/python baselines/forest_peers.py --out-dir reports/forest-peers
    .venv/bin/python baselines/forest_peers.py --features 40 --classes 4 --out-dir reports/forest-peers
"""

import argparse
import csv
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import sklearn
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import train_test_split

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
import export_sklearn  # noqa: E402  (the repository's own exporter)


def data_params(features, classes):
    """make_classification's parameters: the study's (defaults) for 10
    features and 2 classes; wider problems get proportionally more
    informative features."""
    if features == 10 and classes == 2:
        return {"n_features": 10}
    informative = max(2, features // 5)
    return {
        "n_features": features,
        "n_informative": informative,
        "n_redundant": max(0, features // 10),
        "n_classes": classes,
    }


def rows_text(n):
    """1000000 -> 1e6 (cpuwall's spelling); other counts as they are."""
    e = len(str(n)) - 1
    return f"1e{e}" if n == 10**e else str(n)


def seconds_text(s):
    """Seconds as the table shows them: 6.132 s, 41.2 ms."""
    return f"{s:.3f} s" if s >= 1 else f"{s * 1e3:.1f} ms"


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


class Python:
    """A predictor timed here: one call per round."""

    def __init__(self, name, threads, labels_of):
        self.name, self.threads, self.labels_of = name, threads, labels_of

    def round(self, x):
        t = time.perf_counter()
        labels = self.labels_of(x)
        return time.perf_counter() - t, labels

    def single_row(self, row, calls):
        times = []
        for _ in range(calls):
            t = time.perf_counter()
            self.labels_of(row)
            times.append(time.perf_counter() - t)
        return statistics.median(times)


def cpuwall_run(exe, model, rows_npy, backends, labels_out, min_time):
    """`cpuwall predict` on the rows: {backend: median wall seconds}."""
    cmd = [exe, "predict", "--model", model, "--data", rows_npy, "--backend", backends,
           "--repeat", "3", "--min-time", min_time, "--warmup", "1", "--format", "json"]
    if labels_out:
        cmd += ["--out", labels_out]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    doc = json.loads(out)
    walls = {name: b["wall_seconds"] for name, b in doc["backends"].items()}
    walls["isa"] = doc["environment"]["isa"]
    return walls


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cpuwall", default=os.path.join(HERE, "..", "target", "release", "cpuwall"))
    ap.add_argument("--rows", type=float, default=1e6)
    ap.add_argument("--features", type=int, default=10)
    ap.add_argument("--classes", type=int, default=2)
    ap.add_argument("--trees", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--single-row-calls", type=int, default=300)
    ap.add_argument("--proba", action="store_true",
                    help="time class probabilities (predict_proba) instead of labels; cpuwall through "
                         "its Python package (import cpuwall), whose predict_proba runs on one thread")
    ap.add_argument("--out-dir", required=True)
    a = ap.parse_args()
    n = int(a.rows)
    cores = os.cpu_count() or 1
    params = data_params(a.features, a.classes)
    name = f"forest-{a.features}f{a.classes}c" + ("-proba" if a.proba else "")

    x, y = make_classification(n_samples=10000, random_state=0, **params)
    x_train, _, y_train, _ = train_test_split(x, y, test_size=0.2, random_state=2020)
    forest = RandomForestClassifier(n_estimators=a.trees, random_state=0).fit(x_train, y_train)
    leaves = [t.tree_.n_leaves for t in forest.estimators_]
    depths = [t.tree_.max_depth for t in forest.estimators_]
    rows, _ = make_classification(n_samples=n, random_state=1, **params)
    rows = np.ascontiguousarray(rows)
    sys.stderr.write(f"{name}: {a.trees} trees, {statistics.mean(leaves):.0f} leaves on average, depth up to {max(depths)}; {n} rows\n")

    work = tempfile.mkdtemp(prefix="forest-peers-")
    rows_npy = os.path.join(work, "rows.npy")
    np.save(rows_npy, rows)
    one_npy = os.path.join(work, "one.npy")
    np.save(one_npy, rows[:1])
    exchange = os.path.join(work, "rf.json")
    with open(exchange, "w") as f:
        json.dump(export_sklearn.export(forest), f)
    model = os.path.join(work, "rf.cpuwall")
    subprocess.run([a.cpuwall, "import", exchange, "--out", model], check=True, capture_output=True)

    reference = forest.predict_proba(rows) if a.proba else forest.predict(rows)
    classes = forest.classes_
    peers = []

    def sklearn_predict(threads):
        def call(x):
            forest.n_jobs = threads
            return forest.predict_proba(x) if a.proba else forest.predict(x)
        return call

    peers.append(Python("scikit-learn " + sklearn.__version__, 1, sklearn_predict(1)))
    peers.append(Python("scikit-learn " + sklearn.__version__, cores, sklearn_predict(cores)))

    import onnxruntime as ort
    from skl2onnx import to_onnx

    onx = to_onnx(forest, rows[:1].astype(np.float32), options={"zipmap": False}).SerializeToString()
    rows32 = rows.astype(np.float32)  # converted once, outside the timing
    for threads in (1, cores):
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        sess = ort.InferenceSession(onx, so, providers=["CPUExecutionProvider"])
        feed_name = sess.get_inputs()[0].name

        def call(x, sess=sess, feed_name=feed_name):
            x32 = rows32 if x is rows else x.astype(np.float32)
            return sess.run(None, {feed_name: x32})[1 if a.proba else 0]

        peers.append(Python(f"ONNX Runtime {ort.__version__}", threads, call))

    import tl2cgen
    import treelite

    lib = os.path.join(work, "rf.so")
    tl2cgen.export_lib(treelite.sklearn.import_model(forest), toolchain="gcc", libpath=lib,
                       params={"parallel_comp": 32}, nthread=cores)
    for threads in (1, cores):
        predictor = tl2cgen.Predictor(lib, nthread=threads)
        dense = tl2cgen.DMatrix(rows, dtype="float64")  # made once, outside the timing

        def call(x, predictor=predictor, dense=dense):
            d = dense if x is rows else tl2cgen.DMatrix(x, dtype="float64")
            probs = predictor.predict(d).reshape(x.shape[0], -1)
            if probs.shape[1] == 1:  # two classes: P(second class)
                probs = np.hstack([1 - probs, probs])
            return probs if a.proba else classes[np.argmax(probs, axis=1)]

        peers.append(Python(f"TL2cgen {tl2cgen.__version__} (gcc)", threads, call))

    if a.proba:
        import cpuwall

        in_process = cpuwall.from_sklearn(forest)
        peers.append(Python(f"cpuwall {cpuwall.__version__} (Python)", 1, in_process.predict_proba))
        isa = cpuwall.isa()

    version = subprocess.run([a.cpuwall, "--version"], check=True, capture_output=True, text=True).stdout.strip()
    short = " ".join(version.split()[:2])  # "cpuwall 0.1.0"
    own = 0 if a.proba else 2  # cpuwall's CLI rows (labels only)
    seconds = {i: [] for i in range(len(peers) + own)}
    agree = {}
    labels_npy = os.path.join(work, "labels.npy")
    min_time = "100ms"
    for r in range(a.rounds + 1):  # round 0 warms up and checks labels
        for i, p in enumerate(peers):
            s, labels = p.round(rows)
            if r == 0 and a.proba:
                agree[i] = float(np.abs(np.asarray(labels, dtype=np.float64) - reference).max())
            elif r == 0:
                agree[i] = bool((np.asarray(labels).ravel() == reference).all())
            else:
                seconds[i].append(s)
        if a.proba:
            sys.stderr.write(f"round {r}/{a.rounds} done\n")
            continue
        walls = cpuwall_run(a.cpuwall, model, rows_npy, "direct,threads", labels_npy if r == 0 else None, min_time)
        if r == 0:
            same = bool((np.load(labels_npy) == reference).all())
            agree[len(peers)] = agree[len(peers) + 1] = same
            isa = walls["isa"]
        else:
            seconds[len(peers)].append(walls["direct"])
            seconds[len(peers) + 1].append(walls["threads"])
        sys.stderr.write(f"round {r}/{a.rounds} done\n")

    names = [(p.name, p.threads) for p in peers]
    single = [p.single_row(rows[:1], a.single_row_calls) for p in peers]
    if not a.proba:
        names += [(short, 1), (short, cores)]
        one = cpuwall_run(a.cpuwall, model, one_npy, "direct", None, "300ms")["direct"]
        single += [one, None]

    os.makedirs(a.out_dir, exist_ok=True)
    with open(os.path.join(a.out_dir, name + ".csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["predictor", "threads", "round", "rows", "wall_seconds",
                    "max_abs_diff_sklearn" if a.proba else "labels_equal_sklearn"])
        for i, (pname, threads) in enumerate(names):
            for r, s in enumerate(seconds[i], 1):
                w.writerow([pname, threads, r, n, f"{s:.6f}", agree[i]])
            if single[i] is not None:
                w.writerow([pname, threads, "median", 1, f"{single[i]:.9f}", agree[i]])

    base = statistics.median(seconds[0])
    ns = 1e9 / (n * a.trees)
    lines = [
        f"# One forest, five predictors: {a.features} features, {len(classes)} classes",
        "",
        f"scikit-learn `RandomForestClassifier(random_state=0)`, {a.trees} trees, "
        f"{statistics.mean(leaves):.0f} leaves per tree on average, depth up to {max(depths)}, "
        f"trained on make_classification(10000 x {a.features}, random_state=0) ({params}); "
        f"predicting make_classification({n} x {a.features}, random_state=1)"
        f"{': class probabilities (predict_proba)' if a.proba else ''}. "
        f"{a.rounds} interleaved rounds on one machine ({cpu_name()}, {cores} cores; cpuwall's kernels on `{isa}`, "
        f"{'forced by CPUWALL_ISA' if os.environ.get('CPUWALL_ISA') else 'the widest this CPU runs'}); "
        f"median wall per call (min-max), ratio to scikit-learn on one thread.",
        "",
        f"Produced by `python baselines/forest_peers.py --features {a.features} --classes {a.classes} "
        f"--rows {rows_text(n)} --rounds {a.rounds}{' --proba' if a.proba else ''}` on {time.strftime('%Y-%m-%d')} with {version}.",
        "",
        "| predictor | threads | isa | wall (median) | min-max | ns per row x tree | vs scikit-learn | one row | "
        + ("max \\|p - scikit-learn's\\| |" if a.proba else "labels equal scikit-learn's |"),
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for i, (pname, threads) in enumerate(names):
        s = seconds[i]
        med = statistics.median(s)
        one_row = "" if single[i] is None else f"{single[i] * 1e6:.1f} µs"
        lines.append(
            f"| {pname} | {threads} | {isa if pname.startswith('cpuwall') else '(its own)'} | {seconds_text(med)} | {seconds_text(min(s))}-{seconds_text(max(s))} | {med * ns:.1f} | "
            f"{base / med:.2f}x | {one_row} | {(f'{agree[i]:.1e}' if a.proba else ('yes' if agree[i] else 'no'))} |"
        )
    lines += [
        "",
        "One row: the median of "
        f"{a.single_row_calls} calls for the Python predictors (each call pays the "
        "library's per-call overhead)"
        + ("." if a.proba else "; cpuwall's own median per call (`cpuwall predict --data one.npy --backend direct`)."),
        "",
    ]
    with open(os.path.join(a.out_dir, name + ".md"), "w") as f:
        f.write("\n".join(lines))
    print("\n".join(lines))
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
