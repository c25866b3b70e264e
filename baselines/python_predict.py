#!/usr/bin/env python3
"""cpuwall's Python package against each estimator's own `predict`, in one
process, on the study's data, and against the CLI's direct backend on the
same model and rows.

For each of the study's four models (fitted as baselines/sklearn_sweep.py
fits them: make_classification(10000 x 10, random_state=0), the study's
grids; `--quick` skips the grid searches), on the rows cpuwall's sweep
predicts (make_classification(ROWS x 10, random_state=1)):

  one row      est.predict(x[:1]) vs Model.predict(x[:1], backend="direct"):
               the call overhead, each timed over a batch of calls
  ROWS rows    est.predict(X) vs Model.predict(X) on direct and auto, and
               `cpuwall predict --backend direct` on the same model file and
               rows (the CLI's figure, read from its JSON) against a fresh
               Python process that loads the same two files and times its
               direct calls as the CLI times its own (Python/CLI), and
               against the package's direct calls back to back in this
               process (in-process/CLI)

Calls are interleaved over rounds (a noisy neighbour slows all alike); each
cell has the median and a 95% CI of the median. Labels are compared. The
results file has format `cpuwall-baseline-python` (docs/results.md).

    pip install ./python scikit-learn          # (a release build of the package)
    python baselines/python_predict.py --cpuwall target/release/cpuwall --out reports/python/results.json
"""
import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

import numpy as np
import sklearn
from sklearn.datasets import make_classification

import cpuwall
from cpuwall.bench import median_ci, per_call  # the same statistics as cpuwall.bench

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sklearn_sweep  # noqa: E402  (the study's models, fitted as the sweep's baseline fits them)
from forest_peers import cpu_name  # noqa: E402


def fit(name, quick):
    if not quick:
        return sklearn_sweep.train(name)
    x, y = make_classification(n_samples=10000, n_features=10, random_state=0)
    est = sklearn_sweep.MODELS[name][0]
    return sklearn.base.clone(est).fit(x[:8000], y[:8000])


def cli_direct(exe, model_file, rows_npy, min_time):
    out = subprocess.run([exe, "predict", "--model", model_file, "--data", rows_npy, "--backend", "direct",
                          "--min-time", min_time, "--format", "json"], check=True, capture_output=True, text=True)
    b = json.loads(out.stdout)["backends"]["direct"]
    return b["wall_seconds"], b["wall_seconds_ci95"], b["runs"]


# A fresh Python process loading the model file and the rows file and timing
# its direct calls for at least MIN_TIME seconds, median per call: what the
# CLI does, in Python (`cpuwall-python-fresh`).
FRESH = """
import sys, time
import numpy as np
import cpuwall
model, x, min_time = cpuwall.load(sys.argv[1]), np.load(sys.argv[2]), float(sys.argv[3])
model.predict(x, backend="direct")
samples, start = [], time.perf_counter()
while time.perf_counter() - start < min_time or len(samples) < 3:
    t = time.perf_counter()
    model.predict(x, backend="direct")
    samples.append(time.perf_counter() - t)
print(float(np.median(samples)))
"""


def python_fresh(model_file, rows_npy, min_time):
    out = subprocess.run([sys.executable, "-c", FRESH, model_file, rows_npy, str(min_time)], check=True,
                         capture_output=True, text=True)
    return float(out.stdout.split()[-1])


