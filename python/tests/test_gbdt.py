"""Boosted trees and every tree ensemble people deploy, from Python: XGBoost,
LightGBM, HistGradientBoosting, GradientBoosting, ExtraTrees and
DecisionTree, binary and 4 classes, with and without 10% NaN, predict each
library's own labels on every row and its probabilities within 1e-6
(XGBoost answers in float32: its own output is within ~3e-7 of the exact
sum) or 1e-12 (the others compute in float64, as cpuwall does). Also from
saved files (`cpuwall.load`) and through the CLI."""
import os
import subprocess

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.ensemble import (ExtraTreesClassifier, GradientBoostingClassifier,
                              HistGradientBoostingClassifier, RandomForestClassifier)
from sklearn.tree import DecisionTreeClassifier

import cpuwall

xgb = pytest.importorskip("xgboost")
lgb = pytest.importorskip("lightgbm")

ROWS = 100_000
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def cli():
    exe = os.environ.get("CPUWALL") or os.path.join(REPO, "target", "debug", "cpuwall")
    assert os.path.exists(exe), f"{exe} not found: build the CLI (cargo build) or set CPUWALL"
    return exe


def data(classes, nan, n_test=ROWS):
    x, y = make_classification(4000 + n_test, 20, n_informative=8, n_classes=classes, random_state=classes)
    if nan:
        rng = np.random.default_rng(classes)
        x[rng.random(x.shape) < 0.1] = np.nan
    return x[:4000], y[:4000], x[4000:]


MODELS = {
    "xgboost": lambda: xgb.XGBClassifier(n_estimators=40, max_depth=6, random_state=0),
    "lightgbm": lambda: lgb.LGBMClassifier(n_estimators=40, num_leaves=31, verbose=-1, random_state=0),
    "hist_gradient_boosting": lambda: HistGradientBoostingClassifier(max_iter=40, random_state=0),
    "gradient_boosting": lambda: GradientBoostingClassifier(n_estimators=15, max_depth=3, random_state=0),
    "extra_trees": lambda: ExtraTreesClassifier(n_estimators=10, random_state=0),
    "decision_tree": lambda: DecisionTreeClassifier(random_state=0),
    "random_forest": lambda: RandomForestClassifier(n_estimators=10, random_state=0),
}


def tolerance(name):
    return 1e-6 if name == "xgboost" else 1e-12


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("classes", [2, 4])
@pytest.mark.parametrize("nan", [False, True])
def test_labels_equal_the_librarys_on_every_row_and_probabilities_within_its_precision(name, classes, nan):
    if nan and name == "gradient_boosting":
        pytest.skip("GradientBoostingClassifier does not take NaN (cpuwall refuses it too: see below)")
    x, y, test = data(classes, nan)
    est = MODELS[name]().fit(x, y)
    m = cpuwall.from_sklearn(est)
    assert m.kind == "trees"
    assert list(m.classes_) == list(est.classes_)
    labels = m.predict(test)
    np.testing.assert_array_equal(labels, est.predict(test))
    assert len(np.unique(labels)) == classes
    np.testing.assert_allclose(m.predict_proba(test), est.predict_proba(test), rtol=0, atol=tolerance(name))
    # The threads backend gives the same labels.
    np.testing.assert_array_equal(m.predict(test[:20000], backend="threads", n_threads=2), labels[:20000])


def test_gradient_boosting_refuses_nan_as_scikit_learn_does():
    x, y, test = data(2, False, 100)
    m = cpuwall.from_sklearn(GradientBoostingClassifier(n_estimators=3).fit(x, y))
    test[5, 2] = np.nan
    with pytest.raises(ValueError, match="row 6 column 3 is NaN"):
        m.predict(test)


