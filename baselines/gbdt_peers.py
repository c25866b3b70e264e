#!/usr/bin/env python3
"""One boosted model per library, every predictor of it, same machine, same rows.

Trains one model (make_classification(20000 x F, random_state=0); 300
rounds: XGBoost max_depth 6, LightGBM and HistGradientBoosting 31 leaves),
optionally with a fraction of the values missing (NaN, in training and
prediction rows alike), then predicts make_classification(N x F,
random_state=1) with

  the library       XGBoost inplace_predict, LightGBM Booster.predict,
                    HistGradientBoosting predict_proba (OpenMP limited to
                    one thread by threadpoolctl): one thread
  ONNX Runtime      onnxmltools (XGBoost, LightGBM) or skl2onnx
                    (HistGradientBoosting), one intra-op thread
  TL2cgen           Treelite's import, compiled to C by gcc, one thread
  lleaves           LightGBM only: the model compiled by LLVM, n_jobs=1
  cpuwall           `cpuwall import` of the library's own file (XGBoost
                    JSON, LightGBM text) or the exchange document, then
                    `cpuwall predict --backend direct,threads` (labels), and
                    the Python package's predict_proba (one thread)

All but cpuwall's CLI are timed on probabilities (what each returns);
cpuwall's CLI on labels (its `predict`). Rounds are interleaved (every
predictor once per round) so all see the same machine. Each predictor's
probabilities are compared with the library's own (max |p - p_library|);
labels with the library's. Then each predicts one row many times (median
call).

Writes NAME.md and NAME.csv under --out-dir, NAME =
gbdt-<library>-<C>c[-nan<P>]:

    python3 -m venv .venv
    .venv/bin/pip install scikit-learn numpy xgboost-cpu lightgbm onnxruntime onnxmltools skl2onnx \
        tl2cgen treelite threadpoolctl "llvmlite<0.45" lleaves
    cargo build --release && (cd python && maturin develop --release)
    .venv/bin/python baselines/gbdt_peers.py --library xgboost --out-dir reports/gbdt-peers
"""

import argparse
import csv
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
from sklearn.datasets import make_classification

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tools"))
sys.path.insert(0, HERE)
import export_sklearn  # noqa: E402  (the repository's own exporter)
from forest_peers import cpu_name, cpuwall_run, rows_text, seconds_text  # noqa: E402


class Predictor:
    """Timed here: one call per round; `proba(x)` gives an (n, k) array."""

    def __init__(self, name, proba, labels=None, threads=1):
        self.name, self.proba, self.labels, self.threads = name, proba, labels, threads

    def round(self, x):
        t = time.perf_counter()
        p = self.proba(x)
        return time.perf_counter() - t, p

    def single_row(self, row, calls):
        times = []
        for _ in range(calls):
            t = time.perf_counter()
            self.proba(row)
            times.append(time.perf_counter() - t)
        return statistics.median(times)


