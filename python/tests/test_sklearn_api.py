"""The package feels like scikit-learn and fails like Python: any numpy
layout is accepted, errors use Python's words and types, a Model offers
what scikit-learn users reach for, and `cpuwall.sklearn.Accelerated` is an
estimator that passes scikit-learn's own estimator checks."""
import os
import pickle

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification, make_friedman1
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier, RandomForestRegressor
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import GridSearchCV
from sklearn.naive_bayes import GaussianNB
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC
from sklearn.utils.estimator_checks import parametrize_with_checks

import cpuwall
from cpuwall.sklearn import Accelerated


@pytest.fixture(scope="module")
def data():
    return make_classification(n_samples=3000, n_features=8, n_informative=5, random_state=0)


@pytest.fixture(scope="module")
def forest(data):
    x, y = data
    est = RandomForestClassifier(n_estimators=15, random_state=0).fit(x, y)
    return est, cpuwall.from_sklearn(est)


# -- any layout, copied once where needed ------------------------------------
def test_every_numpy_layout_is_accepted_as_scikit_learn_accepts_it(data, forest):
    x, _ = data
    est, m = forest
    want = est.predict(x)
    wide = np.zeros((len(x), 16))
    wide[:, ::2] = x
    layouts = {
        "C": x,
        "Fortran": np.asfortranarray(x),
        "strided columns": wide[:, ::2],
        "every other row": np.repeat(x, 2, axis=0)[::2],
        "float32": x.astype(np.float32),
        "list of rows": x[:50].tolist(),
        # A pandas partition's to_numpy() inside Dask: often a strided view.
        "DataFrame column slice": pd.DataFrame(wide).iloc[:, ::2].to_numpy(),
    }
    for name, rows in layouts.items():
        n = len(rows)
        expect = est.predict(np.asarray(rows, dtype=np.float64)) if name == "float32" else want[:n]
        np.testing.assert_array_equal(m.predict(rows), expect, err_msg=name)


# -- Python's words and types ------------------------------------------------
def test_errors_use_pythons_words_not_the_clis(tmp_path, data, forest):
    x, _ = data
    _, m = forest
    with pytest.raises(FileNotFoundError) as e:
        cpuwall.load(tmp_path / "missing.cpuwall")
    assert "missing.cpuwall" in str(e.value)
    with pytest.raises(FileNotFoundError):
        cpuwall.import_onnx(tmp_path / "missing.onnx")
    sparse = pytest.importorskip("scipy.sparse")
    with pytest.raises(TypeError, match=r"sparse .*X\.toarray\(\)"):
        m.predict(sparse.csr_matrix(x))
    with pytest.raises(ValueError, match=r'columns=.bogus.: use "by-name" or "by-position"'):
        m.predict(x, columns="bogus")
    # A named model given a DataFrame with one extra column (a label, say).
    named = cpuwall.from_sklearn(RandomForestClassifier(n_estimators=3, random_state=0).fit(
        pd.DataFrame(x, columns=[f"c{i}" for i in range(8)]), data[1]))
    df = pd.DataFrame(x, columns=[f"c{i}" for i in range(8)]).assign(target=data[1])
    with pytest.raises(ValueError) as e:
        named.predict(df)
    assert "--" not in str(e.value) and 'X.drop(columns="target")' in str(e.value), str(e.value)
    renamed = pd.DataFrame(x, columns=[f"d{i}" for i in range(8)])
    with pytest.raises(ValueError) as e:
        named.predict(renamed)
    assert "--" not in str(e.value) and 'columns="by-position"' in str(e.value), str(e.value)
    np.testing.assert_array_equal(named.predict(renamed, columns="by-position"), named.predict(x))


