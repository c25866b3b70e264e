#!/usr/bin/env python3
"""Fixtures for the linear solvers: scikit-learn's bundled real data sets,
unscaled, split 75/25 (stratified, random_state=0), with scikit-learn's
grid-search results beside them.

    python3 -m venv /tmp/skvenv && /tmp/skvenv/bin/pip install scikit-learn
    /tmp/skvenv/bin/python tools/make_solver_fixtures.py tests/fixtures/solvers

Writes DIR/NAME/{train,test}.csv (features by scikit-learn's names, label
column `y`) and DIR/NAME/sklearn.json: for each family the best parameters,
CV and test accuracy of GridSearchCV(cv=5) (no shuffle; cpuwall's
`--cv-shuffle false` makes the same folds) over cpuwall's default grids,
with LinearSVC(max_iter=20000) and LogisticRegression(solver="saga",
max_iter=5000), and how many candidate fits warned that they did not
converge. DIR/wine/pipeline.json holds the test-set labels of
Pipeline(StandardScaler(), LogisticRegression(C=1)) (lbfgs, l2) for
`train --scale standard`.
"""

import csv
import json
import os
import sys
import warnings

import numpy as np
import sklearn
from sklearn import datasets
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

LR_C = [0.001, 0.01, 0.1, 1.0, 10.0, 100.0, 1000.0]
SVC_C = [0.01, 0.1, 1.0, 10.0, 100.0]
# scikit-learn 1.8 deprecated `penalty` for LogisticRegression: the same
# penalties as l1_ratio (l1 = 1, l2 = 0, cpuwall's elasticnet = 0.5).
LR_PENALTY = {"l1": 1.0, "l2": 0.0, "elasticnet": 0.5}


def write_csv(path, names, x, y):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(list(names) + ["y"])
        for row, label in zip(x, y):
            w.writerow([repr(float(v)) for v in row] + [int(label)])


def search(estimator, grid, x, y, xt, yt):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        gs = GridSearchCV(estimator, grid, cv=5, scoring="accuracy", n_jobs=-1)
        gs.fit(x, y)
    # Warnings from the n_jobs workers do not reach this process; count the
    # refit's and check every CV fit again in this process below.
    return gs, sum(issubclass(w.category, ConvergenceWarning) for w in caught)


def unconverged(make, params_list, x, y):
    """Candidates (params) with any CV fold not converging, refit here."""
    from sklearn.model_selection import StratifiedKFold

    bad = []
    for params in params_list:
        for tr, _ in StratifiedKFold(5).split(x, y):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", ConvergenceWarning)
                make(**params).fit(x[tr], y[tr])
            if any(issubclass(w.category, ConvergenceWarning) for w in caught):
                bad.append(params)
                break
    return bad


def family(name, make, grid, x, y, xt, yt):
    gs, _ = search(make(), grid, x, y, xt, yt)
    best = gs.best_params_
    params_list = list(gs.cv_results_["params"])
    return {
        "best_params": best,
        "cv_accuracy": float(gs.best_score_),
        "test_accuracy": float(gs.score(xt, yt)),
        "n_candidates": len(params_list),
        "unconverged_candidates": unconverged(make, params_list, x, y),
    }


def lr_named(params):
    """l1_ratio back to cpuwall's penalty names, for people."""
    out = dict(params)
    ratio = out.pop("l1_ratio")
    out["penalty"] = {v: k for k, v in LR_PENALTY.items()}[ratio]
    return out


def main(root):
    sets = {
        "wine": datasets.load_wine(),
        "breast_cancer": datasets.load_breast_cancer(),
        "digits": datasets.load_digits(),
    }
    for name, bunch in sets.items():
        x, y = bunch.data, bunch.target
        names = [n.replace(" ", "_").replace("/", "_") for n in bunch.feature_names]
        x_tr, x_te, y_tr, y_te = train_test_split(
            x, y, test_size=0.25, random_state=0, stratify=y
        )
        out = os.path.join(root, name)
        os.makedirs(out, exist_ok=True)
        write_csv(os.path.join(out, "train.csv"), names, x_tr, y_tr)
        write_csv(os.path.join(out, "test.csv"), names, x_te, y_te)

        lr = family(
            "lr",
            lambda **p: LogisticRegression(solver="saga", max_iter=5000, **p),
            {"C": LR_C, "l1_ratio": list(LR_PENALTY.values())},
            x_tr, y_tr, x_te, y_te,
        )
        lr["best_params"] = lr_named(lr["best_params"])
        lr["unconverged_candidates"] = [lr_named(p) for p in lr["unconverged_candidates"]]
        svc = family(
            "svc",
            lambda **p: LinearSVC(max_iter=20000, **p),
            {"C": SVC_C, "penalty": ["l1", "l2"]},
            x_tr, y_tr, x_te, y_te,
        )
        record = {
            "what": f"scikit-learn {sklearn.__version__} GridSearchCV(cv=5, scoring='accuracy') "
            "on train.csv (unscaled), scored on test.csv; lr: LogisticRegression(solver='saga', "
            "max_iter=5000) over C x penalty (as l1_ratio 1/0/0.5); svc: LinearSVC(max_iter=20000) "
            "over C x penalty",
            "data": f"sklearn.datasets.load_{name}(); train_test_split(test_size=0.25, "
            "random_state=0, stratify=y)",
            "train_rows": int(len(y_tr)),
            "test_rows": int(len(y_te)),
            "features": int(x.shape[1]),
            "classes": int(len(np.unique(y))),
            "lr": lr,
            "svc": svc,
        }
        with open(os.path.join(out, "sklearn.json"), "w") as f:
            json.dump(record, f, indent=1)
            f.write("\n")
        print(name, "lr", lr["test_accuracy"], lr["best_params"], len(lr["unconverged_candidates"]),
              "svc", svc["test_accuracy"], svc["best_params"], len(svc["unconverged_candidates"]))

        if name == "wine":
            pipe = make_pipeline(StandardScaler(), LogisticRegression(C=1.0))
            pipe.fit(x_tr, y_tr)
            with open(os.path.join(out, "pipeline.json"), "w") as f:
                json.dump(
                    {
                        "what": "Pipeline(StandardScaler(), LogisticRegression(C=1.0)) "
                        "(lbfgs, l2) fit on train.csv; its labels for test.csv",
                        "test_accuracy": float(pipe.score(x_te, y_te)),
                        "test_labels": [int(v) for v in pipe.predict(x_te)],
                    },
                    f,
                    indent=1,
                )
                f.write("\n")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/fixtures/solvers")
