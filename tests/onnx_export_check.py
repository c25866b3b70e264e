#!/usr/bin/env python3
"""Check `cpuwall export`: ONNX Runtime, given the exported model and the
rows of DATA.csv, predicts what cpuwall wrote to OUT.csv. Run by .ci/run
(a venv with onnxruntime and numpy):

    python tests/onnx_export_check.py MODEL.onnx DATA.csv OUT.csv

A classifier's labels must be exactly cpuwall's. A regressor's one output
(float32, as ONNX's ai.onnx.ml regressors give it; rows x k for a
multi-output regressor, whose OUT.csv has prediction_0.. columns): a tree ensemble, which
reads float64 rows and float64 thresholds and leaf values, must give
cpuwall's value rounded to float32 on every row (NaN cells included:
the routes travel as missing-value tracks); a linear regressor, whose
coefficients ONNX holds as float32, must agree within 1e-6 relative.
"""
import csv
import sys

import numpy as np
import onnxruntime as ort


def main(model, data, out):
    with open(data) as f:
        rows = list(csv.reader(f))
    header = rows[0]
    keep = [i for i, h in enumerate(header) if h != "y"]
    x = np.array([[float(r[i]) for i in keep] for r in rows[1:]])
    with open(out) as f:
        written = list(csv.reader(f))
    sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    dtype = np.float64 if inp.type == "tensor(double)" else np.float32
    outputs = sess.run(None, {inp.name: x.astype(dtype)})
    if written[0][0].startswith("prediction"):
        want = np.array([[float(v) for v in r] for r in written[1:]])
        got = outputs[0]
        assert got.shape == want.shape, (got.shape, want.shape)
        got, want = got.astype(np.float64).ravel(), want.ravel()
        if dtype == np.float64:
            bad = np.flatnonzero(got != want.astype(np.float32))
            rule = "cpuwall's values rounded to float32"
        else:
            bad = np.flatnonzero(np.abs(got - want) > 1e-6 * np.maximum(1.0, np.abs(want)))
            rule = "cpuwall's values within 1e-6 relative"
        if len(bad):
            i = bad[0]
            print(f"{model}: ONNX Runtime disagrees with cpuwall on {len(bad)} of {len(want)} values "
                  f"(value {i}: {got[i]!r} against {want[i]!r})")
            return 1
        print(f"{model}: ONNX Runtime {ort.__version__} gives {rule} on all {len(want)} values")
        return 0
    want = [int(r[0]) for r in written[1:]]
    got, proba = outputs
    bad = [i for i, (g, w) in enumerate(zip(got, want)) if int(g) != w]
    if bad or len(got) != len(want):
        print(f"{model}: ONNX Runtime disagrees with cpuwall on {len(bad)} of {len(want)} rows (first: row {bad[:1]})")
        return 1
    assert proba.shape == (len(want), proba.shape[1])
    print(f"{model}: ONNX Runtime {ort.__version__} labels equal cpuwall's on all {len(want)} rows")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
