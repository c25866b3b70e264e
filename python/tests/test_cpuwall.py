"""cpuwall's Python package as a scikit-learn user meets it: fitted estimators
converted in process predict the estimator's labels and probabilities; bad
input is a ValueError with the CLI's text; models pickle, save, load, and
serve several threads at once; DataFrames' columns follow the CLI's rule."""
import concurrent.futures
import io
import os
import pickle
import subprocess
import sys
import threading
import warnings

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import make_classification
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, LinearSVC

import cpuwall

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def data(classes, n=1500, d=8, seed=0, labels=None):
    x, y = make_classification(n_samples=n, n_features=d, n_informative=min(5, d - 1), n_redundant=1 if d > 5 else 0,
                               n_classes=classes, n_clusters_per_class=1, random_state=seed)
    if labels is not None:
        y = np.asarray(labels)[y]
    return x, y


FAMILIES = {
    "nb": lambda: GaussianNB(),
    "lr": lambda: LogisticRegression(C=0.7, max_iter=2000),
    "svc": lambda: LinearSVC(C=0.5, max_iter=20000),
    "rf": lambda: RandomForestClassifier(n_estimators=15, random_state=0),
}


def scores(est, x):
    svc = isinstance(est, LinearSVC) or isinstance(getattr(est, "steps", [[None, None]])[-1][1], LinearSVC)
    return est.decision_function(x) if svc else est.predict_proba(x)


def cw_scores(m, x):
    return m.decision_function(x) if m.kind == "svc" else m.predict_proba(x)


@pytest.mark.parametrize("family", sorted(FAMILIES))
@pytest.mark.parametrize("classes,labels", [(2, None), (3, None), (3, ["cat", "dog", "emu"]), (2, [-4, 9])])
def test_labels_equal_scikit_learns_and_scores_within_1e_9(family, classes, labels):
    x, y = data(classes, labels=labels)
    est = FAMILIES[family]().fit(x[:1000], y[:1000])
    m = cpuwall.from_sklearn(est)
    held = x[1000:]
    # A scikit-learn forest routes missing values at every split: it runs
    # as an imported tree ensemble ("trees"), on the forest's engine.
    assert m.kind == {"rf": "trees"}.get(family, family)
    assert m.n_features_in_ == 8
    assert list(m.classes_) == list(est.classes_)
    got = m.predict(held)
    np.testing.assert_array_equal(got, est.predict(held))
    assert got.dtype == np.asarray(est.predict(held)).dtype or labels is not None
    np.testing.assert_allclose(cw_scores(m, held), scores(est, held), rtol=0, atol=1e-9)
    # Every backend, same labels.
    for backend in ("direct", "threads", "auto"):
        np.testing.assert_array_equal(m.predict(held, backend=backend, n_threads=2), got)


def test_rows_on_every_forest_threshold_get_scikit_learns_labels():
    x, y = data(3, d=5)
    est = RandomForestClassifier(n_estimators=10, max_depth=6, random_state=1).fit(x, y)
    m = cpuwall.from_sklearn(est)
    base = x[:50].copy()
    rows = []
    for t in est.estimators_:
        tree = t.tree_
        for f, thr in zip(tree.feature, tree.threshold):
            if f < 0:
                continue
            for v in (thr, np.nextafter(thr, np.inf), np.nextafter(thr, -np.inf),
                      float(np.float32(thr)), float(np.nextafter(np.float32(thr), np.float32(np.inf)))):
                r = base[len(rows) % 50].copy()
                r[f] = v
                rows.append(r)
    rows = np.array(rows)
    assert len(rows) > 500
    np.testing.assert_array_equal(m.predict(rows), est.predict(rows))
    # scikit-learn averages the trees' probabilities in its own order.
    np.testing.assert_allclose(m.predict_proba(rows), est.predict_proba(rows), rtol=0, atol=1e-9)