def fmt(s):
    return f"{s * 1e6:.2f} µs" if s < 1e-3 else (f"{s * 1e3:.2f} ms" if s < 1 else f"{s:.3f} s")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=float, default=1e6)
    p.add_argument("--models", default="nb,lr,svc,rf")
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--single-row-seconds", type=float, default=0.05, help="batch length for one-row calls")
    p.add_argument("--cpuwall", help="the CLI, for its direct figure on the same rows (none: skipped)")
    p.add_argument("--quick", action="store_true", help="fit default parameters (no grid search)")
    p.add_argument("--out", required=True, help="results file (JSON)")
    args = p.parse_args()
    rows = int(args.rows)
    x, _ = make_classification(n_samples=rows, n_features=10, random_state=1)
    one = x[:1]
    start_load = os.getloadavg()[0]
    cells = []
    with tempfile.TemporaryDirectory() as tmp:
        rows_npy = os.path.join(tmp, "rows.npy")
        np.save(rows_npy, x)
        for name in args.models.split(","):
            est = fit(name, args.quick)
            model = cpuwall.from_sklearn(est)
            identical = bool(np.array_equal(model.predict(x), est.predict(x)))
            calls = {
                ("scikit-learn", None, 1): lambda: est.predict(one),
                ("cpuwall-python", "direct", 1): lambda: model.predict(one, backend="direct"),
                ("scikit-learn", None, rows): lambda: est.predict(x),
                ("cpuwall-python", "direct", rows): lambda: model.predict(x, backend="direct"),
                ("cpuwall-python", "auto", rows): lambda: model.predict(x, backend="auto"),
            }
            for call in calls.values():  # warm: auto calibrates its crossover once, on its first call
                call()
            samples = {k: [] for k in calls}
            keys = list(calls)
            for r in range(args.rounds):
                for k in keys[r % len(keys):] + keys[:r % len(keys)]:
                    n = k[2]
                    samples[k].append(per_call(calls[k], args.single_row_seconds if n == 1 else 0.0))
            for (peer, backend, n), s in samples.items():
                med, ci = median_ci(s)
                cells.append({"model": name, "peer": peer, "backend": backend, "rows": n, "runs": len(s),
                              "wall_seconds": med, "wall_seconds_ci95": ci, "labels_identical": identical,
                              "raw": {"wall_seconds": s}})
            # The package alone, calls back to back as the CLI times its own,
            # so the in-process/CLI ratio compares like with like (not calls
            # interleaved with scikit-learn's, whose large temporaries evict
            # the caches). The CLI's runs alternate with these blocks: the
            # memory bandwidth of a shared VM drifts by 20% over minutes, and
            # two figures taken minutes apart made ratios of 1.06-1.26 out of
            # the same code. Each CLI run reads the rows into fresh memory, and
            # its speed depends on where they land (one nb model, four runs:
            # 5.7-8.1 ms a call); each block here predicts a fresh copy of the
            # rows likewise, not the one array of the whole process.
            #
            # A process's own history matters too: in this process (which has
            # run scikit-learn and allocated and freed its temporaries) the
            # package's calls took 6.2-7.7 ms a call while CLI runs alternating
            # with them took 3.1-3.4 ms (svc, one run), yet a fresh Python
            # process loading the same model file and rows took what the CLI
            # took, run after run (lr: 7.1-7.6 ms each, both, in a slow phase
            # of the machine). So the Python/CLI ratio is taken between fresh
            # processes alternating round by round, each loading the same two
            # files and timing its direct calls for 0.3 s; the in-process
            # blocks stay in the table beside it.
            path = os.path.join(tmp, f"{name}.cpuwall")
            model.save(path)
            alone, fresh_runs, cli = [], [], []
            for _ in range(args.rounds):
                fresh = x.copy()
                alone += [per_call(lambda: model.predict(fresh, backend="direct"), 0.0) for _ in range(3)]
                del fresh
                if args.cpuwall:
                    fresh_runs.append(python_fresh(path, rows_npy, 0.3))
                    cli.append(cli_direct(args.cpuwall, path, rows_npy, "0.3s")[0])
            med, ci = median_ci(alone)
            cells.append({"model": name, "peer": "cpuwall-python-alone", "backend": "direct", "rows": rows,
                          "runs": len(alone), "wall_seconds": med, "wall_seconds_ci95": ci,
                          "labels_identical": identical, "raw": {"wall_seconds": alone}})
            if args.cpuwall:
                # Each entry: the median of one fresh process's calls.
                med, ci = median_ci(fresh_runs)
                cells.append({"model": name, "peer": "cpuwall-python-fresh", "backend": "direct", "rows": rows,
                              "runs": len(fresh_runs), "wall_seconds": med, "wall_seconds_ci95": ci,
                              "labels_identical": identical, "raw": {"wall_seconds": fresh_runs}})
            if args.cpuwall:
                # Each entry: the median of one CLI run's calls.
                med, ci = median_ci(cli)
                cells.append({"model": name, "peer": "cpuwall-cli", "backend": "direct", "rows": rows,
                              "runs": len(cli), "wall_seconds": med, "wall_seconds_ci95": ci,
                              "labels_identical": identical, "raw": {"wall_seconds": cli}})
            print(f"{name}: done ({'labels identical' if identical else 'LABELS DIFFER'})", file=sys.stderr)
    doc = {
        "format": "cpuwall-baseline-python",
        "version": 2,
        "environment": {
            "cpu_model": cpu_name(), "cores": os.cpu_count(), "os": platform.platform(),
            "python": platform.python_version(), "numpy": np.__version__, "sklearn": sklearn.__version__,
            "cpuwall": cpuwall.__version__, "isa": cpuwall.isa(),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "load_average_start": start_load, "load_average_end": os.getloadavg()[0],
        },
        "settings": {"rows": rows, "features": 10, "rounds": args.rounds, "grid_search": not args.quick},
        "cells": cells,
    }
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out + ".tmp", "w") as f:
        json.dump(doc, f, indent=1)
    os.replace(args.out + ".tmp", args.out)
    print(table(doc))


