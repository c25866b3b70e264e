#!/usr/bin/env python3
"""Check `cpuwall export`: ONNX Runtime, given the exported model and the
rows of DATA.csv, predicts exactly the labels cpuwall wrote to LABELS.csv.
Run by .ci/run (a venv with onnxruntime and numpy):

    python tests/onnx_export_check.py MODEL.onnx DATA.csv LABELS.csv
"""
import csv
import sys

import numpy as np
import onnxruntime as ort


def main(model, data, labels):
    with open(data) as f:
        rows = list(csv.reader(f))
    header = rows[0]
    keep = [i for i, h in enumerate(header) if h != "y"]
    x = np.array([[float(r[i]) for i in keep] for r in rows[1:]])
    with open(labels) as f:
        want = [int(r[0]) for r in list(csv.reader(f))[1:]]
    sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    dtype = np.float64 if inp.type == "tensor(double)" else np.float32
    got, proba = sess.run(None, {inp.name: x.astype(dtype)})
    bad = [i for i, (g, w) in enumerate(zip(got, want)) if int(g) != w]
    if bad or len(got) != len(want):
        print(f"{model}: ONNX Runtime disagrees with cpuwall on {len(bad)} of {len(want)} rows (first: row {bad[:1]})")
        return 1
    assert proba.shape == (len(want), proba.shape[1])
    print(f"{model}: ONNX Runtime {ort.__version__} labels equal cpuwall's on all {len(want)} rows")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