@pytest.mark.parametrize("family", ["nb", "lr", "svc"])
def test_a_standard_scaler_pipeline_is_folded_into_the_model(family):
    x, y = data(3)
    x = x * np.array([1, 10, 100, 1000, 0.1, 5, 50, 0.01]) + 7.0
    pipe = make_pipeline(StandardScaler(), FAMILIES[family]()).fit(x, y)
    m = cpuwall.from_sklearn(pipe)
    np.testing.assert_array_equal(m.predict(x), pipe.predict(x))
    np.testing.assert_allclose(cw_scores(m, x), scores(pipe, x), rtol=0, atol=1e-9)


def test_a_scaler_before_a_forest_is_refused_saying_why():
    x, y = data(2)
    pipe = make_pipeline(StandardScaler(), RandomForestClassifier(n_estimators=3)).fit(x, y)
    with pytest.raises(ValueError, match="fit the trees without the scaler"):
        cpuwall.from_sklearn(pipe)


@pytest.mark.parametrize("est", [KNeighborsClassifier(), SVC()])
def test_unsupported_estimators_are_a_type_error_naming_the_supported_ones(est):
    x, y = data(2)
    est.fit(x, y)
    with pytest.raises(TypeError, match="GaussianNB, LogisticRegression, LinearSVC, RandomForestClassifier"):
        cpuwall.from_sklearn(est)


def test_an_unfitted_estimator_is_a_value_error():
    with pytest.raises(ValueError, match="not fitted"):
        cpuwall.from_sklearn(GaussianNB())


@pytest.fixture(scope="module")
def lr():
    x, y = data(2)
    est = LogisticRegression(max_iter=1000).fit(x, y)
    return est, cpuwall.from_sklearn(est), x


def test_bad_input_is_a_value_error_with_the_clis_text(lr):
    _, m, x = lr
    with pytest.raises(ValueError, match="X: 5 feature columns but the model was trained on 8; give data with 8 feature columns"):
        m.predict(x[:, :5])
    bad = x[:4].copy()
    bad[1, 2] = np.nan
    with pytest.raises(ValueError, match=r"X: row 2 column 3 is NaN; features must be finite numbers"):
        m.predict(bad)
    bad[1, 2] = np.inf
    with pytest.raises(ValueError, match="row 2 column 3 is inf"):
        m.predict_proba(bad)
    with pytest.raises(ValueError, match="3 dimensions"):
        m.predict(x.reshape(-1, 2, 4))
    with pytest.raises(ValueError, match="dtype object"):
        m.predict(np.array([["a"] * 8], dtype=object))
    with pytest.raises(ValueError, match="backend="):
        m.predict(x, backend="gpu")
    with pytest.raises(ValueError, match="n_threads must be at least 1"):
        m.predict(x, n_threads=0)
    with pytest.raises(AttributeError, match="decision_function"):
        cpuwall.from_sklearn(LinearSVC().fit(x, lr[0].predict(x))).predict_proba(x)


@pytest.mark.parametrize("family", sorted(FAMILIES))
@pytest.mark.parametrize("classes", [2, 3])
@pytest.mark.parametrize("backend", ["direct", "threads"])
def test_a_bad_value_anywhere_in_a_large_batch_is_refused_and_huge_finite_values_are_not(family, classes, backend):
    # 20,000 rows span many of the checked blocks and the threads' shares;
    # the linear models and naive Bayes check through their scores, the
    # forest row by row: either way the first bad value is named.
    x, y = data(classes)
    est = FAMILIES[family]().fit(x, y)
    m = cpuwall.from_sklearn(est)
    rows = np.tile(x, (14, 1))[:20000]
    for r, c, v, shown in [(19999, 7, np.nan, "NaN"), (12345, 0, -np.inf, "-inf"), (0, 3, np.inf, "inf")]:
        bad = rows.copy()
        bad[r, c] = v
        if family == "rf" and shown == "NaN":
            # scikit-learn's forests route NaN (missing_go_to_left): so does cpuwall.
            np.testing.assert_array_equal(m.predict(bad, backend=backend, n_threads=2), est.predict(bad))
            continue
        with pytest.raises(ValueError, match=rf"X: row {r + 1} column {c + 1} is {shown}; features must be finite"):
            m.predict(bad, backend=backend, n_threads=2)
    # Finite values whose scores overflow to infinity are predicted, not refused.
    huge = rows * 1e306
    assert m.predict(huge, backend=backend, n_threads=2).shape == (20000,)


