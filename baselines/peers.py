#!/usr/bin/env python3
"""Time one scikit-learn model in scikit-learn and in ONNX Runtime (1 and
all threads) on the same rows, for comparison with `cpuwall predict` on the
same model imported with `cpuwall import` (run it right after, on the same
machine). Prints medians of --repeat timed calls, and checks that the
labels agree.

    python baselines/peers.py forest.joblib rows.npy [--repeat 7]

Needs scikit-learn, joblib, numpy, skl2onnx and onnxruntime (PyPI).
"""
import argparse
import os
import statistics
import time

import joblib
import numpy as np


def median_seconds(f, repeat):
    f()  # warm-up
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("rows")
    ap.add_argument("--repeat", type=int, default=7)
    a = ap.parse_args()
    model = joblib.load(a.model)
    x = np.load(a.rows)
    ref = model.predict(x)
    rows = [("scikit-learn predict", median_seconds(lambda: model.predict(x), a.repeat), True)]
    import onnxruntime as ort
    from skl2onnx import to_onnx

    onx = to_onnx(model, x[:1].astype(np.float32)).SerializeToString()
    for threads in (1, os.cpu_count()):
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        sess = ort.InferenceSession(onx, so, providers=["CPUExecutionProvider"])
        feed = {sess.get_inputs()[0].name: x.astype(np.float32)}
        labels = sess.run(None, feed)[0]
        same = bool((labels == ref).all())
        rows.append((f"ONNX Runtime {ort.__version__}, {threads} thread(s)", median_seconds(lambda: sess.run(None, feed), a.repeat), same))
    print(f"{type(model).__name__} on {x.shape[0]} x {x.shape[1]} rows, median of {a.repeat}:")
    for name, s, same in rows:
        print(f"  {name:<36} {s * 1e3:9.2f} ms  labels equal scikit-learn's: {'yes' if same else 'no'}")


if __name__ == "__main__":
    main()
