"""cpuwall from Python: scikit-learn's fitted classifiers and regressors
predicted in-process by cpuwall's kernels, with the same predictions.

    import cpuwall
    m = cpuwall.from_sklearn(fitted_estimator)   # or cpuwall.load("nb.cpuwall")
    m.predict(X)                                  # labels (or float64 values) equal the estimator's
    m.predict_proba(X)                            # (LinearSVC: m.decision_function(X))
    r = cpuwall.from_sklearn(RandomForestRegressor().fit(X, y))
    r.predict(X)                                  # float64, as the regressor's predict

`X` is anything scikit-learn takes as dense rows: a 2-D numpy array of any
layout (float64 read in place when C or Fortran ordered; float32, integers
and strided views copied once), a list of rows, or a pandas DataFrame, whose
columns are matched to the model's features by name, as `cpuwall predict`
matches a CSV's (by position for a model trained without feature names, or
with `columns="by-position"`). Bad input raises ValueError; sparse input
and an unsupported estimator, TypeError; a missing model file,
FileNotFoundError. `cpuwall.sklearn.Accelerated(estimator)` wraps an
estimator for Pipelines and searches; `cpuwall.dask` predicts Dask
collections on a cluster; `cpuwall.study` measures any estimator. The GIL is released while predicting,
and a Model may be called from several threads at once. Models pickle (as
their model file's bytes), so they travel to joblib and multiprocessing
workers. Nothing here ever unpickles a model.
"""
import errno
import json
import os
import warnings

import numpy as np

from . import _native
from .sklearn_export import SUPPORTED, export as _export

__all__ = ["Model", "from_sklearn", "load", "import_onnx", "bench", "study", "isa", "SUPPORTED"]
__version__ = _native.__version__


def isa():
    """The vector ISA cpuwall's kernels use in this process: the CPU's widest
    (`avx512`, `avx2`, `scalar`) unless the environment variable CPUWALL_ISA
    names another the CPU runs (read once, at import)."""
    return _native.isa()