# -- what scikit-learn users reach for ----------------------------------------
def test_a_model_offers_score_log_proba_params_and_its_fitted_attributes(data, forest):
    x, y = data
    est, m = forest
    assert m.score(x, y) == pytest.approx(est.score(x, y), abs=0)
    np.testing.assert_allclose(m.predict_log_proba(x[:200]), est.predict_log_proba(x[:200]), rtol=1e-12)
    assert m.n_features_in_ == 8 and list(m.classes_) == [0, 1]
    assert m.get_params() == {}  # imported: the estimator holds its hyperparameters
    # A logistic regression's margins, binary (one column) and multinomial,
    # also after a StandardScaler folded in.
    for fitted in (LogisticRegression().fit(x, y), make_pipeline(StandardScaler(), LogisticRegression()).fit(x, y),
                   LogisticRegression().fit(x, y % 3 + (x[:, 0] > 1))):
        got = cpuwall.from_sklearn(fitted).decision_function(x[:300])
        want = fitted.decision_function(x[:300])
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)
    with pytest.raises(AttributeError, match="no decision_function"):
        m.decision_function(x)
    svc = cpuwall.from_sklearn(LinearSVC().fit(x, y))
    np.testing.assert_allclose(svc.decision_function(x[:100]), LinearSVC().fit(x, y).decision_function(x[:100]),
                               rtol=1e-9, atol=1e-12)


# -- the meta-estimator -------------------------------------------------------
def test_accelerated_fits_the_estimator_and_predicts_with_cpuwall(data, tmp_path):
    x, y = data
    clf = Accelerated(RandomForestClassifier(n_estimators=20, random_state=0)).fit(x, y)
    assert isinstance(clf.model_, cpuwall.Model)
    np.testing.assert_array_equal(clf.predict(x), clf.estimator_.predict(x))
    np.testing.assert_allclose(clf.predict_proba(x), clf.estimator_.predict_proba(x), rtol=1e-12)
    # In a Pipeline and a grid search, and through joblib.dump.
    pipe = make_pipeline(StandardScaler(), Accelerated(LogisticRegression()))
    search = GridSearchCV(pipe, {"accelerated__estimator__C": [0.1, 1.0]}, cv=3).fit(x, y)
    best = search.best_estimator_
    np.testing.assert_array_equal(best.predict(x), best[-1].estimator_.predict(best[0].transform(x)))
    joblib.dump(search, tmp_path / "search.joblib")
    back = joblib.load(tmp_path / "search.joblib")
    np.testing.assert_array_equal(back.predict(x), search.predict(x))
    # A regressor: R² from cpuwall's values.
    xr, yr = make_friedman1(n_samples=2000, random_state=0)
    reg = Accelerated(RandomForestRegressor(n_estimators=10, random_state=0)).fit(xr, yr)
    np.testing.assert_array_equal(reg.predict(xr), reg.estimator_.predict(xr))
    assert reg.score(xr, yr) == pytest.approx(reg.estimator_.score(xr, yr), abs=1e-12)
    # Several targets: a column of values each, as the wrapped regressor;
    # a classifier takes one label column.
    two = np.column_stack([yr, xr[:, 0] - yr])
    reg2 = Accelerated(RandomForestRegressor(n_estimators=5, random_state=0)).fit(xr, two)
    assert reg2.predict(xr).shape == (len(xr), 2)
    np.testing.assert_array_equal(reg2.predict(xr), reg2.estimator_.predict(xr))
    assert reg2.score(xr, two) == pytest.approx(reg2.estimator_.score(xr, two), abs=1e-12)
    with pytest.raises(ValueError, match="y has 2 columns; cpuwall's classifiers predict one label"):
        Accelerated(LogisticRegression()).fit(x, np.column_stack([y, y]))
    # An estimator cpuwall cannot convert fails at fit, naming it.
    from sklearn.neighbors import KNeighborsClassifier

    with pytest.raises(TypeError, match="KNeighborsClassifier"):
        Accelerated(KNeighborsClassifier()).fit(x, y)


@parametrize_with_checks(
    [
        Accelerated(LogisticRegression()),
        Accelerated(GaussianNB()),
        Accelerated(RandomForestClassifier(n_estimators=5, random_state=0)),
        Accelerated(HistGradientBoostingClassifier(max_iter=5)),
        Accelerated(Ridge()),
    ],
)
def test_accelerated_passes_scikit_learns_estimator_checks(estimator, check):
    check(estimator)
