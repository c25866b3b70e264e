"""A fitted scikit-learn classifier as cpuwall's JSON exchange document.

The one place the conversion rules live in Python: `cpuwall.from_sklearn`
calls `export` in-process, and `tools/export_sklearn.py` (the command a
user runs in their own Python to write a file for `cpuwall import`) calls
the same function. Rust (`src/interop/sklearn.rs`) reads the document and
applies the rest: the float32 threshold rule of forests, the folding of a
StandardScaler, every shape and finiteness check.

Supported (exact float64 parameters): GaussianNB, LogisticRegression
(binary and multinomial), LinearSVC, RandomForestClassifier; a Pipeline of
one of them, optionally after a StandardScaler (folded into the model as
`cpuwall train --scale standard` does); a VotingClassifier (soft or hard,
without weights) of these. Anything else is refused with a TypeError
naming these; a supported estimator that cannot be converted exactly
raises ValueError.

The document ("cpuwall-sklearn", version 1): format, version,
sklearn_version, estimator, n_features_in, feature_names_in (or null),
classes (integers; 0..k-1 when the estimator's are not integers),
class_names (the estimator's labels as text, or null), params, model (the
family's arrays, row-major, as flat lists of floats), scaler (optional:
mean and scale of a StandardScaler). A VotingClassifier's model is
{"voting": "soft" | "hard", "members": [one document per fitted member]};
its members are fitted on the codes 0..k-1 of its classes, as scikit-learn
fits them.
"""
import math

SUPPORTED = ("GaussianNB, LogisticRegression, LinearSVC, RandomForestClassifier (or a Pipeline of one, optionally after a "
             "StandardScaler), or a VotingClassifier of them")


class ExportError(ValueError):
    """A supported estimator that cannot be converted exactly."""


def floats(a):
    """A flat list of Python floats (repr round-trips float64 exactly)."""
    out = [float(v) for v in a.ravel()]
    bad = [v for v in out if not math.isfinite(v)]
    if bad:
        raise ExportError(f"a parameter holds {bad[0]}; cpuwall needs finite parameters")
    return out


def split_pipeline(model):
    """(scaler or None, classifier) of a model or a Pipeline."""
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    if not isinstance(model, Pipeline):
        return None, model
    steps = [s for _, s in model.steps if s not in (None, "passthrough")]
    names = ", ".join(type(s).__name__ for s in steps)
    if len(steps) == 1:
        return None, steps[0]
    if len(steps) == 2 and type(steps[0]) is StandardScaler:
        return steps[0], steps[1]
    raise TypeError(f"a Pipeline of {names}: supported are {SUPPORTED}")


def scaler_of(sc, d):
    """A fitted StandardScaler's mean and scale (0 and 1 where it has none)."""
    import numpy as np

    if not hasattr(sc, "n_features_in_"):
        raise TypeError("the Pipeline's StandardScaler is not fitted")
    mean = sc.mean_ if getattr(sc, "mean_", None) is not None and sc.with_mean else np.zeros(d)
    scale = sc.scale_ if getattr(sc, "scale_", None) is not None and sc.with_std else np.ones(d)
    return {"mean": floats(np.asarray(mean, dtype=float)), "scale": floats(np.asarray(scale, dtype=float))}


def export(model):
    """The exchange document (a dict) of a fitted estimator or Pipeline."""
    import numpy as np
    import sklearn
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.naive_bayes import GaussianNB
    from sklearn.svm import LinearSVC

    from sklearn.ensemble import VotingClassifier

    scaler, est = split_pipeline(model)
    name = type(est).__name__
    if type(est) is VotingClassifier and scaler is None:
        return export_voting(est)
    if type(est) not in (GaussianNB, LogisticRegression, LinearSVC, RandomForestClassifier):
        raise TypeError(f"{name} is not supported; supported: {SUPPORTED}")
    if not hasattr(est, "classes_"):
        raise ValueError(f"{name} is not fitted; fit it before converting it")
    classes = list(est.classes_)
    class_names = None
    if all(isinstance(c, (int, np.integer)) and not isinstance(c, (bool, np.bool_)) for c in classes):
        labels = [int(c) for c in classes]
    else:
        # String (or other) classes: cpuwall predicts 0..k-1, named here.
        class_names = [str(c) for c in classes]
        labels = list(range(len(classes)))
    k = len(classes)
    d = int(est.n_features_in_)
    names_of = scaler if scaler is not None and hasattr(scaler, "feature_names_in_") else est
    out = {
        "format": "cpuwall-sklearn",
        "version": 1,
        "sklearn_version": sklearn.__version__,
        "estimator": name,
        "n_features_in": d,
        "feature_names_in": [str(n) for n in names_of.feature_names_in_] if hasattr(names_of, "feature_names_in_") else None,
        "classes": labels,
        "class_names": class_names,
        "params": {k_: v for k_, v in est.get_params().items() if isinstance(v, (int, float, str, bool, type(None)))},
    }
    if scaler is not None:
        out["scaler"] = scaler_of(scaler, d)
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
                raise ExportError("a one-vs-rest multiclass LogisticRegression: cpuwall imports multinomial ones (the default of the other solvers)")
        out["model"] = {"coef": floats(est.coef_), "intercept": floats(np.atleast_1d(est.intercept_))}
    else:
        if est.n_outputs_ != 1:
            raise ExportError("a multi-output RandomForestClassifier: cpuwall imports single-output forests")
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
    return out


def export_voting(vc):
    """A fitted VotingClassifier: its classes and each fitted member's document."""
    import numpy as np
    import sklearn
    from sklearn.svm import LinearSVC

    if not hasattr(vc, "estimators_"):
        raise ValueError("VotingClassifier is not fitted; fit it before converting it")
    if vc.weights is not None:
        raise ExportError("a VotingClassifier with weights: cpuwall's ensembles weigh members equally")
    if vc.voting not in ("soft", "hard"):
        raise ExportError(f"voting={vc.voting!r}: cpuwall votes soft or hard")
    members = []
    for est in vc.estimators_:
        _, inner = split_pipeline(est)
        if vc.voting == "soft" and isinstance(inner, LinearSVC):
            raise ExportError("soft voting over a LinearSVC, which has no predict_proba; use voting='hard'")
        members.append(export(est))
    if len(members) < 2:
        raise ExportError(f"a VotingClassifier of {len(members)} fitted member: cpuwall's ensembles have at least 2")
    classes = list(vc.classes_)
    if all(isinstance(c, (int, np.integer)) and not isinstance(c, (bool, np.bool_)) for c in classes):
        labels, class_names = [int(c) for c in classes], None
    else:
        labels, class_names = list(range(len(classes))), [str(c) for c in classes]
    return {
        "format": "cpuwall-sklearn",
        "version": 1,
        "sklearn_version": sklearn.__version__,
        "estimator": "VotingClassifier",
        "n_features_in": int(vc.n_features_in_),
        "feature_names_in": [str(n) for n in vc.feature_names_in_] if hasattr(vc, "feature_names_in_") else None,
        "classes": labels,
        "class_names": class_names,
        "params": {"voting": vc.voting},
        "model": {"voting": vc.voting, "members": members},
    }


def class_labels(model):
    """The estimator's own labels (`classes_`), strings included."""
    _, est = split_pipeline(model)
    return list(est.classes_)