class Model:
    """A cpuwall model: predicts like the scikit-learn estimator it came from."""

    def __init__(self, native, classes=None):
        self._native = native
        if native.task == "regression":
            self._lookup = None
            return
        # The estimator's own labels (strings included) when converted in
        # process; else the model file's (names, or its integer classes).
        if classes is None:
            names = native.class_names
            classes = names if names else native.classes
        self.classes_ = np.asarray(classes)
        native_classes = np.asarray(native.classes)
        # Labels that are the model's integers come back as they are;
        # others (strings, floats) are looked up by the codes 0..k-1.
        self._lookup = None if np.array_equal(self.classes_, native_classes) else native_classes

    # -- what it is ---------------------------------------------------------
    @property
    def n_features_in_(self):
        return self._native.n_features

    @property
    def feature_names_in_(self):
        """The training features' names (None for a model trained without
        real names, as scikit-learn's estimators have none then)."""
        if self._native.feature_names_generated:
            return None
        return np.asarray(self._native.feature_names, dtype=object)

    @property
    def kind(self):
        """The model's family: `nb`, `lr`, `svc`, `rf`, `ensemble`, `trees` or `linreg`."""
        return self._native.kind

    @property
    def task(self):
        """`"classification"` (predict gives labels) or `"regression"` (float64 values)."""
        return self._native.task

    @property
    def classes_(self):
        if self.task == "regression":
            raise AttributeError("a regressor has no classes_")
        return self._classes

    @classes_.setter
    def classes_(self, value):
        self._classes = value

    def header(self):
        """The model file's header, as `cpuwall inspect --format json` shows it."""
        return json.loads(self._native.header_json())

    def __repr__(self):
        if self.task == "regression":
            return f"cpuwall.Model({self.kind}, {self.n_features_in_} features, regression)"
        return f"cpuwall.Model({self.kind}, {self.n_features_in_} features, classes {self.classes_.tolist()})"

    # -- predicting ---------------------------------------------------------
    def predict(self, X, *, backend="auto", n_threads=None, columns="by-name"):
        """Labels (a regressor: float64 values), one per row, as the
        estimator's `predict` gives them.

        backend: "auto" (direct or threads by batch size, from measured
        crossovers), "direct" (the calling thread) or "threads"; n_threads:
        threads for "threads"/"auto" (default: all cores)."""
        x, names = _rows(X, columns)
        codes, notice = self._native.predict(x, names, columns, backend, n_threads)
        _notify(notice)
        if self.task == "regression":
            # The words are the values' bits: read in place, not copied; a
            # multi-output regressor's come a row's outputs side by side.
            values = codes.view(np.float64)
            k = self._native.n_outputs
            return values.reshape(-1, k) if k > 1 else values
        return self._labels(codes)

    @property
    def n_outputs(self):
        """Values a row: 1, or a multi-output regressor's count (then
        `predict` gives an (n, n_outputs) array, as scikit-learn's)."""
        return self._native.n_outputs

    def score(self, X, y, *, columns="by-name"):
        """scikit-learn's default score: accuracy for a classifier, R² for a
        regressor (for a constant y: 1.0 when predicted exactly, else 0.0, as
        scikit-learn's r2_score)."""
        pred = self.predict(X, columns=columns)
        y = np.asarray(y)
        if self.task != "regression":
            return float(np.mean(pred == y))
        y = y.astype(np.float64).reshape(pred.shape)
        # Each output's R², then their plain mean (scikit-learn's
        # multioutput="uniform_average").
        cols = pred.reshape(len(pred), -1).T
        truth = y.reshape(len(y), -1).T
        scores = []
        for p, t in zip(cols, truth):
            ss_res = float(np.sum((t - p) ** 2))
            ss_tot = float(np.sum((t - t.mean()) ** 2))
            if ss_tot == 0.0:
                scores.append(1.0 if ss_res == 0.0 else 0.0)
            else:
                scores.append(1.0 - ss_res / ss_tot)
        return float(np.mean(scores))

    def predict_proba(self, X, *, columns="by-name"):
        """Class probabilities, one row per input row, columns in `classes_` order."""
        if self.task == "regression":
            raise AttributeError("a regressor has no predict_proba; predict gives its values")
        kind, scores = self._scores(X, columns)
        if kind == "votes":
            raise AttributeError("a hard-voting ensemble has no predict_proba (as scikit-learn's VotingClassifier); "
                                 "use predict, or vote_shares for each class's share of the members' votes")
        if kind != "probability":
            raise AttributeError("a LinearSVC has no predict_proba; use decision_function")
        return scores

    def predict_log_proba(self, X, *, columns="by-name"):
        """The logarithm of `predict_proba` (as scikit-learn's: -inf where a
        probability is 0)."""
        p = self.predict_proba(X, columns=columns)
        with np.errstate(divide="ignore"):
            return np.log(p)

    def get_params(self, deep=True):
        """The hyperparameters the model was fitted with, as its file records
        them (`cpuwall train`'s grid point; empty for an imported model,
        whose estimator holds them)."""
        return dict(self.header().get("params") or {})

    def vote_shares(self, X, *, columns="by-name"):
        """A hard-voting ensemble's share of members voting for each class (columns in `classes_` order)."""
        kind, scores = self._scores(X, columns)
        if kind != "votes":
            raise AttributeError(f"a {self.kind} model has no vote shares; only a hard-voting ensemble has")
        return scores

    def decision_function(self, X, *, columns="by-name"):
        """Decision values of a LinearSVC or a logistic regression (its
        margins; one column for two classes, as scikit-learn)."""
        if self.kind == "lr":
            x, names = _rows(X, columns)
            margins, notice = self._native.margins(x, names, columns)
            _notify(notice)
            return margins[:, 0] if margins.shape[1] == 1 else margins
        kind, scores = self._scores(X, columns)
        if kind != "decision":
            raise AttributeError(f"a {self.kind} model has no decision_function; use predict_proba")
        return scores[:, 0] if scores.shape[1] == 1 else scores

    def _scores(self, X, columns):
        x, names = _rows(X, columns)
        kind, scores, notice = self._native.scores(x, names, columns)
        _notify(notice)
        return kind, scores

    def _labels(self, codes):
        if self._lookup is None:
            return codes
        return self.classes_[np.searchsorted(self._lookup, codes)]

    # -- files and pickling -------------------------------------------------
    def save(self, path):
        """Write a `.cpuwall` file (the format the CLI reads; atomic)."""
        self._native.save(str(path))

    def __reduce__(self):
        classes = None if self.task == "regression" else self.classes_.tolist()
        return (_from_state, (self._native.to_bytes(), classes))


# Models rebuilt from pickled bytes in this process (cpuwall.dask's test
# checks that a Dask worker unpickles a model once, not per partition).
_stats = {"unpickled": 0}


def _from_state(data, classes):
    _stats["unpickled"] += 1
    return Model(_native.NativeModel.from_bytes(data), classes)


def _notify(notice):
    if notice:
        warnings.warn(notice, UserWarning, stacklevel=3)


_COLUMNS = ("by-name", "by-position")