def test_float32_fortran_strided_and_integer_inputs_predict_the_same_labels(lr):
    est, m, x = lr
    want = est.predict(x)
    np.testing.assert_array_equal(m.predict(np.asfortranarray(x)), want)
    np.testing.assert_array_equal(m.predict(x[::2]), want[::2])
    x32 = x.astype(np.float32)
    np.testing.assert_array_equal(m.predict(x32), est.predict(x32.astype(np.float64)))
    xi = np.round(x * 10).astype(np.int64)
    np.testing.assert_array_equal(m.predict(xi), est.predict(xi.astype(np.float64)))
    assert m.predict(x[:0]).shape == (0,)


def test_a_dataframe_is_matched_by_name_reordered_with_a_warning():
    x, y = data(2)
    names = [f"c{j}" for j in range(8)]
    df = pd.DataFrame(x, columns=names)
    est = LogisticRegression(max_iter=1000).fit(df, y)
    m = cpuwall.from_sklearn(est)
    assert list(m.feature_names_in_) == names
    want = est.predict(df)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        np.testing.assert_array_equal(m.predict(df), want)
    shuffled = df[names[::-1]]
    with pytest.warns(UserWarning, match="matched by name"):
        np.testing.assert_array_equal(m.predict(shuffled), want)
    renamed = df.rename(columns={"c3": "height"})
    with pytest.raises(ValueError, match="missing 'c3'; unexpected 'height'.*columns=.by-position."):
        m.predict(renamed)
    with pytest.warns(UserWarning, match='columns="by-position" takes columns in order'):
        np.testing.assert_array_equal(m.predict(renamed, columns="by-position"), want)


def test_a_model_fitted_on_an_array_takes_a_dataframe_by_position():
    x, y = data(2)
    est = GaussianNB().fit(x, y)
    m = cpuwall.from_sklearn(est)
    assert m.feature_names_in_ is None
    df = pd.DataFrame(x, columns=[f"x{j}" for j in range(8)])
    with pytest.warns(UserWarning, match="taken by position"):
        np.testing.assert_array_equal(m.predict(df), est.predict(x))
    with pytest.raises(ValueError, match="7 feature columns, but the model's features are 8"):
        m.predict(df.iloc[:, :7])


def test_a_model_pickles_as_its_file_and_works_in_worker_processes(lr, tmp_path):
    est, m, x = lr
    back = pickle.loads(pickle.dumps(m))
    np.testing.assert_array_equal(back.predict(x), m.predict(x))
    m.save(tmp_path / "lr.cpuwall")
    again = cpuwall.load(tmp_path / "lr.cpuwall")
    np.testing.assert_array_equal(again.predict(x), est.predict(x))
    # The pickle is the model file's bytes (plus the labels), not code.
    assert (tmp_path / "lr.cpuwall").read_bytes() in pickle.dumps(m)
    with concurrent.futures.ProcessPoolExecutor(2) as pool:
        parts = list(pool.map(m.predict, np.array_split(x, 4)))
    np.testing.assert_array_equal(np.concatenate(parts), est.predict(x))


def test_string_class_labels_survive_pickling_and_files():
    x, y = data(3, labels=["cat", "dog", "emu"])
    est = RandomForestClassifier(n_estimators=5, random_state=0).fit(x, y)
    m = cpuwall.from_sklearn(est)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(m)).predict(x), est.predict(x))
    buf = io.BytesIO()
    pickle.dump(m, buf)
    assert list(pickle.loads(buf.getvalue()).classes_) == ["cat", "dog", "emu"]


def test_several_python_threads_predict_at_once_with_the_right_labels(lr):
    est, m, x = lr
    big = np.tile(x, (20, 1))
    want = est.predict(big)
    errors = []

    def work(k):
        try:
            for _ in range(5):
                backend = ("direct", "threads", "auto")[k % 3]
                np.testing.assert_array_equal(m.predict(big, backend=backend, n_threads=2), want)
                m.predict_proba(big[:100])
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    assert errors == []


