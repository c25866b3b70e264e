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

SUPPORTED = ("GaussianNB, LogisticRegression, LinearSVC, RandomForestClassifier, ExtraTreesClassifier, "
             "DecisionTreeClassifier, HistGradientBoostingClassifier, GradientBoostingClassifier; the regressors "
             "LinearRegression, Ridge, Lasso, ElasticNet, RandomForestRegressor, ExtraTreesRegressor, "
             "DecisionTreeRegressor, HistGradientBoostingRegressor, GradientBoostingRegressor (or a Pipeline of one, "
             "optionally after a StandardScaler), or a VotingClassifier of the classifiers; XGBClassifier, "
             "XGBRegressor, LGBMClassifier, LGBMRegressor and their Boosters through cpuwall.from_sklearn")

REGRESSORS = ("LinearRegression", "Ridge", "Lasso", "ElasticNet", "RandomForestRegressor", "ExtraTreesRegressor",
              "DecisionTreeRegressor", "HistGradientBoostingRegressor", "GradientBoostingRegressor")
# (a VotingRegressor of these is read too)


class ExportError(ValueError):
    """A supported estimator that cannot be converted exactly."""


def floats(a):
    """A flat list of Python floats (repr round-trips float64 exactly)."""
    out = [float(v) for v in a.ravel()]
    bad = [v for v in out if not math.isfinite(v)]
    if bad:
        raise ExportError(f"a parameter holds {bad[0]}; cpuwall needs finite parameters")
    return out


def thresholds(a):
    """Split thresholds as floats; a split of missing values from the rest
    (threshold +inf: every number goes left) keeps its meaning at the
    largest float64, which JSON can write."""
    out = []
    for v in a.ravel():
        v = float(v)
        if math.isnan(v):
            raise ExportError("a split threshold is NaN")
        out.append(max(min(v, 1.7976931348623157e308), -1.7976931348623157e308))
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


def _head(est, scaler, d, classes, class_names, task=None):
    """The document's fields before its model: format, versions, estimator,
    features (the scaler's names when it has them), classes, parameters,
    the scaler."""
    import sklearn

    names_of = scaler if scaler is not None and hasattr(scaler, "feature_names_in_") else est
    out = {
        "format": "cpuwall-sklearn",
        "version": 1,
        "sklearn_version": sklearn.__version__,
        "estimator": type(est).__name__,
        "n_features_in": d,
        "feature_names_in": [str(n) for n in names_of.feature_names_in_] if hasattr(names_of, "feature_names_in_") else None,
        "classes": classes,
        "class_names": class_names,
        "params": {k_: v for k_, v in est.get_params().items() if isinstance(v, (int, float, str, bool, type(None)))},
    }
    if task is not None:
        out["task"] = task
    if scaler is not None:
        out["scaler"] = scaler_of(scaler, d)
    return out


def export(model):
    """The exchange document (a dict) of a fitted estimator or Pipeline."""
    import numpy as np
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.naive_bayes import GaussianNB
    from sklearn.svm import LinearSVC

    from sklearn.ensemble import VotingClassifier

    from sklearn.ensemble import (ExtraTreesClassifier, GradientBoostingClassifier,
                                  HistGradientBoostingClassifier)
    from sklearn.tree import DecisionTreeClassifier

    scaler, est = split_pipeline(model)
    name = type(est).__name__
    if type(est) is VotingClassifier and scaler is None:
        return export_voting(est)
    if name in REGRESSORS and type(est).__module__.startswith("sklearn."):
        return export_regressor(est, scaler)
    if name == "VotingRegressor" and scaler is None:
        return export_voting_regressor(est)
    forests = (RandomForestClassifier, ExtraTreesClassifier, DecisionTreeClassifier)
    boosted = (HistGradientBoostingClassifier, GradientBoostingClassifier)
    if type(est) not in (GaussianNB, LogisticRegression, LinearSVC) + forests + boosted:
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
    out = _head(est, scaler, d, labels, class_names)
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
    elif type(est) is HistGradientBoostingClassifier:
        out["model"] = export_hist_gradient_boosting(est, k, d)
    elif type(est) is GradientBoostingClassifier:
        out["model"] = export_gradient_boosting(est, k, d)
    else:
        if est.n_outputs_ != 1:
            raise ExportError(f"a multi-output {name}: cpuwall imports single-output forests")
        trees = []
        for t in (est.estimators_ if hasattr(est, "estimators_") else [est]):
            tr = t.tree_
            value = tr.value[:, 0, :].astype(float)
            sums = value.sum(axis=1, keepdims=True)
            sums[sums == 0] = 1.0
            value = value / sums  # scikit-learn < 1.4 stored counts
            tree = {
                "children_left": [int(v) for v in tr.children_left],
                "children_right": [int(v) for v in tr.children_right],
                "feature": [int(v) for v in tr.feature],
                "threshold": thresholds(tr.threshold),
                "value": floats(value),
            }
            # scikit-learn >= 1.3 routes NaN at every split of these trees.
            if hasattr(tr, "missing_go_to_left"):
                tree["missing_go_to_left"] = [int(v) for v in tr.missing_go_to_left]
            trees.append(tree)
        # scikit-learn compares float32(x) <= threshold.
        out["model"] = {"trees": trees, "input_dtype": "float32"}
    return out