def _rows(X, columns="by-name"):
    """(2-D float64 array read in place where possible, column names or None)."""
    if columns not in _COLUMNS:
        raise ValueError(f'columns={columns!r}: use "by-name" or "by-position"')
    if type(X).__module__.startswith("scipy.sparse"):
        raise TypeError(f"X is a scipy sparse {type(X).__name__}; cpuwall predicts dense rows: "
                        "pass X.toarray() (in chunks of rows for data larger than memory)")
    names = None
    if hasattr(X, "columns") and hasattr(X, "to_numpy"):  # a pandas DataFrame
        names = [str(c) for c in X.columns]
        X = X.to_numpy(dtype=np.float64)
    x = np.asarray(X)
    if x.dtype == object and x.ndim == 2:
        try:  # rows of Python numbers, as scikit-learn accepts them
            x = x.astype(np.float64)
        except (TypeError, ValueError):
            pass
    if x.dtype == object or not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise ValueError(f"X has dtype {x.dtype}; give numbers (float64 or float32)")
    if x.ndim != 2:
        raise ValueError(f"X has {x.ndim} dimensions; give a 2-D array of rows x features (X.reshape(1, -1) for one row)")
    if x.dtype != np.float64:
        x = x.astype(np.float64)  # float32 and integers: one copy, values exact
    if not (x.flags.c_contiguous or x.flags.f_contiguous) or not x.flags.aligned:
        # A strided view (a pandas partition's to_numpy()), or rows in a
        # buffer at an odd offset (Dask's network frames): one copy.
        x = np.array(x, dtype=np.float64, order="C", copy=True)
    return x, names


def _boosted_library_model(estimator):
    """(model bytes, origin, classes or None) of an XGBoost or LightGBM
    classifier or Booster; None for anything else."""
    module = type(estimator).__module__.split(".")[0]
    name = type(estimator).__name__
    if module == "xgboost":
        booster = estimator.get_booster() if hasattr(estimator, "get_booster") else estimator
        if not hasattr(booster, "save_raw"):
            raise TypeError(f"{name} is not supported; supported: {SUPPORTED}")
        if hasattr(estimator, "get_booster") and not hasattr(estimator, "classes_") and name != "XGBRegressor":
            raise TypeError(f"{name} is not supported (cpuwall imports XGBClassifier, XGBRegressor and their Boosters)")
        return bytes(booster.save_raw("json")), f"<{name}>", getattr(estimator, "classes_", None)
    if module == "lightgbm":
        booster = estimator.booster_ if hasattr(estimator, "booster_") else estimator
        if not hasattr(booster, "model_to_string"):
            raise TypeError(f"{name} is not supported; supported: {SUPPORTED}")
        if hasattr(estimator, "booster_") and not hasattr(estimator, "classes_") and name != "LGBMRegressor":
            raise TypeError(f"{name} is not supported (cpuwall imports LGBMClassifier, LGBMRegressor and their Boosters)")
        return booster.model_to_string().encode(), f"<{name}>", getattr(estimator, "classes_", None)
    return None


def from_sklearn(estimator):
    """A fitted scikit-learn classifier (GaussianNB, LogisticRegression,
    LinearSVC, RandomForestClassifier, ExtraTreesClassifier,
    DecisionTreeClassifier, HistGradientBoostingClassifier,
    GradientBoostingClassifier) or regressor (LinearRegression, Ridge,
    Lasso, ElasticNet, RandomForestRegressor, ExtraTreesRegressor,
    DecisionTreeRegressor, HistGradientBoostingRegressor,
    GradientBoostingRegressor), or a Pipeline of one, optionally after a
    StandardScaler; or an XGBoost / LightGBM classifier, regressor or
    Booster, as a cpuwall Model predicting as it does. TypeError for
    anything else."""
    boosted = _boosted_library_model(estimator)
    if boosted is not None:
        data, origin, classes = boosted
        native = _native.NativeModel.import_bytes(data, origin)
        return Model(native, None if classes is None else list(classes))
    doc = _export(estimator)
    native = _native.NativeModel.from_exchange_json(json.dumps(doc), f"<{doc['estimator']}>")
    from .sklearn_export import class_labels

    return Model(native, class_labels(estimator))


def load(path):
    """A model file, recognised by its content: a `.cpuwall` file (written by
    `cpuwall train`, `import` or `Model.save`), an XGBoost model (`.json` or
    `.ubj` from `save_model`), a LightGBM text model, an ONNX model or a
    scikit-learn exchange document, read as `cpuwall import` reads them."""
    _exists(path)
    try:
        with open(path, "rb") as f:
            head = f.read(16)
    except OSError:
        head = _MAGIC  # the model file loader says what is wrong, as the CLI does
    if head.startswith(_MAGIC):
        return Model(_native.NativeModel.load(str(path)))
    return Model(_native.NativeModel.import_file(str(path)))


_MAGIC = _native.MAGIC


def _exists(path):
    if not os.path.exists(path):
        raise FileNotFoundError(errno.ENOENT, "model file not found", str(path))


def import_onnx(path):
    """An ONNX model (the ai.onnx.ml operators skl2onnx writes), as `cpuwall import` reads it."""
    _exists(path)
    return Model(_native.NativeModel.import_file(str(path)))


from .bench import bench  # noqa: E402  (needs Model above)
from .study import study  # noqa: E402
