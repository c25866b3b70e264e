"""Regressors of every family, from Python and from saved files through the
CLI: predictions equal the estimator's `predict` on every row.

- linear models (LinearRegression, Ridge, Lasso, ElasticNet, and a Pipeline
  with a StandardScaler): within 1e-12 relative (cpuwall's row kernel adds
  the terms in its own lane order, numpy's BLAS in another);
- forests and single trees, scikit-learn's two boosted regressors and
  LightGBM: equal, bit for bit (the same comparisons, the same sums in the
  same order, one division at the end for an average);
- XGBoost: within 2e-6 relative: it sums its trees in float32 and answers
  float32, cpuwall sums in float64.
"""
import os
import subprocess

import numpy as np
import pytest
from sklearn.datasets import load_diabetes, make_friedman1
from sklearn.ensemble import (ExtraTreesRegressor, GradientBoostingRegressor, HistGradientBoostingRegressor,
                              RandomForestRegressor)
from sklearn.linear_model import ElasticNet, Lasso, LinearRegression, Ridge
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeRegressor

import cpuwall

xgb = pytest.importorskip("xgboost")
lgb = pytest.importorskip("lightgbm")

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def cli():
    exe = os.environ.get("CPUWALL") or os.path.join(REPO, "target", "debug", "cpuwall")
    assert os.path.exists(exe), f"{exe} not found: build the CLI (cargo build) or set CPUWALL"
    return exe


LINEAR = {
    "linear_regression": LinearRegression,
    "ridge": lambda: Ridge(alpha=3.0),
    "lasso": lambda: Lasso(alpha=0.05),
    "elastic_net": lambda: ElasticNet(alpha=0.05, l1_ratio=0.3),
    "scaled_ridge": lambda: make_pipeline(StandardScaler(), Ridge(alpha=1.0)),
}
TREES = {
    "random_forest": lambda: RandomForestRegressor(n_estimators=20, random_state=0),
    "extra_trees": lambda: ExtraTreesRegressor(n_estimators=20, random_state=0),
    "decision_tree": lambda: DecisionTreeRegressor(random_state=0),
    "gradient_boosting": lambda: GradientBoostingRegressor(n_estimators=40, random_state=0),
    "hist_gradient_boosting": lambda: HistGradientBoostingRegressor(max_iter=40, random_state=0),
    "lightgbm": lambda: lgb.LGBMRegressor(n_estimators=40, verbose=-1, random_state=0),
    "xgboost": lambda: xgb.XGBRegressor(n_estimators=40, max_depth=6, random_state=0),
}
# Trees that take NaN as data (GradientBoostingRegressor refuses NaN).
ROUTES_NAN = ["random_forest", "extra_trees", "decision_tree", "hist_gradient_boosting", "lightgbm", "xgboost"]


def friedman(nan=False, n=20_000):
    x, y = make_friedman1(n_samples=n, n_features=10, noise=1.0, random_state=0)
    if nan:
        x[np.random.default_rng(1).random(x.shape) < 0.1] = np.nan
    return x[:3000], y[:3000], x[3000:]


def check(name, got, want):
    assert got.dtype == np.float64 and got.shape == want.shape
    if name == "xgboost":
        np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-6)
    elif name in LINEAR:
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    else:
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("name", sorted(LINEAR) + sorted(TREES))
def test_a_regressor_predicts_what_the_estimator_predicts_on_every_row(name):
    x, y, test = friedman()
    est = {**LINEAR, **TREES}[name]().fit(x, y)
    model = cpuwall.from_sklearn(est)
    assert model.task == "regression"
    assert model.kind == {"random_forest": "rfr"}.get(name, "linreg" if name in LINEAR else "trees")
    check(name, model.predict(test), est.predict(test))
    # Every backend the package drives gives the same values.
    np.testing.assert_array_equal(model.predict(test, backend="threads", n_threads=2), model.predict(test))
    # R², as the estimator's own score.
    assert model.score(test[:500], est.predict(test[:500])) == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize("name", ROUTES_NAN)
def test_missing_values_are_routed_as_the_library_routes_them(name):
    x, y, test = friedman(nan=True)
    est = TREES[name]().fit(x, y)
    check(name, cpuwall.from_sklearn(est).predict(test), est.predict(test))


def test_on_the_diabetes_data_every_family_agrees_with_scikit_learn():
    x, y = load_diabetes(return_X_y=True)
    for make in list(LINEAR.values()) + [TREES["random_forest"], TREES["hist_gradient_boosting"]]:
        est = make().fit(x[:300], y[:300])
        got = cpuwall.from_sklearn(est).predict(x[300:])
        np.testing.assert_allclose(got, est.predict(x[300:]), rtol=1e-12, atol=1e-9)


