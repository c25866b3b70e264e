#!/usr/bin/env python3
"""TensorFlow's side of the CNN-ensemble study, measured on this machine.

The study averaged the predictions of 4 small Keras CNNs (Conv(32) -> pool ->
Conv(64) -> pool -> Conv(64) -> Dense(64) -> Dense(10), the TensorFlow
CIFAR-10 tutorial's network) over 6000 32x32x3 images and compared three
designs:

  sequential       a loop over the members, model.predict on each
  multiprocessing  one process per member (spawned, loads its member from
                   disk, streams its probabilities back in segments of 500)
  one_graph        all members in one Keras model (shared input, averaged
                   outputs), one model.predict

This script trains the members (one epoch at batch 4, one after another, as
the study did; timed), then times each design at every predict batch size
from a standing start, `--repeats` times, and writes the results file that
`cpuwall ensemble report --tensorflow FILE` and the cnn_study example read
(format `cpuwall-baseline-tensorflow`, docs/results.md). Wall time is
time.perf_counter(); CPU time is this process's plus its waited-for
children's (os.times()), so the member processes count.

The images are seeded synthetic CIFAR-10-shaped data (nothing can be
downloaded here); timing does not depend on pixel values or accuracy.

    python3 -m venv .venv && .venv/bin/pip install tensorflow-cpu
    .venv/bin/python baselines/keras_ensembles.py --out reports/cnn-study/tensorflow.json
    cpuwall ensemble report --results reports/cnn-study/results.json \\
        --tensorflow reports/cnn-study/tensorflow.json
"""

import argparse
import datetime
import json
import multiprocessing as mp
import os
import platform
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SEGMENT = 500
FORMAT = "cpuwall-baseline-tensorflow"
VERSION = 2


def build_member(seed):
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input(shape=(32, 32, 3)),
            layers.Conv2D(32, 3, activation="relu"),
            layers.MaxPooling2D(),
            layers.Conv2D(64, 3, activation="relu"),
            layers.MaxPooling2D(),
            layers.Conv2D(64, 3, activation="relu"),
            layers.Flatten(),
            layers.Dense(64, activation="relu"),
            layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


def images(n, seed):
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8).astype("float32") / 255.0
    y = rng.integers(0, 10, size=n)
    return x, y


def cpu_seconds():
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def member_worker(path, seed, n, batch, queue):
    """One member in its own process: load it, predict in segments, send them back."""
    import keras

    model = keras.models.load_model(path)
    x, _ = images(n, seed)
    for start in range(0, n, SEGMENT):
        queue.put((path, start, model.predict(x[start : start + SEGMENT], batch_size=batch, verbose=0)))
    queue.put((path, None, None))


def run_sequential(models, x, batch):
    return sum(m.predict(x, batch_size=batch, verbose=0) for m in models) / len(models)


def run_multiprocessing(paths, seed, n, batch):
    import numpy as np

    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=member_worker, args=(p, seed, n, batch, queue)) for p in paths]
    for p in procs:
        p.start()
    out = {p: np.zeros((n, 10), dtype="float32") for p in paths}
    done = 0
    while done < len(paths):
        path, start, probs = queue.get()
        if start is None:
            done += 1
        else:
            out[path][start : start + len(probs)] = probs
    for p in procs:
        p.join()
        if p.exitcode != 0:
            sys.exit(f"member process {p.pid} failed (exit code {p.exitcode})")
    return sum(out.values()) / len(paths)


def one_graph(models):
    import keras
    from keras import layers

    inp = keras.Input(shape=(32, 32, 3))
    return keras.Model(inp, layers.Average()([m(inp) for m in models]))


def timed(fn):
    c0, t0 = cpu_seconds(), time.perf_counter()
    fn()
    wall = time.perf_counter() - t0
    return wall, cpu_seconds() - c0


def environment():
    import tensorflow as tf

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = 0.0
    return {
        "cpu_model": cpu,
        "cores": os.cpu_count(),
        "os": f"{platform.system().lower()} {platform.release()}",
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "load_average_start": load,
    }


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=6000, help="images to predict (default 6000, the study's)")
    p.add_argument("--members", type=int, default=4)
    p.add_argument("--batch-sizes", default="4,64,500", help="predict batch sizes, comma-separated")
    p.add_argument("--repeats", type=int, default=3, help="timed runs per design and batch size (median)")
    p.add_argument("--train-images", type=int, default=6000, help="images each member trains on (one epoch, batch 4)")
    p.add_argument("--out", default="results/tensorflow.json")
    a = p.parse_args()
    batches = [int(b) for b in a.batch_sizes.split(",")]
    if a.images < 1 or a.members < 1 or a.repeats < 1 or any(b < 1 for b in batches):
        sys.exit("--images, --members, --repeats and every batch size must be at least 1")
    out_dir = os.path.dirname(os.path.abspath(a.out))
    if not os.path.isdir(out_dir):
        sys.exit(f"--out {a.out}: directory {out_dir} does not exist")

    env = environment()
    print(f"TensorFlow {env['tensorflow']} on {env['cpu_model']} ({env['cores']} cores)", file=sys.stderr)
    xt, yt = images(a.train_images, 1)
    models = [build_member(100 + m) for m in range(a.members)]
    t0 = time.perf_counter()
    for m in models:
        m.fit(xt, yt, batch_size=4, epochs=1, verbose=0)
    train_seconds = time.perf_counter() - t0
    print(f"trained {a.members} members one after another: {train_seconds:.1f} s", file=sys.stderr)

    seed = 2
    x, _ = images(a.images, seed)
    graph = one_graph(models)
    cells = []
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, m in enumerate(models):
            paths.append(os.path.join(tmp, f"member{i}.keras"))
            m.save(paths[-1])
        designs = {
            "sequential": lambda b: run_sequential(models, x, b),
            "multiprocessing": lambda b: run_multiprocessing(paths, seed, a.images, b),
            "one_graph": lambda b: graph.predict(x, batch_size=b, verbose=0),
        }
        # One check that the three designs compute the same average.
        ref = designs["sequential"](500)
        for name in ("multiprocessing", "one_graph"):
            diff = float(abs(designs[name](500) - ref).max())
            if diff > 1e-4:
                sys.exit(f"{name} disagrees with sequential by {diff:.2e}")
        for b in batches:
            for name, fn in designs.items():
                runs = [timed(lambda: fn(b)) for _ in range(a.repeats)]
                walls = [w for w, _ in runs]
                cpus = [c for _, c in runs]
                cell = {
                    "design": name,
                    "batch_size": b,
                    "images": a.images,
                    "members": a.members,
                    "runs": a.repeats,
                    "wall_seconds": statistics.median(walls),
                    "cpu_seconds": statistics.median(cpus),
                    "cpu_per_wall": sum(cpus) / sum(walls),
                    "raw": {"wall_seconds": walls, "cpu_seconds": cpus},
                }
                cells.append(cell)
                print(f"{name:<16} batch {b:>4}: {cell['wall_seconds']:.3f} s, {cell['cpu_per_wall']:.2f} cpu/wall", file=sys.stderr)
    try:
        env["load_average_end"] = os.getloadavg()[0]
    except OSError:
        env["load_average_end"] = 0.0
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "environment": env,
        "training": {
            "seconds": train_seconds,
            "members": a.members,
            "images": a.train_images,
            "batch_size": 4,
            "epochs": 1,
        },
        "cells": cells,
    }
    tmp = a.out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    os.replace(tmp, a.out)
    print(f"wrote {a.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
