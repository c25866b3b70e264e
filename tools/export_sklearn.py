#!/usr/bin/env python3
"""Export a fitted scikit-learn classifier to cpuwall's JSON exchange format.

    python tools/export_sklearn.py MODEL.joblib|MODEL.pkl OUT.json

Run it in your own Python, where you already trust your pickle: cpuwall
itself never unpickles anything. Needs scikit-learn and joblib only.

The conversion is `cpuwall.sklearn_export.export` (python/cpuwall/
sklearn_export.py: supported estimators, the document's fields), the same
function `cpuwall.from_sklearn` calls in-process; this script runs it from
the installed package or, without one, from this repository's copy.
`cpuwall import OUT.json --out models/NAME.cpuwall` reads the file.
"""
import importlib.util
import json
import os
import sys


def exporter():
    try:
        from cpuwall import sklearn_export

        return sklearn_export
    except ImportError:
        here = os.path.dirname(os.path.abspath(__file__))
        path = os.path.join(here, "..", "python", "cpuwall", "sklearn_export.py")
        spec = importlib.util.spec_from_file_location("cpuwall_sklearn_export", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module


def export(model):
    """The exchange document of `model` (for the baselines' scripts)."""
    return exporter().export(model)


def fail(msg):
    sys.stderr.write(f"export_sklearn: {msg}\n")
    sys.exit(2)


def main(argv):
    if len(argv) != 3:
        fail("usage: export_sklearn.py MODEL.joblib|MODEL.pkl OUT.json")
    src, dst = argv[1], argv[2]
    try:
        import joblib

        model = joblib.load(src)
    except Exception as e:  # noqa: BLE001 - any load failure is the user's file
        fail(f"{src}: cannot load ({e})")
    try:
        doc = exporter().export(model)
    except (TypeError, ValueError) as e:
        fail(str(e))
    with open(dst, "w") as f:
        json.dump(doc, f)
    sys.stderr.write(f"{src}: {doc['estimator']} ({doc['n_features_in']} features, {len(doc['classes'])} classes) -> {dst}\n")


if __name__ == "__main__":
    main(sys.argv)