def cli():
    exe = os.environ.get("CPUWALL") or os.path.join(REPO, "target", "debug", "cpuwall")
    assert os.path.exists(exe), f"{exe} not found: build the CLI (cargo build) or set CPUWALL"
    return exe


def test_results_equal_the_clis_on_the_same_model_and_rows(tmp_path):
    x, y = data(3, d=6)
    est = RandomForestClassifier(n_estimators=8, random_state=2).fit(x, y)
    m = cpuwall.from_sklearn(est)
    m.save(tmp_path / "rf.cpuwall")
    rows = tmp_path / "rows.csv"
    pd.DataFrame(x[:300], columns=[f"a{j}" for j in range(6)]).to_csv(rows, index=False)
    out = tmp_path / "labels.csv"
    subprocess.run([cli(), "predict", "--model", str(tmp_path / "rf.cpuwall"), "--data", str(rows),
                    "--backend", "direct", "--min-time", "1ms", "--out", str(out), "--proba"],
                   check=True, capture_output=True)
    cli_out = pd.read_csv(out)
    np.testing.assert_array_equal(m.predict(x[:300]), cli_out["y"].to_numpy())
    proba = cli_out[[c for c in cli_out.columns if c.startswith("p_")]].to_numpy()
    np.testing.assert_array_equal(m.predict_proba(x[:300]), proba)
    # And a model file the CLI wrote loads here.
    header = cpuwall.load(tmp_path / "rf.cpuwall").header()
    assert header["kind"] == "trees" and header["feature_names_generated"] is True


def test_an_onnx_model_imports_as_the_cli_imports_it(tmp_path):
    skl2onnx = pytest.importorskip("skl2onnx")
    x, y = data(2)
    est = LogisticRegression(max_iter=1000).fit(x.astype(np.float32), y)
    onx = skl2onnx.to_onnx(est, x[:1].astype(np.float32), options={"zipmap": False})
    path = tmp_path / "lr.onnx"
    path.write_bytes(onx.SerializeToString())
    m = cpuwall.import_onnx(path)
    x32 = x.astype(np.float32).astype(np.float64)
    agree = (m.predict(x32) == est.predict(x32)).mean()
    assert agree > 0.999


def test_bench_prints_both_with_their_intervals_and_compares_labels():
    x, y = data(2)
    est = GaussianNB().fit(x, y)
    buf = io.StringIO()
    r = cpuwall.bench(est, x, rounds=3, min_seconds=0.002, file=buf)
    text = buf.getvalue()
    assert "scikit-learn predict" in text and "cpuwall predict" in text and "labels identical" in text
    assert r["labels_identical"] is True
    lo, hi = r["cpuwall_ci95"]
    assert lo <= r["cpuwall_seconds"] <= hi
    assert r["speedup"] > 0


def test_damaged_model_files_are_value_errors_naming_the_file(tmp_path):
    p = tmp_path / "bad.cpuwall"
    p.write_bytes(b"not a model")
    with pytest.raises(ValueError, match="bad.cpuwall"):
        cpuwall.load(p)
    with pytest.raises(FileNotFoundError, match="not found"):
        cpuwall.load(tmp_path / "missing.cpuwall")


def _in_fresh_python(code, isa):
    env = dict(os.environ, CPUWALL_ISA=isa)
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)