def test_a_voting_regressor_averages_its_members_as_scikit_learn_does():
    from sklearn.ensemble import VotingRegressor

    x, y, test = friedman()
    vr = VotingRegressor([("rf", RandomForestRegressor(n_estimators=10, random_state=0)),
                          ("hgb", HistGradientBoostingRegressor(max_iter=20, random_state=0)),
                          ("tree", DecisionTreeRegressor(random_state=0))]).fit(x, y)
    model = cpuwall.from_sklearn(vr)
    assert model.task == "regression" and model.kind == "ensemble"
    # Trees, summed member by member and divided by their count: equal.
    np.testing.assert_array_equal(model.predict(test), vr.predict(test))
    with pytest.raises(ValueError, match="weigh members equally"):
        cpuwall.from_sklearn(VotingRegressor([("a", Ridge()), ("b", Lasso())], weights=[1, 2]).fit(x, y))


def test_a_regressor_has_no_classes_or_probabilities_and_pickles():
    import pickle

    x, y, test = friedman(n=4000)
    model = cpuwall.from_sklearn(RandomForestRegressor(n_estimators=5, random_state=0).fit(x, y))
    with pytest.raises(AttributeError, match="no classes_"):
        model.classes_
    with pytest.raises(AttributeError, match="no predict_proba"):
        model.predict_proba(test)
    again = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(again.predict(test), model.predict(test))
    assert "regression" in repr(model)


def test_bench_times_a_regressor_and_says_how_close_its_values_are():
    import io

    x, y, test = friedman(n=6000)
    out = io.StringIO()
    r = cpuwall.bench(Ridge().fit(x, y), test, rounds=3, min_seconds=0.001, file=out)
    assert r["max_abs_diff"] < 1e-12 * np.abs(y).max()
    assert "values identical" in out.getvalue() or "values within" in out.getvalue()
    r = cpuwall.bench(DecisionTreeRegressor(random_state=0).fit(x, y), test, rounds=3, min_seconds=0.001, file=out)
    assert r["labels_identical"] and r["max_abs_diff"] == 0.0


def test_unsupported_regressors_and_links_are_refused_by_name():
    from sklearn.svm import LinearSVR

    x, y, _ = friedman(n=4000)
    with pytest.raises(ValueError, match="vector leaves"):
        cpuwall.from_sklearn(xgb.XGBRegressor(n_estimators=3, multi_strategy="multi_output_tree")
                             .fit(x, three_targets(x, y)))

    x, y, _ = friedman(n=4000)
    with pytest.raises(TypeError, match="LinearSVR is not supported"):
        cpuwall.from_sklearn(LinearSVR().fit(x, y))
    counts = np.abs(y)  # the log links' targets are non-negative
    with pytest.raises(ValueError, match="loss='poisson': cpuwall imports HistGradientBoostingRegressor whose"):
        cpuwall.from_sklearn(HistGradientBoostingRegressor(loss="poisson", max_iter=5).fit(x, counts))
    with pytest.raises(ValueError, match="objective 'count:poisson': cpuwall imports"):
        cpuwall.from_sklearn(xgb.XGBRegressor(objective="count:poisson", n_estimators=5).fit(x, counts))


@pytest.mark.parametrize("name", ["xgboost", "lightgbm", "ridge", "random_forest"])
def test_saved_files_predict_the_same_values_through_the_cli(tmp_path, name):
    x, y, test = friedman(n=5000)
    est = {**LINEAR, **TREES}[name]().fit(x, y)
    if name == "xgboost":
        src = tmp_path / "model.json"
        est.save_model(src)
    elif name == "lightgbm":
        src = tmp_path / "model.txt"
        est.booster_.save_model(str(src))
    else:
        import json
        import sys

        sys.path.insert(0, os.path.join(REPO, "python"))
        from cpuwall.sklearn_export import export

        src = tmp_path / "model.json"
        src.write_text(json.dumps(export(est)))
    model = tmp_path / "model.cpuwall"
    subprocess.run([cli(), "import", str(src), "--out", str(model)], check=True, capture_output=True)
    np.save(tmp_path / "rows.npy", test)
    inspect = subprocess.run([cli(), "inspect", str(model)], check=True, capture_output=True, text=True).stdout
    assert "regression" in inspect
    for backend in ["direct", "threads", "processes"]:
        for out in ["values.csv", "values.npy"]:
            subprocess.run([cli(), "predict", "--model", str(model), "--data", str(tmp_path / "rows.npy"),
                            "--backend", backend, "--min-time", "0", "--out", str(tmp_path / out)],
                           check=True, capture_output=True)
        csv = np.loadtxt(tmp_path / "values.csv", skiprows=1, delimiter=",")
        assert open(tmp_path / "values.csv").readline().strip() == "prediction"
        npy = np.load(tmp_path / "values.npy")
        assert npy.dtype == np.float64
        np.testing.assert_array_equal(csv, npy)  # shortest round-trip text
        check(name, npy, est.predict(test))
    np.testing.assert_array_equal(cpuwall.load(model).predict(test), npy)
    # --proba means class scores: refused, naming what to do.
    r = subprocess.run([cli(), "predict", "--model", str(model), "--data", str(tmp_path / "rows.npy"),
                        "--out", str(tmp_path / "p.csv"), "--proba"], capture_output=True, text=True)
    assert r.returncode == 2 and "is a regressor" in r.stderr and "drop --proba" in r.stderr