def _link(k):
    """How a boosted model's margins become predictions: k = 0 is a regressor."""
    return "identity" if k == 0 else "sigmoid" if k == 2 else "softmax"


def _words(codes):
    """A set of non-negative integers as 32-bit words (bit c of word c // 32)."""
    codes = [int(c) for c in codes]
    if not codes:
        return []
    words = [0] * (max(codes) // 32 + 1)
    for c in codes:
        words[c // 32] |= 1 << (c % 32)
    return words


def export_hist_gradient_boosting(est, k, d):
    """HistGradientBoostingClassifier: every predictor's nodes (thresholds
    compared in float64, NaN by missing_go_to_left), the baseline, and the
    categorical sets over the raw category values."""
    import numpy as np

    # Categorical features are ordinal-encoded first (categorical columns
    # moved to the front); sets and known categories are mapped back to the
    # raw values, which must be non-negative integers.
    pre = getattr(est, "_preprocessor", None)
    if pre is not None:
        cat_mask = np.asarray(est.is_categorical_, dtype=bool)
        order = list(np.flatnonzero(cat_mask)) + list(np.flatnonzero(~cat_mask))
        enc = pre.named_transformers_["encoder"]
        raw_cats = {}
        for j, cats in zip(np.flatnonzero(cat_mask), enc.categories_):
            cats = np.asarray(cats, dtype=float)
            # NaN, when training had it, is the last category and stays a
            # missing value (never a code).
            cats = cats[~np.isnan(cats)]
            if np.any(cats < 0) or np.any(cats != np.floor(cats)) or np.any(cats >= 1 << 20):
                raise ExportError(f"feature {j}'s categories are not non-negative integers below 2^20; cpuwall reads categories as such")
            raw_cats[int(j)] = cats.astype(np.int64)
    else:
        order = list(range(d))
        raw_cats = {}
        if getattr(est, "is_categorical_", None) is not None and np.any(est.is_categorical_):
            raise ExportError("categorical features without scikit-learn's encoder: not supported")
    bitsets = []
    trees = []
    base = np.asarray(est._baseline_prediction, dtype=float).ravel()
    for it in est._predictors:
        for c, pred in enumerate(it):
            nodes = pred.nodes
            leaf = nodes["is_leaf"].astype(bool)
            feature = [int(order[f]) if not l else -2 for f, l in zip(nodes["feature_idx"], leaf)]
            bitset = []
            for i in range(len(nodes)):
                if leaf[i] or not nodes["is_categorical"][i]:
                    bitset.append(-1)
                    continue
                words = np.asarray(pred.raw_left_cat_bitsets[nodes["bitset_idx"][i]], dtype=np.uint64)
                codes = [b for b in range(256) if (int(words[b // 32]) >> (b % 32)) & 1]
                raw = raw_cats[feature[i]]
                bitset.append(len(bitsets))
                bitsets.append(_words(raw[[c_ for c_ in codes if c_ < len(raw)]]))
            trees.append({
                "class": c,
                "children_left": [-1 if l else int(v) for v, l in zip(nodes["left"], leaf)],
                "children_right": [-1 if l else int(v) for v, l in zip(nodes["right"], leaf)],
                "feature": feature,
                "threshold": thresholds(nodes["num_threshold"]),
                "value": floats(nodes["value"].astype(float)),
                "missing_go_to_left": [int(v) for v in nodes["missing_go_to_left"]],
                "bitset": bitset,
            })
    known = [_words(raw_cats[j]) if j in raw_cats else [] for j in range(d)]
    return {
        "link": _link(k),
        "base": floats(base),
        "input_dtype": "float64",
        "missing": True,
        "trees": trees,
        "bitsets": bitsets,
        "known": known,
    }


def export_gradient_boosting(est, k, d):
    """GradientBoostingClassifier or GradientBoostingRegressor (k = 0): each
    stage's regression trees (float32 thresholds), leaf values times the
    learning rate, and the init estimator's constant raw prediction."""
    import numpy as np
    from sklearn.dummy import DummyClassifier, DummyRegressor

    init = est.init_
    if not (init == "zero" or isinstance(init, (DummyClassifier, DummyRegressor))):
        raise ExportError(f"init={type(init).__name__}: cpuwall imports GradientBoosting with the default or 'zero' init")
    if k and est.loss != "log_loss":
        raise ExportError(f"loss={est.loss!r}: cpuwall imports GradientBoostingClassifier with log_loss")
    base = np.asarray(est._raw_predict_init(np.zeros((1, d), dtype=np.float32)), dtype=float).ravel()
    lr = float(est.learning_rate)
    trees = []
    for stage in est.estimators_:
        for c, t in enumerate(stage):
            tr = t.tree_
            trees.append({
                "class": c,
                "children_left": [int(v) for v in tr.children_left],
                "children_right": [int(v) for v in tr.children_right],
                "feature": [int(v) for v in tr.feature],
                "threshold": thresholds(tr.threshold),
                # scikit-learn adds learning_rate * value, the product in float64.
                "value": floats(lr * tr.value[:, 0, 0].astype(float)),
                "missing_go_to_left": [0] * tr.node_count,
            })
    return {
        "link": _link(k),
        "base": floats(base),
        "input_dtype": "float32",
        "missing": False,
        "trees": trees,
    }


def export_regressor(est, scaler):
    """A fitted scikit-learn regressor's document: "task": "regression", no
    classes; linear models' coef/intercept, forests' trees (one value per
    node), boosted trees with the identity link."""
    import numpy as np

    name = type(est).__name__
    if not hasattr(est, "n_features_in_"):
        raise ValueError(f"{name} is not fitted; fit it before converting it")
    d = int(est.n_features_in_)
    out = _head(est, scaler, d, [], None, task="regression")
    if name in ("LinearRegression", "Ridge", "Lasso", "ElasticNet"):
        # A multi-output model's coef_ is (outputs, features): a row each,
        # with one intercept per output. (A single output fitted on a
        # one-column 2-D y is read as one output: cpuwall predicts a 1-D
        # array for it.)
        coef = np.asarray(est.coef_, dtype=float)
        intercept = np.broadcast_to(np.asarray(est.intercept_, dtype=float),
                                    (coef.shape[0] if coef.ndim == 2 else 1,))
        out["model"] = {"coef": floats(coef.ravel()), "intercept": floats(intercept)}
    elif name == "HistGradientBoostingRegressor":
        loss = est.loss if isinstance(est.loss, str) else type(est.loss).__name__
        if loss not in ("squared_error", "absolute_error", "quantile"):
            raise ExportError(f"loss={loss!r}: cpuwall imports HistGradientBoostingRegressor whose predictions are its raw "
                              "sums (squared_error, absolute_error, quantile), not a log link (poisson, gamma)")
        out["model"] = export_hist_gradient_boosting(est, 0, d)
    elif name == "GradientBoostingRegressor":
        out["model"] = export_gradient_boosting(est, 0, d)
    else:
        k = int(est.n_outputs_)
        trees = []
        for t in (est.estimators_ if hasattr(est, "estimators_") else [est]):
            tr = t.tree_
            tree = {
                "children_left": [int(v) for v in tr.children_left],
                "children_right": [int(v) for v in tr.children_right],
                "feature": [int(v) for v in tr.feature],
                "threshold": thresholds(tr.threshold),
                # A node's value per output, node by node.
                "value": floats(tr.value[:, :, 0].astype(float).ravel()),
            }
            if hasattr(tr, "missing_go_to_left"):
                tree["missing_go_to_left"] = [int(v) for v in tr.missing_go_to_left]
            trees.append(tree)
        out["model"] = {"trees": trees, "input_dtype": "float32", "outputs": k}
    return out


def export_voting_regressor(vr):
    """A fitted VotingRegressor (unweighted): each fitted member's document;
    cpuwall averages their values as scikit-learn does."""
    if not hasattr(vr, "estimators_"):
        raise ValueError("VotingRegressor is not fitted; fit it before converting it")
    if vr.weights is not None:
        raise ExportError("a VotingRegressor with weights: cpuwall's ensembles weigh members equally")
    members = [export(est) for est in vr.estimators_]
    if any(m.get("task") != "regression" for m in members):
        raise ExportError("a VotingRegressor member that is not a regressor cpuwall imports")
    if len(members) < 2:
        raise ExportError(f"a VotingRegressor of {len(members)} fitted member: cpuwall's ensembles have at least 2")
    out = _head(vr, None, int(vr.n_features_in_), [], None, task="regression")
    out["model"] = {"voting": "mean", "members": members}
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
    """The estimator's own labels (`classes_`), strings included; None for a
    regressor."""
    _, est = split_pipeline(model)
    return list(est.classes_) if hasattr(est, "classes_") else None
