"""A client nobody here wrote against `cpuwall serve`'s Open Inference Protocol.

tritonclient's HTTP InferenceServerClient (Triton's own Python client, from
PyPI) checks the server's health and readiness, reads each model's metadata
and runs infer in both of its encodings (binary tensors, its default, and
JSON); labels must equal `cpuwall predict`'s on the same rows and
probabilities must be the very same float64 values; a regressor's one
output, `prediction` (FP64), must be `cpuwall predict`'s values.

usage: python tests/v2_client_check.py CPUWALL MODELS_DIR DATA_CSV WORK_DIR
(models nb, lr, rf and the regressor linreg in MODELS_DIR, trained there by
the CLI if missing)
"""

import csv
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import tritonclient.http as httpclient

MODELS = ["nb", "lr", "rf"]
REGRESSORS = ["linreg"]


def cli_values(cpuwall, models_dir, data, work, model):
    """A regressor's values from `cpuwall predict --out` on the rows."""
    out = Path(work) / f"{model}.v2check.csv"
    subprocess.run(
        [cpuwall, "predict", "--model", model, "--models-dir", models_dir, "--data", data,
         "--backend", "direct", "--min-time", "1ms", "--out", str(out)],
        check=True, stdout=subprocess.DEVNULL,
    )
    with open(out) as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["prediction"], rows[0]
    return np.array([float(r[0]) for r in rows[1:]])


def cli_answers(cpuwall, models_dir, data, work, model):
    """Labels and probabilities from `cpuwall predict --proba` on the rows."""
    out = Path(work) / f"{model}.v2check.csv"
    subprocess.run(
        [cpuwall, "predict", "--model", model, "--models-dir", models_dir, "--data", data,
         "--backend", "direct", "--min-time", "1ms", "--proba", "--out", str(out)],
        check=True, stdout=subprocess.DEVNULL,
    )
    with open(out) as f:
        rows = list(csv.reader(f))
    header, body = rows[0], rows[1:]
    labels = np.array([int(r[0]) for r in body])
    proba = np.array([[float(v) for v in r[1:]] for r in body])
    assert all(h.startswith("p_") for h in header[1:]), header
    return labels, proba


def features(data):
    with open(data) as f:
        rows = list(csv.reader(f))
    header = rows[0]
    keep = [i for i, h in enumerate(header) if h != "y"]
    return np.array([[float(r[i]) for i in keep] for r in rows[1:]])


def start_server(cpuwall, models_dir):
    p = subprocess.Popen(
        [cpuwall, "serve", "--model", ",".join(MODELS + REGRESSORS), "--models-dir", models_dir, "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    deadline = time.time() + 120
    while time.time() < deadline:
        line = p.stdout.readline()
        if not line:
            raise SystemExit(f"cpuwall serve exited (status {p.wait()})")
        if "listening on http://" in line:
            return p, line.split("http://")[1].split()[0]
    p.kill()
    raise SystemExit("cpuwall serve did not start within 120 s")


def main():
    cpuwall, models_dir, data, work = sys.argv[1:5]
    expected = {m: cli_answers(cpuwall, models_dir, data, work, m) for m in MODELS}
    values = {m: cli_values(cpuwall, models_dir, data, work, m) for m in REGRESSORS}
    x = features(data)
    server, url = start_server(cpuwall, models_dir)
    try:
        client = httpclient.InferenceServerClient(url=url)
        assert client.is_server_live() and client.is_server_ready()
        assert "binary_tensor_data" in client.get_server_metadata()["extensions"]
        for m in MODELS:
            labels, proba = expected[m]
            assert client.is_model_ready(m)
            meta = client.get_model_metadata(m)
            assert meta["inputs"][0]["shape"] == [-1, x.shape[1]], meta
            assert [o["name"] for o in meta["outputs"]] == ["label", "probabilities"], meta
            assert meta["outputs"][1]["shape"] == [-1, proba.shape[1]], meta
            for binary in (True, False):
                # The whole set in one request, and its first 7 rows one by one.
                for lo, hi in [(0, len(x))] + [(i, i + 1) for i in range(7)]:
                    inp = httpclient.InferInput("input", [hi - lo, x.shape[1]], "FP64")
                    inp.set_data_from_numpy(x[lo:hi], binary_data=binary)
                    outs = [httpclient.InferRequestedOutput(n, binary_data=binary)
                            for n in ("label", "probabilities")]
                    r = client.infer(m, [inp], outputs=outs, request_id=f"{m}-{lo}")
                    assert r.get_response()["id"] == f"{m}-{lo}"
                    got_labels = r.as_numpy("label")
                    got_proba = r.as_numpy("probabilities")
                    assert np.array_equal(got_labels, labels[lo:hi]), (m, binary, lo)
                    # The CLI writes shortest round-trip decimals: the same f64.
                    assert np.array_equal(got_proba, proba[lo:hi]), (
                        m, binary, lo, np.abs(got_proba - proba[lo:hi]).max())
            print(f"{m}: tritonclient's labels and probabilities equal cpuwall predict's "
                  f"({len(x)} rows, binary and JSON)")
        for m in REGRESSORS:
            meta = client.get_model_metadata(m)
            assert meta["outputs"] == [{"name": "prediction", "datatype": "FP64", "shape": [-1]}], meta
            for binary in (True, False):
                inp = httpclient.InferInput("input", list(x.shape), "FP64")
                inp.set_data_from_numpy(x, binary_data=binary)
                out = httpclient.InferRequestedOutput("prediction", binary_data=binary)
                got = client.infer(m, [inp], outputs=[out]).as_numpy("prediction")
                assert got.dtype == np.float64 and np.array_equal(got, values[m]), (m, binary)
            print(f"{m}: tritonclient's FP64 predictions equal cpuwall predict's values "
                  f"({len(x)} rows, binary and JSON)")
        try:
            client.infer("../nb", [inp])
            raise SystemExit("a model name with ../ was answered")
        except httpclient.InferenceServerException as e:
            assert e.status() == "404", e
    finally:
        server.send_signal(signal.SIGTERM)
        code = server.wait(timeout=60)
        if code != 0:
            raise SystemExit(f"cpuwall serve exited with {code} on SIGTERM")


if __name__ == "__main__":
    main()