def two_columns(p):
    """P(class 1) of a binary model (n,) or (n, 1) as (n, 2); others as they are."""
    p = np.asarray(p, dtype=np.float64)
    if p.ndim == 1 or p.shape[1] == 1:
        p = p.reshape(-1)
        return np.column_stack([1 - p, p])
    return p


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--library", choices=["xgboost", "lightgbm", "hist_gradient_boosting"], required=True)
    ap.add_argument("--cpuwall", default=os.path.join(HERE, "..", "target", "release", "cpuwall"))
    ap.add_argument("--rows", type=float, default=1e6)
    ap.add_argument("--features", type=int, default=20)
    ap.add_argument("--classes", type=int, default=2)
    ap.add_argument("--rounds-trees", type=int, default=300, help="boosting rounds")
    ap.add_argument("--nan", type=float, default=0.0, help="fraction of values missing")
    ap.add_argument("--rounds", type=int, default=3, help="timing rounds")
    ap.add_argument("--single-row-calls", type=int, default=300)
    ap.add_argument("--skip", default="", help="comma-separated predictors to leave out (onnx,tl2cgen,lleaves)")
    ap.add_argument("--out-dir", required=True)
    a = ap.parse_args()
    n = int(a.rows)
    cores = os.cpu_count() or 1
    skip = set(filter(None, a.skip.split(",")))
    name = f"gbdt-{a.library.replace('_', '-')}-{a.classes}c" + (f"-nan{int(a.nan * 100)}" if a.nan else "")
    params = dict(n_features=a.features, n_informative=max(2, a.features // 2), n_classes=a.classes)
    x, y = make_classification(n_samples=20000, random_state=0, **params)
    rows, _ = make_classification(n_samples=n, random_state=1, **params)
    if a.nan:
        rng = np.random.default_rng(0)
        x[rng.random(x.shape) < a.nan] = np.nan
        rows[rng.random(rows.shape) < a.nan] = np.nan
    rows = np.ascontiguousarray(rows)
    work = tempfile.mkdtemp(prefix="gbdt-peers-")
    rows_npy = os.path.join(work, "rows.npy")
    np.save(rows_npy, rows)
    one_npy = os.path.join(work, "one.npy")
    np.save(one_npy, rows[:1])
    trees_per_round = 1 if a.classes == 2 else a.classes
    peers = []
    version = ""

    from onnxmltools.convert.common.data_types import FloatTensorType
    if a.library == "xgboost":
        import onnxmltools
        import xgboost as xgb

        version = f"XGBoost {xgb.__version__}"
        est = xgb.XGBClassifier(n_estimators=a.rounds_trees, max_depth=6, random_state=0, n_jobs=cores).fit(x, y)
        booster = est.get_booster()
        booster.set_param({"nthread": 1})
        source = os.path.join(work, "model.json")
        est.save_model(source)
        peers.append(Predictor(f"{version} inplace_predict", lambda r: two_columns(booster.inplace_predict(r))))
        if "onnx" not in skip:
            onx = onnxmltools.convert_xgboost(est, initial_types=[("input", FloatTensorType([None, a.features]))])
            onx = onx.SerializeToString()
        import treelite
        tl_model = treelite.frontend.from_xgboost(booster)
    elif a.library == "lightgbm":
        import lightgbm as lgb
        import onnxmltools

        version = f"LightGBM {lgb.__version__}"
        est = lgb.LGBMClassifier(n_estimators=a.rounds_trees, num_leaves=31, random_state=0, verbose=-1).fit(x, y)
        source = os.path.join(work, "model.txt")
        est.booster_.save_model(source)
        peers.append(Predictor(f"{version} Booster.predict",
                               lambda r: two_columns(est.booster_.predict(r, num_threads=1))))
        if "onnx" not in skip:
            onx = onnxmltools.convert_lightgbm(est, initial_types=[("input", FloatTensorType([None, a.features]))],
                                               zipmap=False).SerializeToString()
        import treelite
        tl_model = treelite.frontend.load_lightgbm_model(source)
    else:
        import sklearn
        from sklearn.ensemble import HistGradientBoostingClassifier
        from threadpoolctl import threadpool_limits

        version = f"scikit-learn {sklearn.__version__}"
        est = HistGradientBoostingClassifier(max_iter=a.rounds_trees, max_leaf_nodes=31, early_stopping=False,
                                             random_state=0).fit(x, y)
        source = os.path.join(work, "model.json")
        with open(source, "w") as f:
            json.dump(export_sklearn.export(est), f)

        def own(r):
            with threadpool_limits(1):
                return est.predict_proba(r)

        peers.append(Predictor(f"{version} HistGradientBoosting predict_proba", own))
        onx = None
        if "onnx" not in skip:
            try:
                from skl2onnx import to_onnx
                onx = to_onnx(est, rows[:1].astype(np.float32), options={"zipmap": False}).SerializeToString()
            except Exception as e:  # noqa: BLE001  (recorded in the report)
                skip.add("onnx")
                onnx_failed = str(e).splitlines()[0][:200]
        import treelite
        tl_model = treelite.sklearn.import_model(est)

    reference = peers[0].proba(rows)
    ref_labels = np.argmax(reference, axis=1)
    notes = []
    if "onnx" not in skip:
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        so.inter_op_num_threads = 1
        sess = ort.InferenceSession(onx, so, providers=["CPUExecutionProvider"])
        feed = sess.get_inputs()[0].name
        rows32 = rows.astype(np.float32)

        def ort_call(r):
            r32 = rows32 if r is rows else r.astype(np.float32)
            out = sess.run(None, {feed: r32})
            probs = out[1]
            if isinstance(probs, list):  # a ZipMap's dicts
                probs = np.array([[d[k] for k in sorted(d)] for d in probs])
            return two_columns(probs)

        peers.append(Predictor(f"ONNX Runtime {ort.__version__}", ort_call))
    elif a.library == "hist_gradient_boosting" and "onnx_failed" in locals():
        notes.append(f"ONNX Runtime: skl2onnx could not convert the model ({onnx_failed}).")
    if "tl2cgen" not in skip:
        import tl2cgen

        lib = os.path.join(work, "model.so")
        t = time.perf_counter()
        tl2cgen.export_lib(tl_model, toolchain="gcc", libpath=lib, params={"parallel_comp": 32}, nthread=cores)
        notes.append(f"TL2cgen: the C library took {time.perf_counter() - t:.0f} s to generate and compile.")
        predictor = tl2cgen.Predictor(lib, nthread=1)
        dense = tl2cgen.DMatrix(rows, dtype="float64")

        def tl_call(r):
            d = dense if r is rows else tl2cgen.DMatrix(r, dtype="float64")
            p = predictor.predict(d)
            return two_columns(p.reshape(r.shape[0], -1))

        peers.append(Predictor(f"TL2cgen {tl2cgen.__version__} (gcc)", tl_call))
    if a.library == "lightgbm" and "lleaves" not in skip:
        import lleaves

        t = time.perf_counter()
        ll = lleaves.Model(model_file=source)
        ll.compile()
        notes.append(f"lleaves: the model took {time.perf_counter() - t:.0f} s to compile.")
        peers.append(Predictor(f"lleaves {lleaves.__version__ if hasattr(lleaves, '__version__') else ''}".strip(),
                               lambda r: two_columns(ll.predict(r, n_jobs=1))))

    import cpuwall

    model = os.path.join(work, "model.cpuwall")
    subprocess.run([a.cpuwall, "import", source, "--out", model], check=True, capture_output=True)
    py_model = cpuwall.load(model)
    peers.append(Predictor(f"cpuwall {cpuwall.__version__} Python predict_proba", py_model.predict_proba))

    cli_version = subprocess.run([a.cpuwall, "--version"], check=True, capture_output=True, text=True).stdout.strip()
    short = " ".join(cli_version.split()[:2])
    seconds = {i: [] for i in range(len(peers) + 2)}
    diff = {}
    labels_npy = os.path.join(work, "labels.npy")
    isa = cpuwall.isa()
    for r in range(a.rounds + 1):  # round 0 warms up and checks outputs
        for i, p in enumerate(peers):
            s, out = p.round(rows)
            if r == 0:
                diff[i] = (float(np.abs(out - reference).max()), bool((np.argmax(out, axis=1) == ref_labels).all()))
            else:
                seconds[i].append(s)
        walls = cpuwall_run(a.cpuwall, model, rows_npy, "direct,threads", labels_npy if r == 0 else None, "100ms")
        if r == 0:
            same = bool((np.load(labels_npy) == ref_labels).all())
            diff[len(peers)] = diff[len(peers) + 1] = (None, same)
            isa = walls["isa"]
        else:
            seconds[len(peers)].append(walls["direct"])
            seconds[len(peers) + 1].append(walls["threads"])
        sys.stderr.write(f"{name}: round {r}/{a.rounds} done\n")

    names = [(p.name, p.threads) for p in peers] + [(f"{short} CLI labels", 1), (f"{short} CLI labels", cores)]
    single = [p.single_row(rows[:1], a.single_row_calls) for p in peers]
    single += [cpuwall_run(a.cpuwall, model, one_npy, "direct", None, "300ms")["direct"], None]
    trees = a.rounds_trees * trees_per_round

    os.makedirs(a.out_dir, exist_ok=True)
    with open(os.path.join(a.out_dir, name + ".csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["predictor", "threads", "round", "rows", "wall_seconds", "max_abs_diff_library", "labels_equal_library"])
        for i, (pname, threads) in enumerate(names):
            d, same = diff[i]
            for r, s in enumerate(seconds[i], 1):
                w.writerow([pname, threads, r, n, f"{s:.6f}", "" if d is None else f"{d:.3e}", same])
            if single[i] is not None:
                w.writerow([pname, threads, "median", 1, f"{single[i]:.9f}", "" if d is None else f"{d:.3e}", same])

    base = statistics.median(seconds[0])
    others = [statistics.median(seconds[i]) for i, (p, _) in enumerate(names)
              if i > 0 and not p.startswith("cpuwall")]
    fastest_peer = min([base] + others)
    ns = 1e9 / (n * trees)
    lines = [
        f"# One {version} model, every predictor: {a.features} features, {a.classes} classes"
        + (f", {a.nan:.0%} missing" if a.nan else ""),
        "",
        f"{version}, {a.rounds_trees} rounds ({trees} trees), trained on make_classification(20000 x {a.features}, "
        f"random_state=0) ({params}){f', {a.nan:.0%} of values NaN' if a.nan else ''}; predicting "
        f"make_classification({n} x {a.features}, random_state=1). {a.rounds} interleaved rounds on one machine "
        f"({cpu_name()}, {cores} cores; cpuwall's kernels on `{isa}`); median wall per call (min-max); ratio to the "
        f"library's own predict on one thread. Every predictor on one thread but the last row.",
        "",
        f"Produced by `python baselines/gbdt_peers.py --library {a.library} --classes {a.classes} --rows {rows_text(n)} "
        f"--rounds {a.rounds}{f' --nan {a.nan}' if a.nan else ''}{f' --rounds-trees {a.rounds_trees}' if a.rounds_trees != 300 else ''}` on {time.strftime('%Y-%m-%d')} with {cli_version}.",
        "",
        "| predictor | threads | wall (median) | min-max | ns per row x tree | vs the library | one row | max \\|p - library's p\\| | labels equal the library's |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for i, (pname, threads) in enumerate(names):
        s = seconds[i]
        med = statistics.median(s)
        d, same = diff[i]
        one_row = "" if single[i] is None else f"{single[i] * 1e6:.1f} µs"
        lines.append(
            f"| {pname} | {threads} | {seconds_text(med)} | {seconds_text(min(s))}-{seconds_text(max(s))} | "
            f"{med * ns:.2f} | {base / med:.2f}x | {one_row} | {'' if d is None else f'{d:.1e}'} | {'yes' if same else 'no'} |"
        )
    cw = statistics.median(seconds[len(peers)])
    lines += [
        "",
        f"cpuwall's CLI on one thread: {base / cw:.2f}x the library's own predict, {fastest_peer / cw:.2f}x the fastest "
        f"other predictor on one thread.",
        "",
        f"One row: the median of {a.single_row_calls} calls for the Python predictors (each pays its library's "
        "per-call overhead); cpuwall's CLI row is its own median per call (`cpuwall predict --data one.npy --backend direct`).",
        "",
    ] + [f"- {n_}" for n_ in notes] + [""]
    with open(os.path.join(a.out_dir, name + ".md"), "w") as f:
        f.write("\n".join(lines))
    print("\n".join(lines))
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