def test_boosters_and_string_labels():
    x, y, test = data(3, True, 2000)
    names = np.array(["ant", "bee", "cow"])[y]
    est = lgb.LGBMClassifier(n_estimators=20, verbose=-1).fit(x, names)
    m = cpuwall.from_sklearn(est)
    np.testing.assert_array_equal(m.predict(test), est.predict(test))
    # A bare Booster: classes are 0..k-1, as its own predictions index them.
    booster = xgb.train({"objective": "multi:softprob", "num_class": 3, "max_depth": 4},
                        xgb.DMatrix(x, label=y), num_boost_round=15)
    mb = cpuwall.from_sklearn(booster)
    p = booster.predict(xgb.DMatrix(test))
    np.testing.assert_allclose(mb.predict_proba(test), p, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(mb.predict(test), p.argmax(axis=1))


def test_xgboost_best_iteration_is_honoured_as_its_predict_does():
    x, y, test = data(2, False, 2000)
    est = xgb.XGBClassifier(n_estimators=200, max_depth=3, early_stopping_rounds=5, learning_rate=0.5)
    est.fit(x[:3000], y[:3000], eval_set=[(x[3000:], y[3000:])], verbose=False)
    assert est.best_iteration < 199
    m = cpuwall.from_sklearn(est)
    np.testing.assert_allclose(m.predict_proba(test), est.predict_proba(test), rtol=0, atol=1e-6)


def test_categorical_splits_of_lightgbm_and_hist_gradient_boosting():
    rng = np.random.default_rng(0)
    n = 20000
    x = rng.normal(size=(n, 6))
    x[:, 4] = rng.integers(0, 40, n)
    x[:, 5] = rng.integers(0, 7, n) * 3
    y = ((x[:, 0] + np.isin(x[:, 4], [1, 5, 9, 22, 33]) * 1.5 + (x[:, 5] == 9) - 0.3 * x[:, 1]) > 0.7).astype(int)
    test = x[10000:].copy()
    test[rng.random(test.shape) < 0.05] = np.nan
    test[::97, 4] = -3      # negative
    test[::89, 5] = 100     # never seen
    test[::83, 4] = 7.5     # not an integer
    for est in (lgb.LGBMClassifier(n_estimators=40, verbose=-1, min_data_per_group=5, cat_smooth=1),
                HistGradientBoostingClassifier(max_iter=40, categorical_features=[4, 5])):
        if isinstance(est, lgb.LGBMClassifier):
            est.fit(x[:10000], y[:10000], categorical_feature=[4, 5])
            assert "num_cat=0" not in est.booster_.model_to_string().split("Tree=1")[0]
        else:
            est.fit(x[:10000], y[:10000])
        m = cpuwall.from_sklearn(est)
        np.testing.assert_array_equal(m.predict(test), est.predict(test))
        np.testing.assert_allclose(m.predict_proba(test), est.predict_proba(test), rtol=0, atol=1e-12)


def test_saved_files_load_and_predict_through_the_cli_alike(tmp_path):
    x, y, test = data(2, True, 3000)
    xg = xgb.XGBClassifier(n_estimators=20, max_depth=4).fit(x, y)
    lg = lgb.LGBMClassifier(n_estimators=20, verbose=-1).fit(x, y)
    xg.save_model(tmp_path / "m.json")
    xg.save_model(tmp_path / "m.ubj")
    lg.booster_.save_model(tmp_path / "m.txt")
    np.save(tmp_path / "rows.npy", test)
    for path, est in (("m.json", xg), ("m.ubj", xg), ("m.txt", lg)):
        m = cpuwall.load(tmp_path / path)
        np.testing.assert_array_equal(m.predict(test), est.predict(test))
        out = tmp_path / f"{path}.cpuwall"
        subprocess.run([cli(), "import", str(tmp_path / path), "--out", str(out)], check=True, capture_output=True)
        labels = tmp_path / f"{path}.csv"
        subprocess.run([cli(), "predict", "--model", str(out), "--data", str(tmp_path / "rows.npy"),
                        "--backend", "direct", "--min-time", "1ms", "--out", str(labels)],
                       check=True, capture_output=True)
        got = np.loadtxt(labels, delimiter=",", skiprows=1, usecols=0).astype(int)
        np.testing.assert_array_equal(got, est.predict(test))


def test_what_is_neither_a_tree_classifier_nor_a_regressor_is_a_type_error():
    x, y, _ = data(2, False, 10)
    ranker = xgb.XGBRanker(n_estimators=2).fit(x, y, qid=np.zeros(len(y), dtype=int))
    with pytest.raises(TypeError, match="XGBRanker is not supported"):
        cpuwall.from_sklearn(ranker)


def test_onnx_summed_ensembles_import_and_predict_as_onnx_runtime(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    onnxmltools = pytest.importorskip("onnxmltools")
    from onnxmltools.convert.common.data_types import FloatTensorType
    from skl2onnx import to_onnx

    for classes in (2, 4):
        x, y, test = data(classes, False, 3000)
        xnan = test.copy()
        xnan[::7, 3] = np.nan
        models = [
            ("xgb", onnxmltools.convert_xgboost(xgb.XGBClassifier(n_estimators=20, max_depth=4).fit(x, y),
                                                initial_types=[("input", FloatTensorType([None, 20]))]), xnan),
            ("gb", to_onnx(GradientBoostingClassifier(n_estimators=10).fit(x, y), x[:1].astype(np.float32),
                           options={"zipmap": False}), test),
        ]
        for name, onx, rows in models:
            path = tmp_path / f"{name}{classes}.onnx"
            path.write_bytes(onx.SerializeToString())
            sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
            labels, proba = sess.run(None, {sess.get_inputs()[0].name: rows.astype(np.float32)})
            m = cpuwall.load(path)
            assert m.kind == "trees"
            np.testing.assert_array_equal(m.predict(rows), labels)
            np.testing.assert_allclose(m.predict_proba(rows), proba, rtol=0, atol=1e-6)


def test_lightgbm_onnx_graphs_are_refused_naming_the_operator(tmp_path):
    onnxmltools = pytest.importorskip("onnxmltools")
    from onnxmltools.convert.common.data_types import FloatTensorType

    x, y, _ = data(2, False, 10)
    onx = onnxmltools.convert_lightgbm(lgb.LGBMClassifier(n_estimators=3, verbose=-1).fit(x, y),
                                       initial_types=[("input", FloatTensorType([None, 20]))], zipmap=False)
    path = tmp_path / "l.onnx"
    path.write_bytes(onx.SerializeToString())
    with pytest.raises(ValueError, match="operator 'Mul' is not supported"):
        cpuwall.load(path)


def test_a_forest_with_missing_values_exports_to_onnx_and_imports_back_routing_nan(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    x, y, test = data(3, True, 3000)
    est = RandomForestClassifier(n_estimators=8, max_depth=8, random_state=0).fit(x, y)
    m = cpuwall.from_sklearn(est)
    m.save(tmp_path / "rf.cpuwall")
    subprocess.run([cli(), "export", str(tmp_path / "rf.cpuwall"), "--onnx", str(tmp_path / "rf.onnx")],
                   check=True, capture_output=True)
    sess = ort.InferenceSession(str(tmp_path / "rf.onnx"), providers=["CPUExecutionProvider"])
    labels, proba = sess.run(None, {sess.get_inputs()[0].name: test})
    np.testing.assert_array_equal(labels, est.predict(test))
    np.testing.assert_allclose(proba, est.predict_proba(test), rtol=0, atol=1e-6)
    back = cpuwall.load(tmp_path / "rf.onnx")
    assert back.kind == "trees"
    np.testing.assert_array_equal(back.predict(test), est.predict(test))
    np.testing.assert_allclose(back.predict_proba(test), est.predict_proba(test), rtol=0, atol=1e-12)