def test_every_isa_the_cpu_runs_gives_the_forests_labels_and_probabilities():
    # Each ISA in a fresh interpreter (the ISA is chosen once a process);
    # the scalar path is the node walk, the others the quantised blocks.
    code = (
        "import cpuwall, numpy as np\n"
        "from sklearn.datasets import make_classification\n"
        "from sklearn.ensemble import RandomForestClassifier\n"
        "x, y = make_classification(n_samples=3000, n_classes=3, n_informative=4, random_state=0)\n"
        "f = RandomForestClassifier(n_estimators=30, random_state=0).fit(x[:2000], y[:2000])\n"
        "m = cpuwall.from_sklearn(f)\n"
        "assert (m.predict(x[2000:]) == f.predict(x[2000:])).all()\n"
        "assert np.abs(m.predict_proba(x[2000:]) - f.predict_proba(x[2000:])).max() < 1e-9\n"
        "print(cpuwall.isa())\n"
    )
    ran = []
    for isa in ("scalar", "avx2", "avx512"):
        r = _in_fresh_python(code, isa)
        if "this CPU lacks it" in r.stderr:
            continue
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == isa
        ran.append(isa)
    assert "scalar" in ran


def test_an_isa_that_is_no_path_is_refused_on_import():
    r = _in_fresh_python("import cpuwall", "sse9")
    assert r.returncode != 0
    assert "ValueError" in r.stderr and "CPUWALL_ISA" in r.stderr and "use one of scalar" in r.stderr


def voting(kinds, voting_kind, classes, labels=None):
    from sklearn.ensemble import VotingClassifier

    x, y = data(classes, labels=labels)
    estimators = [(f"{k}{i}", FAMILIES[k]()) for i, k in enumerate(kinds)]
    # Members that disagree: a forest of 3 shallow trees next to the others.
    estimators.append(("small_rf", RandomForestClassifier(n_estimators=3, max_depth=3, random_state=1)))
    vc = VotingClassifier(estimators, voting=voting_kind).fit(x[:1000], y[:1000])
    return vc, x


@pytest.mark.parametrize("classes,labels", [(2, None), (3, None), (3, ["cat", "dog", "emu"])])
def test_a_soft_voting_classifier_predicts_its_labels_and_probabilities(classes, labels):
    vc, x = voting(["nb", "lr", "rf"], "soft", classes, labels)
    m = cpuwall.from_sklearn(vc)
    assert m.kind == "ensemble"
    assert list(m.classes_) == list(vc.classes_)
    np.testing.assert_array_equal(m.predict(x), vc.predict(x))
    np.testing.assert_allclose(m.predict_proba(x), vc.predict_proba(x), rtol=0, atol=1e-9)
    for backend in ["direct", "threads"]:
        np.testing.assert_array_equal(m.predict(x, backend=backend, n_threads=2), vc.predict(x))


@pytest.mark.parametrize("classes,labels", [(2, [-4, 9]), (3, None)])
def test_a_hard_voting_classifier_breaks_ties_to_the_lowest_class_as_scikit_learn(classes, labels):
    # Four members, so a 2-2 split happens on some rows: the lowest class wins.
    vc, x = voting(["nb", "lr", "svc"], "hard", classes, labels)
    m = cpuwall.from_sklearn(vc)
    votes = np.stack([e.predict(x) for e in vc.estimators_])
    tied = [(np.bincount(col, minlength=classes).max() * 2 == len(col)) for col in votes.T]
    assert sum(tied) > 0, "no tied rows: the tie rule is not exercised"
    np.testing.assert_array_equal(m.predict(x), vc.predict(x))
    with pytest.raises(AttributeError, match="hard"):
        m.predict_proba(x)


def test_voting_classifiers_cpuwall_cannot_reproduce_are_refused():
    from sklearn.ensemble import VotingClassifier

    x, y = data(2)
    soft_svc = VotingClassifier([("a", GaussianNB()), ("b", LinearSVC())], voting="soft")
    # scikit-learn fits it; predict_proba would fail there too.
    soft_svc.fit(x, y)
    with pytest.raises(ValueError, match="LinearSVC, which has no predict_proba"):
        cpuwall.from_sklearn(soft_svc)
    weighted = VotingClassifier([("a", GaussianNB()), ("b", LogisticRegression())], weights=[2, 1]).fit(x, y)
    with pytest.raises(ValueError, match="weights"):
        cpuwall.from_sklearn(weighted)
    with pytest.raises(ValueError, match="not fitted"):
        cpuwall.from_sklearn(VotingClassifier([("a", GaussianNB()), ("b", LogisticRegression())]))
