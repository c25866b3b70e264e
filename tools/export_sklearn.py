#!/usr/bin/env python3
"""Export a fitted scikit-learn classifier to cpuwall's JSON exchange format.

    python tools/export_sklearn.py MODEL.joblib|MODEL.pkl OUT.json

Run it in your own Python, where you already trust your pickle: cpuwall
itself never unpickles anything. Needs scikit-learn and joblib only.

Supported (exact float64 parameters): GaussianNB, LogisticRegression
(binary and multinomial), LinearSVC, RandomForestClassifier; a Pipeline
whose only step is one of them. Anything else is refused, listing these.

The format ("cpuwall-sklearn", version 1) is documented in
docs/sklearn-exchange.md; `cpuwall import OUT.json --out models/NAME.cpuwall`
reads it.
"""
import json
import math
import sys

SUPPORTED = "GaussianNB, LogisticRegression, LinearSVC, RandomForestClassifier"


def fail(msg):
    sys.stderr.write(f"export_sklearn: {msg}\n")
    sys.exit(2)


def floats(a):
    """A nested list of Python floats (repr round-trips float64 exactly)."""
    out = [float(v) for v in a.ravel()]
    bad = [v for v in out if not math.isfinite(v)]
    if bad:
        fail(f"a parameter holds {bad[0]}; cpuwall needs finite parameters")
    return out


def estimator_of(model):
    from sklearn.pipeline import Pipeline

    if isinstance(model, Pipeline):
        steps = [s for _, s in model.steps if s not in (None, "passthrough")]
        if len(steps) != 1:
            names = ", ".join(type(s).__name__ for s in steps)
            fail(f"a Pipeline of {names}: only a pipeline of one classifier is supported ({SUPPORTED})")
        return steps[0]
    return model


def export(model):
    import numpy as np
    import sklearn
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.naive_bayes import GaussianNB
    from sklearn.svm import LinearSVC

    est = estimator_of(model)
    name = type(est).__name__
    if not hasattr(est, "classes_"):
        fail(f"{name} is not a fitted classifier; supported: {SUPPORTED}")
    classes = list(est.classes_)
    class_names = None
    if all(isinstance(c, (int, np.integer)) and not isinstance(c, bool) for c in classes):
        labels = [int(c) for c in classes]
    else:
        # String (or other) classes: cpuwall predicts 0..k-1, named here.
        class_names = [str(c) for c in classes]
        labels = list(range(len(classes)))
    k = len(classes)
    d = int(est.n_features_in_)
    out = {
        "format": "cpuwall-sklearn",
        "version": 1,
        "sklearn_version": sklearn.__version__,
        "estimator": name,
        "n_features_in": d,
        "feature_names_in": [str(n) for n in est.feature_names_in_] if hasattr(est, "feature_names_in_") else None,
        "classes": labels,
        "class_names": class_names,
        "params": {k_: v for k_, v in est.get_params().items() if isinstance(v, (int, float, str, bool, type(None)))},
    }
    if type(est) is GaussianNB:
        out["model"] = {
            "theta": floats(est.theta_),
            "var": floats(est.var_),
            "class_prior": floats(est.class_prior_),
            "epsilon": float(est.epsilon_),
        }
    elif type(est) in (LogisticRegression, LinearSVC):
        if type(est) is LogisticRegression and k > 2 and est.coef_.shape[0] == k:
            solver = est.get_params().get("solver")
            multi = est.get_params().get("multi_class", "auto")
            if solver == "liblinear" or multi == "ovr":
                fail("a one-vs-rest multiclass LogisticRegression: cpuwall imports multinomial ones (the default of the other solvers)")
        out["model"] = {"coef": floats(est.coef_), "intercept": floats(np.atleast_1d(est.intercept_))}
    elif type(est) is RandomForestClassifier:
        if est.n_outputs_ != 1:
            fail("a multi-output RandomForestClassifier: cpuwall imports single-output forests")
        trees = []
        for t in est.estimators_:
            tr = t.tree_
            value = tr.value[:, 0, :].astype(float)
            sums = value.sum(axis=1, keepdims=True)
            sums[sums == 0] = 1.0
            value = value / sums  # scikit-learn < 1.4 stored counts
            trees.append({
                "children_left": [int(v) for v in tr.children_left],
                "children_right": [int(v) for v in tr.children_right],
                "feature": [int(v) for v in tr.feature],
                "threshold": [float(v) for v in tr.threshold],
                "value": floats(value),
            })
        # scikit-learn compares float32(x) <= threshold.
        out["model"] = {"trees": trees, "input_dtype": "float32"}
    else:
        fail(f"{name} is not supported; supported: {SUPPORTED}")
    return out


def main(argv):
    if len(argv) != 3:
        fail("usage: export_sklearn.py MODEL.joblib|MODEL.pkl OUT.json")
    src, dst = argv[1], argv[2]
    try:
        import joblib

        model = joblib.load(src)
    except Exception as e:  # noqa: BLE001 - any load failure is the user's file
        fail(f"{src}: cannot load ({e})")
    doc = export(model)
    with open(dst, "w") as f:
        json.dump(doc, f)
    sys.stderr.write(f"{src}: {doc['estimator']} ({doc['n_features_in']} features, {len(doc['classes'])} classes) -> {dst}\n")


if __name__ == "__main__":
    main(sys.argv)