@pytest.mark.parametrize("name", ["ridge", "random_forest", "decision_tree", "gradient_boosting", "extra_trees"])
def test_an_onnx_regressor_predicts_what_onnx_runtime_predicts(tmp_path, name):
    skl2onnx = pytest.importorskip("skl2onnx")
    ort = pytest.importorskip("onnxruntime")
    from skl2onnx.common.data_types import FloatTensorType

    x, y, test = friedman(n=6000)
    est = {**LINEAR, **TREES}[name]().fit(x, y)
    onx = skl2onnx.convert_sklearn(est, initial_types=[("input", FloatTensorType([None, x.shape[1]]))])
    path = tmp_path / "model.onnx"
    path.write_bytes(onx.SerializeToString())
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    want = session.run(None, {"input": test.astype(np.float32)})[0].ravel().astype(np.float64)
    model = cpuwall.import_onnx(path)
    assert model.task == "regression"
    got = model.predict(test)
    # ONNX keeps float32 parameters and ONNX Runtime sums in float32 (or
    # divides weights by the tree count first): cpuwall reads the same
    # parameters and sums them in float64.
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)
    # And scikit-learn's own values, to float32 precision.
    np.testing.assert_allclose(got, est.predict(test), rtol=1e-5, atol=1e-4)


# Regressors that take a 2-D y: the linear models, the forests and single
# trees, and XGBoost (one tree per target per round, its default).
MULTI = {**LINEAR, **{k: TREES[k] for k in ("random_forest", "extra_trees", "decision_tree", "xgboost")}}


def three_targets(x, y):
    """y, and two more targets of the same rows (NaN read as 0)."""
    z = np.nan_to_num(x)
    return np.column_stack([y, 2 * z[:, 0] - z[:, 1] * z[:, 2], y / 3 + z[:, 3]])


# NaN rows for the models that route NaN (linear models refuse it).
@pytest.mark.parametrize("name,nan", [(n, False) for n in sorted(MULTI)] +
                         [(n, True) for n in sorted(MULTI) if n in ROUTES_NAN])
def test_a_multi_output_regressor_predicts_every_outputs_values_on_every_row(name, nan):
    x, y, test = friedman(nan=nan)
    est = MULTI[name]().fit(x, three_targets(x, y))
    model = cpuwall.from_sklearn(est)
    assert model.n_outputs == 3
    want = est.predict(test)
    assert want.shape == (len(test), 3)
    for backend in ("direct", "threads", "auto"):
        check(name, model.predict(test, backend=backend), want)
    truth = three_targets(test, want[:, 0])
    # (XGBoost's values are float32: its R² agrees to their precision.)
    rel = 1e-6 if name == "xgboost" else 1e-9
    assert model.score(test, truth) == pytest.approx(est.score(test, truth), rel=rel)
    # One row, and a model file, keep the shape.
    check(name, model.predict(test[:1]), want[:1])


def test_a_multi_output_model_file_predicts_through_the_cli_with_a_column_per_output(tmp_path):
    x, y, test = friedman(n=5000)
    est = RandomForestRegressor(n_estimators=5, random_state=0).fit(x, three_targets(x, y))
    path = tmp_path / "m.cpuwall"
    cpuwall.from_sklearn(est).save(str(path))
    np.save(tmp_path / "x.npy", test)
    out = tmp_path / "p.csv"
    subprocess.run([cli(), "predict", "--model", str(path), "--data", str(tmp_path / "x.npy"),
                    "--backend", "processes", "--min-time", "1ms", "--out", str(out)], check=True, capture_output=True)
    with open(out) as f:
        assert f.readline().strip() == "prediction_0,prediction_1,prediction_2"
    np.testing.assert_array_equal(np.loadtxt(out, delimiter=",", skiprows=1), est.predict(test))
    np.testing.assert_array_equal(cpuwall.load(str(path)).predict(test), est.predict(test))


@pytest.mark.parametrize("name", ["ridge", "random_forest", "extra_trees", "decision_tree"])
def test_a_multi_output_onnx_regressor_predicts_what_onnx_runtime_predicts(tmp_path, name):
    skl2onnx = pytest.importorskip("skl2onnx")
    ort = pytest.importorskip("onnxruntime")
    from skl2onnx.common.data_types import FloatTensorType

    x, y, test = friedman(n=6000)
    est = MULTI[name]().fit(x, three_targets(x, y))
    onx = skl2onnx.convert_sklearn(est, initial_types=[("input", FloatTensorType([None, x.shape[1]]))])
    path = tmp_path / "model.onnx"
    path.write_bytes(onx.SerializeToString())
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    want = session.run(None, {"input": test.astype(np.float32)})[0].astype(np.float64)
    assert want.shape == (len(test), 3)
    model = cpuwall.import_onnx(path)
    assert model.n_outputs == 3
    got = model.predict(test)
    # As for one target: float32 parameters, ONNX Runtime's float32 sums.
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(got, est.predict(test), rtol=1e-5, atol=1e-4)