def table(doc):
    """The markdown table: per model, one row and ROWS rows, with ratios."""
    by = {(c["model"], c["peer"], c["backend"], c["rows"]): c for c in doc["cells"]}
    rows = doc["settings"]["rows"]
    out = [f"Python, one process, {doc['environment']['cpu_model']} ({doc['environment']['cores']} cores, "
           f"ISA {doc['environment']['isa']}), scikit-learn {doc['environment']['sklearn']}; median (95% CI)", "",
           f"| model | sklearn 1 row | cpuwall 1 row | ratio | sklearn {rows:.0e} | cpuwall direct | ratio | "
           f"cpuwall auto | cpuwall direct alone | in-process/CLI | Python fresh process | CLI direct | "
           f"Python/CLI | labels |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for m in dict.fromkeys(c["model"] for c in doc["cells"]):
        s1, c1 = by[(m, "scikit-learn", None, 1)], by[(m, "cpuwall-python", "direct", 1)]
        sn, cn = by[(m, "scikit-learn", None, rows)], by[(m, "cpuwall-python", "direct", rows)]
        ca = by[(m, "cpuwall-python", "auto", rows)]
        cli = by.get((m, "cpuwall-cli", "direct", rows))
        alone = by.get((m, "cpuwall-python-alone", "direct", rows), cn)
        fresh = by.get((m, "cpuwall-python-fresh", "direct", rows))

        def ratio(a, b):
            return f"{a['wall_seconds'] / b['wall_seconds']:.2f}" if a and b else "-"

        def cell(c):
            return f"{fmt(c['wall_seconds'])} ({fmt(c['wall_seconds_ci95'][0])}–{fmt(c['wall_seconds_ci95'][1])})"

        out.append(f"| {m} | {cell(s1)} | {cell(c1)} | {s1['wall_seconds'] / c1['wall_seconds']:.1f}× | {cell(sn)} | "
                   f"{cell(cn)} | {sn['wall_seconds'] / cn['wall_seconds']:.1f}× | {cell(ca)} | {cell(alone)} | "
                   f"{ratio(alone, cli)} | {cell(fresh) if fresh else '-'} | {cell(cli) if cli else '-'} | "
                   f"{ratio(fresh, cli)} | "
                   f"{'identical' if cn['labels_identical'] else 'DIFFER'} |")
    return "\n".join(out)


if __name__ == "__main__":
    main()
